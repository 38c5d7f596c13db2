"""Pure rules of the tickets service: no I/O, no database, property-tested."""
