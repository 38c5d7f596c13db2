"""Synthetic population for demos, tests and benchmarks (``gramsetu demo-data``)."""
