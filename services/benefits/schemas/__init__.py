"""Request and response bodies of the benefits API."""
