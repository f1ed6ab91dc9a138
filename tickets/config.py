"""Settings for the ticket store, read from the environment with safe local defaults."""

from __future__ import annotations

import os
from datetime import timedelta, timezone
from pathlib import Path

from playbook.sourcefile import PROJECT_ROOT

#: Where tickets live. SQLite file in ``var/`` by default; set ``DATABASE_URL`` to
#: e.g. ``postgresql://user@127.0.0.1:5432/dy`` for PostgreSQL.
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'tickets.db'}"

#: Priority policy (levels, response times, rules, labels).
DEFAULT_POLICY_PATH = PROJECT_ROOT / "data" / "policy" / "priority.yml"

#: Times shown to users are in China Standard Time (no daylight saving).
DISPLAY_TZ = timezone(timedelta(hours=8), name="CST")


def database_url() -> str:
    """The SQLAlchemy URL of the ticket database."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def policy_path() -> Path:
    """The priority policy YAML file."""
    return Path(os.environ.get("DY_PRIORITY_POLICY") or DEFAULT_POLICY_PATH)


#: Assignment rules (who takes which unassigned ticket).
DEFAULT_ASSIGNMENT_PATH = PROJECT_ROOT / "data" / "policy" / "assignment.yml"


def assignment_path() -> Path:
    """The assignment rules YAML file."""
    return Path(os.environ.get("DY_ASSIGNMENT_POLICY") or DEFAULT_ASSIGNMENT_PATH)


#: The spot checks (定期检查): sampling period, rates and the reviewers' scorecard.
DEFAULT_QUALITY_PATH = PROJECT_ROOT / "data" / "policy" / "quality.yml"


def quality_path() -> Path:
    """The spot-check policy YAML file."""
    return Path(os.environ.get("DY_QUALITY_POLICY") or DEFAULT_QUALITY_PATH)


#: The mail intake's limits and the templates of the mails the desk sends.
DEFAULT_MAIL_POLICY_PATH = PROJECT_ROOT / "data" / "policy" / "mail.yml"


def mail_policy_path() -> Path:
    """The mail policy YAML file."""
    return Path(os.environ.get("DY_MAIL_POLICY") or DEFAULT_MAIL_POLICY_PATH)


def mail_store_dir() -> Path:
    """Where the raw copies of incoming mail and the tickets' attachments are kept
    (``MAIL_STORE_DIR``, default ``var/mail``)."""
    return Path(os.environ.get("MAIL_STORE_DIR") or PROJECT_ROOT / "var" / "mail")
