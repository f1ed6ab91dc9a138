"""Start and stop the real action server, Rasa server and web app on free ports (the
integration and browser tests, the benchmark)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from playbook.sourcefile import PROJECT_ROOT as ROOT

MODEL = ROOT / "models" / "dy.tar.gz"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {limit}s:\n{log.read_text()[-3000:]}")


class RedisServer:
    """A private Redis on a spare loopback port (no persistence), for tests that stop it or
    need it to themselves; ``stop()`` and ``start()`` again keep the same port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / f"redis-{self.port}.log"
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} not up: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class PostgresServer:
    """A private PostgreSQL cluster on a spare loopback port (trust authentication, no fsync),
    for tests that stop or restart the database; ``stop()`` and ``start()`` keep its data."""

    def __init__(self, port: int | None = None) -> None:
        # a folder of its own in /tmp: as root, the server runs as postgres, which cannot
        # enter pytest's private (0700) temporary folders
        self.workdir = Path(tempfile.mkdtemp(prefix="dy-postgres-"))
        self.data = self.workdir / "pgdata"
        self.port = port or free_port()
        self.log = self.workdir / f"postgres-{self.port}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        # PostgreSQL refuses to run as root: as root, its own user runs it
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} "
            "-c fsync=off -c full_page_writes=off"  # a crash of the server, not of the machine
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: as abruptly as a crash, no shutdown checkpoint)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast", down_seconds: float = 0.0) -> None:
        """Stop the server (``fast``: clients are disconnected, their transactions rolled
        back), stay down ``down_seconds``, start it again on the same port and data."""
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()

    def remove(self) -> None:
        """Stop the server and delete its cluster."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def create_database(self, name: str) -> str:
        self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-qc",
            f'CREATE DATABASE "{name}"',
        )
        return self.url(name)


class Servers:
    """The running assistant: say() talks over the REST channel, restart() restarts both."""

    def __init__(
        self,
        workdir: Path,
        model: Path = MODEL,
        tracker_store: str = "sql",
        stores: str | None = None,
        web: bool = False,
        env: Mapping[str, str] | None = None,
        project: Path = ROOT,
    ) -> None:
        """Prepare (not start) the servers; logs, databases and endpoints go to ``workdir``.

        ``stores`` (YAML) replaces the tracker store of ``endpoints.yml`` with its own
        ``tracker_store`` and ``lock_store`` sections (the scale-out's, on private servers).
        ``env`` adds or overrides environment variables of every server process (for example
        ``DY_PLAYBOOK_DIR``). ``project`` is the folder Rasa runs in and takes
        ``credentials.yml`` from (a copy of the project whose model was trained there, so the
        spaCy pipeline named in its config is the copy's); the code always comes from ROOT.
        """
        self.workdir = workdir
        self.project = project
        self.web = web
        self.web_port = free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.model = model
        self.action_port = free_port()
        self.rasa_port = free_port()
        self.database_url = f"sqlite:///{workdir / 'tickets.db'}"
        self.url = f"http://127.0.0.1:{self.rasa_port}"
        self.endpoints = workdir / "endpoints.yml"
        # the action server refuses calls without it; Rasa sends it (channels/action_calls.py)
        self.action_secret = secrets.token_hex(16)
        # the web server issues widget sessions with it, Rasa's socket.io channel verifies them
        self.session_secret = secrets.token_hex(32)
        endpoints = f'action_endpoint:\n  url: "http://127.0.0.1:{self.action_port}/webhook"\n'
        if stores is not None:
            endpoints += stores
        elif tracker_store == "sql":
            endpoints += (
                f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n'
                f'  db: "{workdir / "trackers.db"}"\n'
            )
        self.endpoints.write_text(endpoints, encoding="utf-8")
        self.env = dict(
            os.environ,
            DATABASE_URL=self.database_url,
            SANIC_HOST="127.0.0.1",
            RASA_TELEMETRY_ENABLED="false",
            TF_CPP_MIN_LOG_LEVEL="2",
            RASA_CACHE_DIRECTORY=str(ROOT / ".rasa" / "cache"),
            PYTHONPATH=str(ROOT),
            RASA_PORT=str(self.rasa_port),
            DY_ENDPOINTS=str(self.endpoints),  # the web server reads its tracker store
            DY_ACTION_SECRET=self.action_secret,
            DY_SESSION_SECRET=self.session_secret,
            DY_OUTBOX_DIR=str(workdir / "outbox"),  # never the project's own var/outbox
            MAIL_STORE_DIR=str(workdir / "mail"),  # nor its var/mail
            DY_PUBLIC_URL=self.web_url,  # the follow-up mails' links
        )
        self.env.update(env or {})
        self.processes: list[subprocess.Popen[bytes]] = []
        self.action_log = workdir / "action-server.log"
        self.rasa_log = workdir / "rasa.log"
        self.web_log = workdir / "web.log"

    def _start_rasa(self) -> subprocess.Popen[bytes]:
        """Start the Rasa server (REST, HTTP API) in ``project`` with this instance's model."""
        return subprocess.Popen(
            [
                str(VENV_BIN / "rasa"),
                "run",
                "--model",
                str(self.model),
                "--enable-api",
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.rasa_port),
                "--endpoints",
                str(self.endpoints),
                "--credentials",
                str(self.project / "credentials.yml"),
            ],
            cwd=self.project,
            env=self.env,
            stdout=self.rasa_log.open("a"),
            stderr=subprocess.STDOUT,
        )

    def start(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "tickets.migrate"],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        action = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "actions.server",
                "--port",
                str(self.action_port),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.action_log.open("a"),
            stderr=subprocess.STDOUT,
        )
        rasa = self._start_rasa()
        self.processes = [action, rasa]
        if self.web:
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "web",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(self.web_port),
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=self.web_log.open("a"),
                    stderr=subprocess.STDOUT,
                )
            )
        wait_until_up(f"http://127.0.0.1:{self.action_port}/health", action, self.action_log, 60)
        wait_until_up(f"{self.url}/status", rasa, self.rasa_log, 240)
        if self.web:
            wait_until_up(
                f"http://127.0.0.1:{self.web_port}/config.js", self.processes[2], self.web_log, 60
            )

    def start_mail(self, relay_port: int) -> tuple[subprocess.Popen[bytes], int]:
        """Start the mail channel (channels/mail_server.py) with its SMTP intake on a free
        port, sending through the relay on ``relay_port``; it stops with the others."""
        port = free_port()
        log = self.workdir / "mail-server.log"
        env = dict(
            self.env,
            RASA_URL=self.url,
            MAIL_SMTP_PORT=str(port),
            MAIL_RELAY_HOST="127.0.0.1",
            MAIL_RELAY_PORT=str(relay_port),
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "channels.mail_server"],
            cwd=ROOT,
            env=env,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return process, port
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the mail server did not start:\n" + log.read_text()[-3000:]
                    ) from None
                time.sleep(0.3)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes = []

    def restart(self) -> None:
        self.stop()
        self.start()

    def alive(self) -> bool:
        return (
            all(p.poll() is None for p in self.processes)
            and requests.get(f"{self.url}/status", timeout=5).ok
        )

    def post(self, body: Any) -> requests.Response:
        return requests.post(f"{self.url}/webhooks/rest/webhook", json=body, timeout=60)

    def say(self, sender: str, message: str) -> list[dict[str, Any]]:
        response = self.post({"sender": sender, "message": message})
        assert response.status_code == 200, response.text
        said: list[dict[str, Any]] = response.json()
        return said

    def parse(self, text: str) -> dict[str, Any]:
        """What the model makes of ``text`` (``/model/parse``: intent, entities)."""
        response = requests.post(f"{self.url}/model/parse", json={"text": text}, timeout=30)
        assert response.status_code == 200, response.text
        parsed: dict[str, Any] = response.json()
        return parsed

    def tracker(self, sender: str) -> dict[str, Any]:
        url = f"{self.url}/conversations/{sender}/tracker"
        tracker: dict[str, Any] = requests.get(url, timeout=30).json()
        return tracker

    def slot(self, sender: str, name: str) -> object | None:
        value: object | None = self.tracker(sender)["slots"].get(name)
        return value

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def restart_rasa(self) -> None:
        """Stop and start only the Rasa server (the widget sees a dropped connection)."""
        rasa = self.processes[1]
        rasa.terminate()
        rasa.wait(timeout=30)
        self.processes[1] = self._start_rasa()
        wait_until_up(f"{self.url}/status", self.processes[1], self.rasa_log, 240)
