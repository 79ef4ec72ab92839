"""What a store's schema holds against the migrations this code ships."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MigrationState(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"  # shipped here, not yet in the database
    # In the database, not shipped here: applied by a newer version. This one keeps serving (an
    # older version during a rolling upgrade or a roll-back tolerates the newer schema), but says so.
    UNKNOWN = "unknown"
    CHANGED = "changed"  # applied, and its file here is no longer the one that was applied


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Every migration, shipped or found in the database, by version in order; empty for a store
    without a schema."""

    migrations: tuple[tuple[str, MigrationState], ...] = ()

    def having(self, state: MigrationState) -> tuple[str, ...]:
        return tuple(version for version, s in self.migrations if s is state)

    @property
    def version(self) -> str:
        """The highest migration in the database, whether this code knows it or not; "" for
        none."""
        present = [v for v, s in self.migrations if s is not MigrationState.PENDING]
        return max(present, default="")
