"""Storage: the interface services use, and its SQLite (and later PostgreSQL) implementations."""
