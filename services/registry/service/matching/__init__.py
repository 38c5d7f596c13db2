"""Orchestration of the probabilistic matcher (rules/matching): a CSV file in and pairs out
(``files``), the registry's own records checked when they are written (``incremental``).
"""
