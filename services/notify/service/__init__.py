"""Notify business rules and orchestration; never commits (the request or the worker owns the transaction)."""
