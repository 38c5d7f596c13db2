"""All SQL of the tickets service (SQLAlchemy Core on the tables in ``models``)."""
