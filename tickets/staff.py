"""Staff accounts: slow password hashes, roles, and logins that slow down after failures.

Create the first account with ``python -m tickets.staff create <username> --role supervisor``
(``make staff-user``; roles: agent, supervisor, editor); the password is asked for (or read
from stdin with --password-stdin).
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from tickets.db import session_scope
from tickets.models import STAFF_ROLES, TICKET_ROLES, StaffToken, StaffUser, utcnow

#: scrypt cost: ~150 ms and 32 MiB per hash on these 2-core machines: guessing is slow.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,64}$")
MIN_PASSWORD = 10
#: After this many failed logins in a row, each further attempt waits longer (up to 15 min).
FREE_FAILURES = 3
MAX_LOCK = timedelta(minutes=15)


#: How each role is named in the console and in messages.
ROLE_LABELS = {"agent": "客服", "supervisor": "主管", "editor": "内容编辑"}


class StaffError(ValueError):
    """A staff account operation was refused; the message is for the person at the console."""


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    display_name: str
    role: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def works_tickets(self) -> bool:
        """Agents and supervisors see tickets, transcripts and contact details; editors do not."""
        return self.role in TICKET_ROLES

    @property
    def sees_flows(self) -> bool:
        """Supervisors and editors see the playbooks' flow diagrams and their statistics."""
        return self.role in ("supervisor", "editor")

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


def _view(user: StaffUser) -> Staff:
    return Staff(id=user.id, username=user.username, display_name=user.display_name, role=user.role)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )

    def encode(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt)}${encode(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def create_staff(
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    *,
    database_url: str | None = None,
) -> Staff:
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise StaffError("用户名只能包含小写字母、数字和 _ . -，长度 3-64")
    if role not in STAFF_ROLES:
        raise StaffError(f"角色必须是 {'、'.join(STAFF_ROLES)} 之一")
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"密码至少需要 {MIN_PASSWORD} 个字符")
    with session_scope(database_url) as session:
        if session.execute(select(StaffUser).where(StaffUser.username == username)).scalar():
            raise StaffError(f"用户名 {username} 已存在")
        user = StaffUser(
            username=username,
            display_name=(display_name or username).strip()[:64],
            role=role,
            password_hash=hash_password(password),
            active=True,
            failed_logins=0,
        )
        session.add(user)
        session.flush()
        return _view(user)


def lock_delay(failures: int) -> timedelta:
    """How long the next attempt must wait after ``failures`` failed logins in a row."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    exponent = min(failures - FREE_FAILURES + 1, 20)
    return min(timedelta(seconds=2**exponent), MAX_LOCK)


def authenticate(
    username: str,
    password: str,
    *,
    now: datetime | None = None,
    database_url: str | None = None,
) -> Staff:
    """The staff member, or StaffError with the same message for every kind of failure
    (no hint whether the name exists). Failed attempts make the next ones wait."""
    now = now or utcnow()
    refused = StaffError("用户名或密码不正确")
    outcome: Staff | StaffError = refused
    with session_scope(database_url) as session:  # commits the failure count before we raise
        user = session.execute(
            select(StaffUser).where(StaffUser.username == str(username).strip().lower())
        ).scalar()
        if user is None or not user.active:
            hash_password(password)  # spend the same time as a real check
        else:
            locked = user.locked_until
            if locked is not None and locked > now:
                seconds = int((locked - now).total_seconds()) + 1
                outcome = StaffError(f"登录失败次数过多，请 {seconds} 秒后再试")
            elif not verify_password(password, user.password_hash):
                user.failed_logins += 1
                delay = lock_delay(user.failed_logins)
                user.locked_until = now + delay if delay else None
            else:
                user.failed_logins = 0
                user.locked_until = None
                outcome = _view(user)
    if isinstance(outcome, StaffError):
        raise outcome
    return outcome


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(username: str, label: str = "", *, database_url: str | None = None) -> str:
    """A new API token for the staff member (shown once; only its hash is kept)."""
    token = "dy_" + secrets.token_urlsafe(32)
    with session_scope(database_url) as session:
        user = session.execute(
            select(StaffUser).where(
                StaffUser.username == username.strip().lower(), StaffUser.active.is_(True)
            )
        ).scalar()
        if user is None:
            raise StaffError(f"找不到账号 {username}")
        session.add(
            StaffToken(
                staff_id=user.id,
                token_hash=_token_hash(token),
                label=label[:64],
                created_at=utcnow(),
            )
        )
    return token


def staff_for_token(token: str, *, database_url: str | None = None) -> Staff | None:
    if not token or len(token) > 200:
        return None
    with session_scope(database_url) as session:
        user = session.execute(
            select(StaffUser)
            .join(StaffToken, StaffToken.staff_id == StaffUser.id)
            .where(StaffToken.token_hash == _token_hash(token), StaffUser.active.is_(True))
        ).scalar()
        return _view(user) if user is not None else None


def get_staff(staff_id: int, *, database_url: str | None = None) -> Staff | None:
    with session_scope(database_url) as session:
        user = session.get(StaffUser, staff_id)
        return _view(user) if user is not None and user.active else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Manage support staff accounts.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a staff account")
    create.add_argument("username")
    create.add_argument("--role", choices=STAFF_ROLES, default="agent")
    create.add_argument("--name", help="the name shown in the console (default: username)")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of asking",
    )
    token = commands.add_parser("token", help="create an API token for a staff account")
    token.add_argument("username")
    token.add_argument("--label", default="")
    args = parser.parse_args(argv)
    if args.command == "token":
        try:
            print(create_token(args.username, args.label))
        except StaffError as exc:
            print(f"未创建：{exc}", file=sys.stderr)
            return 1
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码 (password): ")
        if getpass.getpass("再输入一次 (again): ") != password:
            print("两次输入的密码不一致 (passwords differ)", file=sys.stderr)
            return 1
    try:
        staff = create_staff(args.username, password, args.role, args.name)
    except StaffError as exc:
        print(f"未创建：{exc}", file=sys.stderr)
        return 1
    print(f"已创建{staff.role_label}账号 {staff.username} (id {staff.id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
