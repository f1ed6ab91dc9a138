"""A private Dovecot IMAP server for the tests: Debian's ``dovecot-imapd`` run in a temporary
folder on a spare loopback port, with one mailbox user and a plain password, never the
machine's own Dovecot (scripts/test.sh installs the package and keeps its service stopped).
Mail is put into the mailbox the way a mail client does it, with IMAP APPEND and a chosen
INTERNALDATE (the moment the mailbox says the mail arrived)."""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from channels.mail_settings import Imap
from scripts.servers import free_port

#: The unprivileged user a root test run starts Dovecot as (the package makes it): Dovecot
#: refuses to run its login processes as root, and a private instance needs no root at all.
ROOT_RUNS_AS = "dovecot"
DOVECOT = "/usr/sbin/dovecot"


def dovecot_version() -> str:
    """The installed Dovecot's version (``2.3.19.1``); a clear error when there is none."""
    binary = shutil.which("dovecot") or DOVECOT
    if not os.path.exists(binary):
        raise RuntimeError(
            "Dovecot is not installed: apt-get install -y dovecot-imapd (scripts/test.sh does)"
        )
    output = subprocess.run(
        [binary, "--version"], check=True, capture_output=True, text=True
    ).stdout
    return output.split()[0]


def _config(workdir: Path, port: int, user: str, group: str) -> str:
    """A dovecot.conf (2.3 syntax) for one IMAP listener on 127.0.0.1 and nothing else."""
    return f"""\
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = {workdir}/run
state_dir = {workdir}/state
log_path = {workdir}/dovecot.log
info_log_path = {workdir}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
# the test's own user owns everything: no privilege to drop, none to check
first_valid_uid = 1
mail_location = maildir:{workdir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {workdir}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {workdir}/users
}}
service imap-login {{
  # chroot needs root; the login process runs as the test's user
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# the other services' fixed ports stay closed (and their protocols are off anyway)
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service ipc {{
  chroot =
}}
service old-stats {{
  chroot =
}}
service imap-urlauth-login {{
  chroot =
}}
"""


class DovecotServer:
    """A private Dovecot on a spare loopback port with one user (``user`` / ``password``)
    whose mailbox is a maildir in its own temporary folder; ``stop()`` and ``start()`` again
    keep the port and the mail, ``remove()`` deletes everything."""

    def __init__(
        self, user: str = "support", password: str = "imap-secret-1", port: int | None = None
    ) -> None:
        # a folder of its own in /tmp: as root, the server runs as ROOT_RUNS_AS, which cannot
        # enter pytest's private (0700) temporary folders
        self.workdir = Path(tempfile.mkdtemp(prefix="dy-dovecot-"))
        self.user = user
        self.password = password
        self.port = port or free_port()
        self.config = self.workdir / "dovecot.conf"
        self.log = self.workdir / "dovecot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def settings(self, password: str | None = None, folder: str = "INBOX") -> Imap:
        """The poller's settings for this mailbox (plain IMAP, as ``MAIL_IMAP_SSL=0``)."""
        return Imap(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password if password is None else password,
            ssl=False,
            folder=folder,
            seconds=1.0,
        )

    def start(self) -> DovecotServer:
        version = dovecot_version()
        if not version.startswith("2.3."):
            # 2.4 renamed and restructured most settings (dovecot_config_version, mail_driver,
            # passdb blocks): this harness writes the 2.3 configuration Debian 12 ships
            raise RuntimeError(f"tests/integration/dovecot.py expects Dovecot 2.3, not {version}")
        as_root = os.geteuid() == 0
        account = pwd.getpwnam(ROOT_RUNS_AS) if as_root else pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(account.pw_gid).gr_name
        (self.workdir / "mail").mkdir(exist_ok=True)
        (self.workdir / "home").mkdir(exist_ok=True)
        self.config.write_text(
            _config(self.workdir, self.port, account.pw_name, group), encoding="utf-8"
        )
        # passwd-file: user:{PLAIN}password:uid:gid::home (uid/gid: the server's own user)
        users = self.workdir / "users"
        users.write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{account.pw_uid}:{account.pw_gid}::"
            f"{self.workdir / 'home' / self.user}\n",
            encoding="utf-8",
        )
        users.chmod(0o600)
        if as_root:
            for path in [self.workdir, *self.workdir.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        # as root: started as that user straight away (no runuser in between, so this
        # process is Dovecot's master itself and stop() reaps it)
        with (self.workdir / "dovecot.out").open("ab") as output:
            self.process = subprocess.Popen(
                [shutil.which("dovecot") or DOVECOT, "-F", "-c", str(self.config)],
                stdout=output,
                stderr=subprocess.STDOUT,
                user=account.pw_uid if as_root else None,
                group=account.pw_gid if as_root else None,
                extra_groups=[] if as_root else None,
            )
        self._wait_until_up(limit=20)
        return self

    def _wait_until_up(self, limit: float) -> None:
        """Until the IMAP port greets (``* OK``): the master and its login process are up."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited with {self.process.returncode}:\n{self._output()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"dovecot on {self.port} not up after {limit}s:\n{self._output()}")

    def _output(self) -> str:
        found = [p for p in (self.log, self.workdir / "dovecot.out") if p.exists()]
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in found)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # dovecot's master stops its children on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- the mailbox, as a mail client sees it ----------------------------------------------

    def client(self) -> imaplib.IMAP4:
        connection = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        connection.login(self.user, self.password)
        return connection

    # ``folder`` below is the name as IMAP sends it (quoted, modified UTF-7 where needed):
    # imaplib passes it through as it is

    def create(self, folder: str) -> None:
        connection = self.client()
        try:
            status, answer = connection.create(folder)
            if status != "OK":
                raise RuntimeError(f"CREATE refused: {answer!r}")
        finally:
            connection.logout()

    def deliver(self, raw: bytes, arrived_at: datetime, folder: str = "INBOX") -> None:
        """Put a mail into ``folder`` (unread) with ``arrived_at`` as its INTERNALDATE."""
        connection = self.client()
        try:
            status, answer = connection.append(
                folder, None, imaplib.Time2Internaldate(arrived_at), raw
            )
            if status != "OK":
                raise RuntimeError(f"APPEND refused: {answer!r}")
        finally:
            connection.logout()

    def flags(self, folder: str = "INBOX") -> list[set[str]]:
        """The flags of every mail in ``folder``, in order (``{"\\\\Seen"}`` once read)."""
        connection = self.client()
        try:
            status, count = connection.select(folder, readonly=True)
            if status != "OK" or not int(count[0] or 0):
                return []  # (an empty folder has no 1:*)
            status, found = connection.fetch("1:*", "(FLAGS)")
            flags = []
            for line in found:
                text = line.decode() if isinstance(line, bytes) else ""
                listed = re.search(r"FLAGS \(([^)]*)\)", text)
                flags.append(set(listed.group(1).split()) if listed else set())
            return flags
        finally:
            connection.logout()
