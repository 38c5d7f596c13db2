"""Pure rules of the notify service: no I/O, no database; property-tested."""
