"""GramSetu benchmarks: ``make bench`` (``python -m bench [names...]``).

Each benchmark is a module ``bench/<name>_bench.py`` exposing ``async def run() -> list[dict]``
that returns result rows (see :mod:`bench.common`).  The runner prints them as a table and
writes them to ``.bench/results.json``.
"""
