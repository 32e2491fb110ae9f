"""PostgreSQL connection counts, to show how close a burst comes to `max_connections`."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from shared.db import sync_url


@dataclass(frozen=True)
class Connections:
    """Connections to one database and to the whole server, against the server's limit."""

    database: int
    server: int
    limit: int


class ConnectionProbe:
    """Counts connections over one dedicated connection (itself excluded from the counts)."""

    def __init__(self, database_url: str) -> None:
        self._engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
        self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.limit = int(self._conn.execute(sa.text("SHOW max_connections")).scalar_one())

    def count(self) -> Connections:
        row = self._conn.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE datname = current_database()), count(*) "
                "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            )
        ).one()
        return Connections(int(row[0]), int(row[1]), self.limit)

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()
