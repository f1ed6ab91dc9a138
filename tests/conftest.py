"""Shared fixtures: a real Domain and dispatcher, and ticket databases migrated once per
session and copied for each test (SQLite always, PostgreSQL when it runs here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from tests.factories import POSTGRES, ROOT, fresh_sqlite


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A ticket database with every migration applied, made once per session."""
    from tickets import db
    from tickets.migrate import upgrade

    path = tmp_path_factory.mktemp("migrated") / "tickets.db"
    upgrade(f"sqlite:///{path}")
    db.dispose_all()
    return path


@pytest.fixture()
def database_url(tmp_path, monkeypatch, migrated_sqlite) -> Iterator[str]:
    """A fresh SQLite ticket database for one test (DATABASE_URL points at it)."""
    from tickets import db

    url = fresh_sqlite(migrated_sqlite, tmp_path / "tickets.db")
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    db.dispose_all()


def postgres_admin() -> Any:
    """An autocommit connection to the shared PostgreSQL; skips (with the reason) when it is
    not reachable."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    except psycopg2.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {exc}")
    admin.autocommit = True
    return admin


@pytest.fixture()
def empty_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (no tables), dropped afterwards."""
    admin = postgres_admin()
    name = f"dy_test_empty_{uuid.uuid4().hex[:10]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database with every migration applied, made once per session: each test's
    database is created from it. Skips (with the reason) when PostgreSQL is not reachable."""
    from tickets import db
    from tickets.migrate import upgrade

    admin = postgres_admin()
    name = f"dy_test_template_{uuid.uuid4().hex[:10]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    upgrade(f"postgresql://postgres@127.0.0.1:5432/{name}")
    db.dispose_all()  # a template must have no open connections
    yield name
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_database(request, tmp_path, migrated_sqlite) -> Iterator[str]:
    """A fresh ticket database for one test, once on SQLite and once on PostgreSQL."""
    from tickets import db

    if request.param == "sqlite":
        yield fresh_sqlite(migrated_sqlite, tmp_path / "tickets.db")
        db.dispose_all()
        return
    import psycopg2

    template = request.getfixturevalue("postgres_template")
    name = f"dy_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    db.dispose_all()
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """domain.yml as the action server receives it."""
    with (ROOT / "domain.yml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture()
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()
