"""Benchmarks and the paper-reproduction harness (source checkout only; not installed with the package).

Run them from the repository root, e.g. ``python -m benchmarks.iser_speed --help``.
"""
