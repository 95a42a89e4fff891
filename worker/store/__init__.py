"""Persistence: SQLAlchemy models, sessions, and the ledger's claim/lease protocol."""
