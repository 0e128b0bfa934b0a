"""The Jinja2 environment every page module renders with (one, so that filters and globals
registered here reach all pages)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from headroom.triggers.evidence import describe

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.filters["describe"] = describe
