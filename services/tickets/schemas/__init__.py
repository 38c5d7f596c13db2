"""Request and response bodies of the tickets API."""
