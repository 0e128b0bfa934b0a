"""Speed and memory benchmarks: ``make bench`` or ``python -m benchmarks [NAME ...]``.

Each benchmark reports ratios measured within one run (against a baseline it also measures), so
its figures compare across machines; absolute seconds are printed for the record.
"""
