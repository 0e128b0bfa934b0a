"""Metrics beside the steps from data to plays: revenue (MRR, movements, NRR), retention
and LTV calculators."""
