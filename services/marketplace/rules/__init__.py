"""Pure marketplace rules: no I/O, no database; property-tested."""
