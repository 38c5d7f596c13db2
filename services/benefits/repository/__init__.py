"""All SQL of the benefits service (SQLAlchemy Core on the tables in ``models``)."""
