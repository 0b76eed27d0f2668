"""The metadata store: four roles (stores, catalog, images, jobs) over one SQL
database, SQLite or PostgreSQL, through SQLAlchemy Core; Alembic migrations."""
