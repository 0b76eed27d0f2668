"""Metadata stores: SQLite and PostgreSQL through one SQLAlchemy Core class."""
