"""Sources: reading tables (files, databases), mapping their names onto ours, validating them.

A valid source is loaded into typed ibis tables; one with errors loads nothing.
"""

from headroom.sources.load import load, validate
from headroom.sources.report import Report
from headroom.sources.source import Source, empty_source

__all__ = ["Report", "Source", "empty_source", "load", "validate"]
