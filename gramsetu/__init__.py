"""Operator tooling: the ``gramsetu`` CLI, the embedded PostgreSQL/NATS and the process supervisor."""
