"""Registry business rules, one module per domain.  No commits here: the request (or job) commits."""

from services.registry.service.areas import create_area, get_area, list_children, update_area

__all__ = ["create_area", "get_area", "list_children", "update_area"]
