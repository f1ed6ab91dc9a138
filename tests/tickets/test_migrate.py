"""``python -m tickets.migrate`` on a database a newer version of the code migrated: a clear
message and exit 1, nothing changed (not a traceback from Alembic's "Can't locate revision")."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import create_engine, inspect, text

from tests.factories import ROOT


def test_a_database_migrated_by_newer_code_is_refused_clearly(any_database):
    engine = create_engine(any_database, future=True)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    tables = set(inspect(engine).get_table_names())
    done = subprocess.run(
        [sys.executable, "-m", "tickets.migrate"],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=any_database, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "schema revision 0099, which this code does not have" in done.stderr
    assert "Traceback" not in done.stderr
    with engine.connect() as connection:  # untouched
        assert set(inspect(connection).get_table_names()) == tables
        stored = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert stored == "0099"
    engine.dispose()
