"""Marketplace business rules and orchestration; never commits (the request or the job owns the transaction)."""
