"""Storage: published flow versions, entries, call records (SQLite or PostgreSQL)."""
