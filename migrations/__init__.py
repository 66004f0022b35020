"""Alembic migrations; run them with `fieldwork db upgrade`."""
