"""Sources: reading tables (files, databases), mapping their names, validating them into ibis tables."""

from headroom.sources.report import Report
from headroom.sources.source import Source, load, validate

__all__ = ["Report", "Source", "load", "validate"]
