"""All marketplace SQL (SQLAlchemy Core on the tables in ``models``)."""
