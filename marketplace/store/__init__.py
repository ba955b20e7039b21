"""Persistence: SQLAlchemy models, engine and sessions, and query functions that never commit."""
