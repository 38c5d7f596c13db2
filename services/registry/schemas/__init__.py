"""Request and response bodies of the registry API, one module per domain."""

from services.registry.schemas.areas import AreaCreate, AreaPage, AreaRead, AreaUpdate

__all__ = ["AreaCreate", "AreaPage", "AreaRead", "AreaUpdate"]
