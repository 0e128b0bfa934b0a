"""Metrics beside the pipeline: revenue (MRR, movements, NRR), retention and LTV calculators."""
