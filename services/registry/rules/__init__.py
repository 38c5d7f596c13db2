"""Pure registry rules (no I/O): identifier validation, names, phones, ages, survey states."""
