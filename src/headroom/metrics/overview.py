"""The revenue at a glance, for the web app's Revenue page: the MRR bridge of the last months and
trailing-twelve-month NRR and GRR for each of them (see :mod:`headroom.metrics.revenue` and
:mod:`headroom.metrics.nrr` for the definitions)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from headroom.metrics.nrr import retention_series
from headroom.metrics.revenue import add_months, month_start, mrr_bridge, mrr_movements
from headroom.sources import Source


@dataclass(frozen=True)
class Overview:
    as_of: dt.date
    bridge: list[dict[str, Any]]  # per month: starting_mrr, new, expansion, ..., ending_mrr
    retention: list[dict[str, Any]]  # per month: nrr and grr over the twelve months before


def overview(source: Source, as_of: dt.date, months: int = 12) -> Overview:
    """The last ``months`` months up to the one ``as_of`` falls in."""
    subscriptions = source.table("subscriptions")
    last = month_start(as_of)
    first = add_months(last, -(months - 1))
    bridge = mrr_bridge(mrr_movements(subscriptions, as_of))
    rows = bridge.filter(bridge.month >= first).order_by("month").to_pyarrow().to_pylist()
    series = retention_series(subscriptions, first, last, window_months=12)
    return Overview(as_of, rows, series.to_pyarrow().to_pylist())
