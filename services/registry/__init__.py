"""Registry: citizens, households, IDs, areas, surveys."""

SERVICE = "registry"
