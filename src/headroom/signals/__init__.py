"""Signals: the catalogue of per-account facts that trigger conditions are written in."""
