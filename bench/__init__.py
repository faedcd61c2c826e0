"""Benchmarks: each prints its figures next to baselines measured in the same run.

Run from the repository root: `python -m bench` (all) or `python -m bench.ingest`.
"""
