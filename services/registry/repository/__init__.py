"""All registry SQL, one module per domain.  Reads take the caller's area scope and filter with
:func:`kernel.areas.within_any`, so a record outside it is simply not found."""

from services.registry.repository.areas import AreaRepository

__all__ = ["AreaRepository"]
