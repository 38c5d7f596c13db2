"""The GramSetu kernel: what every service shares (settings, db, events, auth context, errors, metrics)."""
