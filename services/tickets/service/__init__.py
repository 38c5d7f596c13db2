"""Business rules and orchestration of the tickets service; never commits (the request or job does)."""
