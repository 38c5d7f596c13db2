"""All SQL of the notify service (SQLAlchemy Core on the tables in ``models``)."""
