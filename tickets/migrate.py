"""Bring the ticket database to the latest schema with Alembic (the only way schemas change).

``python -m tickets.migrate`` (run by ``make run`` before the servers start, and by the tests
for each fresh database) upgrades ``DATABASE_URL`` to head. New schema changes are new files in
``tickets/migrations/versions/`` (``alembic revision -m "..."`` with the root alembic.ini).
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from tickets import config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or config.database_url()).replace("%", "%%"))
    return cfg


#: The PostgreSQL advisory lock held while migrating (any number; the same in every process).
MIGRATION_LOCK = 0x4459_7469  # "Dyti"


def upgrade(url: str | None = None) -> None:
    """Upgrade the database at ``url`` (default ``DATABASE_URL``) to the newest revision.

    On PostgreSQL the upgrade holds an advisory lock, so servers starting at the same moment
    migrate one after the other (the second finds the schema current) instead of racing."""
    url = url or config.database_url()
    if url.startswith("sqlite:///"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                _upgrade(url, set(inspect(connection).get_table_names()))
            finally:
                if postgres:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK}
                    )
    finally:
        engine.dispose()


class UnknownRevision(RuntimeError):
    """The database is at a schema revision this code does not have (newer code migrated it)."""


def _check_known(cfg: Config, url: str, tables: set[str]) -> None:
    if "alembic_version" not in tables:
        return
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as connection:
            stored = [
                row[0]
                for row in connection.execute(text("SELECT version_num FROM alembic_version"))
            ]
    finally:
        engine.dispose()
    known = {revision.revision for revision in ScriptDirectory.from_config(cfg).walk_revisions()}
    unknown = [revision for revision in stored if revision not in known]
    if unknown:
        raise UnknownRevision(
            f"the ticket database is at schema revision {', '.join(unknown)}, which this code "
            f"does not have (its newest is {ScriptDirectory.from_config(cfg).get_current_head()}):"
            " a newer version of the code migrated it. Run that version, or point DATABASE_URL"
            " at a database of this version; nothing was changed."
        )


def _upgrade(url: str, tables: set[str]) -> None:
    cfg = alembic_config(url)
    _check_known(cfg, url, tables)
    if "tickets" in tables and "alembic_version" not in tables:
        # a database made by the first version (before migrations): adopt it as revision 0001
        command.stamp(cfg, "0001")
    command.upgrade(cfg, "head")


def main() -> int:
    try:
        upgrade()
    except UnknownRevision as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print("ticket database is at the newest schema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
