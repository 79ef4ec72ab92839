"""The Postgres store on asyncpg: raw SQL, versioned migrations, one place for error translation."""

from adapters.postgres.database import PostgresStore, redacted_dsn
from adapters.postgres.migrate import apply_migrations

__all__ = ["PostgresStore", "apply_migrations", "redacted_dsn"]
