"""The scale-out on this machine: ``make scale-up | scale-down | scale-status | scale-drain N``.

Runs deploy/topology.yml: nginx on the entry port as the only public way in, two Rasa servers,
two action servers and two web servers on loopback, PostgreSQL for conversations and tickets,
Redis for the conversation lock and socket.io, all under Debian's supervisor (which restarts a
crashed server) and a readiness watcher that takes a replica out of nginx while it is not
ready. Everything it writes is under ``var/scale/`` (configuration, secrets, logs).

``up`` is idempotent: it installs what is missing (nginx, supervisor), creates the databases,
migrates the ticket database (under an advisory lock), renders the configuration, starts
supervisord or applies a changed configuration, and waits until every server is ready.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

import jinja2
import jwt
import requests
import yaml

from playbook.domain import domain_texts
from playbook.sourcefile import PROJECT_ROOT as ROOT

TOPOLOGY = ROOT / "deploy" / "topology.yml"
#: Names another topology file (a test's private PostgreSQL and Redis); supervisord and the
#: programs it starts inherit it from the environment of ``up``.
TOPOLOGY_ENV = "DY_SCALE_TOPOLOGY"
TEMPLATES = ROOT / "deploy" / "local"
STATE = ROOT / "var" / "scale"
SECRETS = STATE / "secrets.env"
DRAINED = STATE / "drained.json"
#: Where the running supervisord's servers are (ports and stores), written when it starts.
STARTED_AT = STATE / "placement.json"
MODEL = ROOT / "models" / "dy.tar.gz"
PYTHON = Path(sys.executable)
PACKAGES = {"nginx": "nginx-light", "supervisord": "supervisor"}
#: The internal door to the Rasa servers' HTTP API (JWT), for the web servers; never public.
INTERNAL_API_PORT = 5100
READY_WAIT_SECONDS = 300
#: Each server's readiness check (200 when it can do its work, answered within a second).
READY_PATHS = {"rasa": "/webhooks/ready/", "actions": "/ready", "web": "/ready"}
CODE = sorted(
    path
    for package in ("actions", "channels", "playbook", "tickets", "understanding", "web")
    for path in (ROOT / package).rglob("*.py")
)


def log(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", flush=True)


def die(message: str) -> NoReturn:
    print(f"\033[1;31mError:\033[0m {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def topology_path() -> Path:
    """The topology file: ``DY_SCALE_TOPOLOGY`` when set, else deploy/topology.yml."""
    return Path(os.environ.get(TOPOLOGY_ENV) or TOPOLOGY)


@dataclass(frozen=True)
class Topology:
    """deploy/topology.yml, read once."""

    data: dict[str, Any]

    @classmethod
    def load(cls) -> Topology:
        return cls(yaml.safe_load(topology_path().read_text(encoding="utf-8")))

    @property
    def entry(self) -> str:
        return f"http://{self.data['entry']['host']}:{self.data['entry']['port']}"

    def ports(self, kind: str) -> list[int]:
        return [int(port) for port in self.data["replicas"][kind]]

    @property
    def replicas(self) -> int:
        return len(self.ports("rasa"))

    def all_ports(self) -> list[int]:
        """Every port the scale-out listens on (the entry, the internal API, the replicas)."""
        replicas = [p for kind in ("rasa", "actions", "web") for p in self.ports(kind)]
        return [int(self.data["entry"]["port"]), INTERNAL_API_PORT, *replicas]

    def postgres(self, database: str) -> str:
        return f"{self.data['postgres']['url']}/{self.data['postgres'][database]}"

    def placement(self) -> dict[str, Any]:
        """Where the servers listen and which stores they use: what a rolling update cannot
        change under a running supervisor (a pool size or an origin can change)."""
        return {
            "entry": self.entry,
            "replicas": {kind: self.ports(kind) for kind in ("rasa", "actions", "web")},
            "postgres": [self.postgres("trackers"), self.postgres("tickets")],
            "redis": [self.redis("lock_db"), self.redis("socketio_db")],
        }

    def redis(self, db_key: str) -> str:
        return f"{self.data['redis']['url']}/{self.data['redis'][db_key]}"

    def secret_names(self, kind: str | None = None) -> list[str]:
        """The shared secrets (of the servers of ``kind``: rasa, actions, web)."""
        return [
            name for name, kinds in self.data["secrets"].items() if kind is None or kind in kinds
        ]

    def secret_env(self, kind: str, keys: dict[str, str]) -> dict[str, str]:
        """The secrets the servers of ``kind`` get, from ``keys`` (ensure_secrets)."""
        return {name: keys[name] for name in self.secret_names(kind)}


# --- setup -----------------------------------------------------------------------------------


def ensure_packages() -> None:
    missing = [package for tool, package in PACKAGES.items() if not _which(tool)]
    if not missing:
        return
    if not shutil.which("apt-get"):
        die(f"install {', '.join(missing)} (Debian packages) for the scale-out")
    log(f"installing Debian's {', '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    # Debian starts the packaged services; the scale-out runs its own, so those are stopped
    for service in ("nginx", "supervisor"):
        subprocess.run([*sudo, "service", service, "stop"], capture_output=True, check=False)


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (str(p) for p in (Path("/usr/sbin") / tool, Path("/usr/bin") / tool) if p.exists()), None
    )


def ensure_secrets(topology: Topology | None = None) -> dict[str, str]:
    """The scale-out's shared secrets, made once and kept (0600) in var/scale/secrets.env."""
    STATE.mkdir(parents=True, exist_ok=True)
    known: dict[str, str] = {}
    if SECRETS.exists():
        for line in SECRETS.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                known[key.strip()] = value.strip()
    changed = False
    for name in (topology or Topology.load()).secret_names():
        if not known.get(name):
            known[name] = os.environ.get(name) or secrets.token_hex(32)
            changed = True
    if changed:
        SECRETS.touch(mode=0o600)
        SECRETS.write_text(
            "# the scale-out's shared secrets (made by make scale-up)\n"
            + "".join(f"{k}={v}\n" for k, v in known.items()),
            encoding="utf-8",
        )
    os.chmod(SECRETS, 0o600)
    return known


def ensure_databases(topology: Topology) -> None:
    import psycopg2

    base = urlsplit(topology.data["postgres"]["url"])
    try:
        admin = psycopg2.connect(
            host=base.hostname,
            port=base.port or 5432,
            user=base.username or "postgres",
            dbname="postgres",
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        die(f"PostgreSQL not reachable at {base.hostname}:{base.port}: {exc}")
    admin.autocommit = True
    with admin.cursor() as cursor:
        for key in ("trackers", "tickets"):
            name = topology.data["postgres"][key]
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                log(f"creating the PostgreSQL database {name}")
                cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def migrate(topology: Topology) -> None:
    log("bringing the ticket database to the newest schema (under an advisory lock)")
    done = subprocess.run(
        [str(PYTHON), "-m", "tickets.migrate"],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=topology.postgres("tickets")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:  # e.g. a database a newer version of the code migrated
        die(f"the ticket database was not migrated: {done.stderr.strip()[-2000:]}")


# --- configuration ---------------------------------------------------------------------------


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # configuration files, not HTML
    )


def _digest(*paths: Path) -> str:
    """A short fingerprint of files (content; for the model, its size and time)."""
    digest = hashlib.sha256()
    for path in paths:
        if path.suffix == ".gz":
            stat = path.stat()
            digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _supervisor_env(values: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in values.items())


def drained() -> set[int]:
    try:
        return {int(n) for n in json.loads(DRAINED.read_text(encoding="utf-8"))}
    except (OSError, ValueError):
        return set()


@dataclass(frozen=True)
class Layout:
    """Where the servers of the topology are: on this machine (``LOCAL``), or as the services
    of deploy/compose.yml (``COMPOSE``); the same templates make both."""

    name: str
    entry_listen: str  # nginx's public address
    internal_listen: str  # nginx's door to Rasa's HTTP API for the web servers
    nginx_dir: str  # nginx's pid and temporary files
    conf_dir: str  # where nginx finds upstreams.conf
    log_dir: str
    service_hosts: bool  # replicas addressed as service names (rasa-1) rather than 127.0.0.1

    def host(self, kind: str, n: int) -> str:
        return f"{kind}-{n}" if self.service_hosts else "127.0.0.1"


LOCAL = Layout(
    name="local",
    entry_listen="",
    internal_listen=f"127.0.0.1:{INTERNAL_API_PORT}",
    nginx_dir=str(STATE / "nginx"),
    conf_dir=str(STATE / "nginx"),
    log_dir=str(STATE / "logs"),
    service_hosts=False,
)
COMPOSE = Layout(
    name="compose",
    entry_listen="0.0.0.0",
    internal_listen=f"0.0.0.0:{INTERNAL_API_PORT}",
    nginx_dir="/tmp",
    conf_dir="/etc/nginx/dy",
    log_dir="/var/log/nginx",
    service_hosts=True,
)
COMPOSE_DIR = ROOT / "deploy" / "compose"


def upstreams_text(
    topology: Topology, layout: Layout = LOCAL, ready: dict[str, bool] | None = None
) -> str:
    """nginx's upstreams: a drained replica is marked ``down``; one not ready (``ready``) is
    a ``backup``: it takes no request while another is up, and every request when none is
    (say the only ready one was just killed), rather than nginx answering 502."""
    out = drained() if layout is LOCAL else set()
    ready = ready or {}

    def replicas(kind: str) -> list[dict[str, Any]]:
        found = [
            {
                "address": f"{layout.host(kind, n)}:{port}",
                "state": "down"
                if n in out
                else "up"
                if ready.get(f"{kind}-{n}", True)
                else "backup",
            }
            for n, port in enumerate(topology.ports(kind), start=1)
        ]
        if not any(replica["state"] == "up" for replica in found):  # nginx needs a primary
            for replica in found:
                replica["state"] = "up" if replica["state"] == "backup" else replica["state"]
        return found

    return (
        _templates()
        .get_template("upstreams.conf.j2")
        .render(rasa=replicas("rasa"), web=replicas("web"))
    )


def render_upstreams(topology: Topology, ready: dict[str, bool] | None = None) -> bool:
    """Write this machine's upstreams; True if they changed."""
    text = upstreams_text(topology, LOCAL, ready)
    path = STATE / "nginx" / "upstreams.conf"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def nginx_text(topology: Topology, layout: Layout = LOCAL) -> str:
    limit = topology.data["rate_limit"]
    too_many = domain_texts().text("utter_too_many_requests")
    if too_many is None:
        die("domain.yml has no utter_too_many_requests (the load balancer's 429 answer)")
    entry_host = layout.entry_listen or topology.data["entry"]["host"]
    return (
        _templates()
        .get_template("nginx.conf.j2")
        .render(
            nginx_dir=layout.nginx_dir,
            conf_dir=layout.conf_dir,
            log_dir=layout.log_dir,
            entry_listen=f"{entry_host}:{topology.data['entry']['port']}",
            internal_listen=layout.internal_listen,
            origins=topology.data["origins"],
            rate_exempt=limit["exempt"],
            turns_per_second=limit["turns_per_second"],
            burst=int(limit["burst"]),
            too_many_text=too_many.replace("\\", "").replace('"', "”").replace("'", "’"),
        )
    )


def endpoints_text(topology: Topology, n: int, layout: Layout = LOCAL) -> str:
    """The endpoints of Rasa server ``n``: its action server, PostgreSQL, Redis."""
    pg = urlsplit(topology.data["postgres"]["url"])
    redis = urlsplit(topology.data["redis"]["url"])
    pool = topology.data["postgres"]["pool"]
    return (
        _templates()
        .get_template("endpoints.yml.j2")
        .render(
            n=n,
            action_host=layout.host("actions", n),
            action_port=topology.ports("actions")[n - 1],
            pg_host="postgres" if layout.service_hosts else pg.hostname,
            pg_port=pg.port or 5432,
            pg_user=pg.username or "postgres",
            pg_password_env="POSTGRES_PASSWORD" if layout.service_hosts else "",
            trackers_db=topology.data["postgres"]["trackers"],
            pool_size=pool["size"],
            pool_overflow=pool["overflow"],
            redis_host="redis" if layout.service_hosts else redis.hostname,
            redis_port=redis.port or 6379,
            lock_db=topology.data["redis"]["lock_db"],
        )
    )


def compose_files(topology: Topology) -> dict[Path, str]:
    """The configuration files deploy/compose.yml mounts, made from the same templates."""
    files = {
        COMPOSE_DIR / "nginx.conf": nginx_text(topology, COMPOSE),
        COMPOSE_DIR / "upstreams.conf": upstreams_text(topology, COMPOSE),
    }
    for n in range(1, topology.replicas + 1):
        files[COMPOSE_DIR / f"endpoints-{n}.yml"] = endpoints_text(topology, n, COMPOSE)
    return files


def render(topology: Topology, keys: dict[str, str]) -> None:
    """Every configuration file of the scale-out, under var/scale/."""
    for folder in ("logs", "nginx", "nginx/body", "nginx/proxy"):
        (STATE / folder).mkdir(parents=True, exist_ok=True)
    # the logs name conversations and session ids; the configuration holds the secrets
    os.chmod(STATE, 0o700)
    os.chmod(STATE / "logs", 0o700)
    for name in ("supervisord.conf",):
        (STATE / name).touch(mode=0o600)
        os.chmod(STATE / name, 0o600)
    templates = _templates()
    pool = topology.data["postgres"]["pool"]
    for n in range(1, topology.replicas + 1):
        (STATE / f"endpoints-{n}.yml").write_text(endpoints_text(topology, n), encoding="utf-8")
    (STATE / "nginx" / "nginx.conf").write_text(nginx_text(topology), encoding="utf-8")
    render_upstreams(topology)
    common = {
        # changed code restarts every server on `up`
        "DY_CODE_DIGEST": _digest(*CODE),
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SANIC_HOST": "127.0.0.1",
        "DATABASE_URL": topology.postgres("tickets"),
    }
    (STATE / "supervisord.conf").write_text(
        templates.get_template("supervisord.conf.j2").render(
            state=STATE,
            root=ROOT,
            python=PYTHON,
            model=MODEL,
            nginx=_which("nginx"),
            watch_digest=_digest(Path(__file__).resolve(), topology_path()),
            actions=list(enumerate(topology.ports("actions"), start=1)),
            rasa=list(enumerate(topology.ports("rasa"), start=1)),
            web=[
                (n, port, INTERNAL_API_PORT)
                for n, port in enumerate(topology.ports("web"), start=1)
            ],
            env_actions=_supervisor_env({**common, **topology.secret_env("actions", keys)}),
            env_rasa=_supervisor_env(
                {
                    **common,
                    # a changed endpoints file or model restarts the Rasa servers on `up`
                    "DY_CONFIG_DIGEST": _digest(
                        *(STATE / f"endpoints-{n}.yml" for n in range(1, topology.replicas + 1)),
                        ROOT / "credentials.yml",
                        MODEL,
                        *CODE,
                    ),
                    **topology.secret_env("rasa", keys),
                    "RASA_CACHE_DIRECTORY": str(ROOT / ".rasa" / "cache"),
                    "SOCKETIO_REDIS_URL": topology.redis("socketio_db"),
                    "SQL_POOL_SIZE": str(pool["size"]),
                    "SQL_MAX_OVERFLOW": str(pool["overflow"]),
                }
            ),
            env_web=_supervisor_env(
                {
                    **common,
                    **topology.secret_env("web", keys),
                    "RASA_PUBLIC_URL": "/",
                    "DY_TRACKER_DB_URL": topology.postgres("trackers"),
                }
            ),
        ),
        encoding="utf-8",
    )
    os.chmod(STATE / "supervisord.conf", 0o600)  # it holds the secrets


# --- supervisor ------------------------------------------------------------------------------


def action_call_logs() -> list[Path]:
    """The action servers' call logs (:mod:`actions.call_log`), one per action server."""
    return sorted((STATE / "logs").glob("actions-*.calls"))


def supervisorctl(*command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _which("supervisorctl") or "supervisorctl",
            "-c",
            str(STATE / "supervisord.conf"),
            *command,
        ],
        capture_output=True,
        text=True,
        check=check,
    )


def supervisor_running() -> bool:
    return (STATE / "supervisor.sock").exists() and supervisorctl("pid").returncode == 0


def admin_headers(keys: dict[str, str], username: str = "scale") -> dict[str, str]:
    """The header of a call to a Rasa server's HTTP API (``/conversations/...``): a JWT of an
    admin signed with the scale-out's ``RASA_JWT_SECRET``, good for five minutes."""
    now = int(time.time())
    token = jwt.encode(
        {"user": {"username": username, "role": "admin"}, "iat": now, "exp": now + 300},
        keys["RASA_JWT_SECRET"],
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {token}"}


# --- readiness -------------------------------------------------------------------------------


#: A replica whose readiness check times out this many times in a row is taken out of nginx
#: (a busy server answers late now and then; one that refuses or answers 503 is out at once).
BUSY_CHECKS_BEFORE_OUT = 3


def readiness_urls(topology: Topology) -> dict[str, str]:
    """Each replica's readiness endpoint, by program name (rasa-1, actions-1, web-1, ...)."""
    return {
        f"{kind}-{n}": f"http://127.0.0.1:{port}{READY_PATHS[kind]}"
        for kind in READY_PATHS
        for n, port in enumerate(topology.ports(kind), start=1)
    }


def readiness_names(topology: Topology) -> list[str]:
    return list(readiness_urls(topology))


def check_states(topology: Topology) -> dict[str, str]:
    """Each replica's readiness endpoint: ``ready``, ``busy`` (no answer within 1.5 s) or
    ``not ready`` (refused, or any answer but 200)."""
    urls = readiness_urls(topology)
    found = {}
    for name, url in urls.items():
        try:
            ok = requests.get(url, timeout=1.5).status_code == 200
            found[name] = "ready" if ok else "not ready"
        except requests.Timeout:
            found[name] = "busy"
        except requests.RequestException:
            found[name] = "not ready"
    return found


def readiness(topology: Topology) -> dict[str, bool]:
    """Each replica's readiness endpoint (answered within a second and a half each)."""
    return {name: state == "ready" for name, state in check_states(topology).items()}


def reload_nginx() -> None:
    pid_file = STATE / "nginx" / "nginx.pid"
    if pid_file.exists():
        subprocess.run(
            [
                _which("nginx") or "nginx",
                "-p",
                str(STATE / "nginx"),
                "-c",
                str(STATE / "nginx" / "nginx.conf"),
                "-s",
                "reload",
            ],
            capture_output=True,
            check=False,
        )


def wait_ready(
    topology: Topology, names: list[str] | None = None, limit: float = READY_WAIT_SECONDS
) -> dict[str, bool]:
    deadline = time.monotonic() + limit
    while True:
        found = readiness(topology)
        wanted = {k: v for k, v in found.items() if names is None or k in names}
        entry_ok = names is not None or _entry_answers(topology)
        if all(wanted.values()) and entry_ok:
            return found
        if time.monotonic() > deadline:
            waiting = ", ".join(k for k, v in wanted.items() if not v) or "nginx"
            die(f"not ready after {limit:.0f} s: {waiting} (logs in {STATE / 'logs'})")
        time.sleep(2)


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _entry_answers(topology: Topology) -> bool:
    try:
        return requests.get(f"{topology.entry}/config.js", timeout=2).status_code == 200
    except requests.RequestException:
        return False


# --- commands --------------------------------------------------------------------------------


def check_same_placement(topology: Topology, running: bool) -> None:
    """Refuse a topology whose servers are elsewhere (other ports, other stores) than the
    running scale-out's: they would move under the running supervisor (stop it first)."""
    if not (running and STARTED_AT.exists()):
        return
    started = json.loads(STARTED_AT.read_text(encoding="utf-8"))
    wanted = json.loads(json.dumps(topology.placement()))
    moved = sorted(
        key for key in wanted.keys() | started.keys() if wanted.get(key) != started.get(key)
    )
    if moved:
        die(
            f"{topology_path()} puts the {', '.join(moved)} elsewhere than the running "
            "scale-out: stop it first (make scale-down), then make scale-up"
        )


def up() -> int:
    topology = Topology.load()
    check_same_placement(topology, supervisor_running())
    DRAINED.unlink(missing_ok=True)  # `up` means every replica in
    if not MODEL.exists():
        log("no trained model yet: training (bash scripts/train.sh)")
        subprocess.run(["bash", str(ROOT / "scripts" / "train.sh")], cwd=ROOT, check=True)
    ensure_packages()
    keys = ensure_secrets(topology)
    ensure_databases(topology)
    migrate(topology)
    render(topology, keys)
    if supervisor_running():
        log("supervisord is running: applying the configuration, one replica at a time")
        rolling_update(topology, changed_programs())
        supervisorctl("start", "all")
        reload_nginx()
    else:
        taken = [port for port in topology.all_ports() if _port_taken(port)]
        if taken:
            die(
                f"port(s) {', '.join(map(str, taken))} already in use on 127.0.0.1 (another "
                "scale-out from another checkout, or make run?): stop it first"
            )
        log(f"starting supervisord with {3 * topology.replicas + 2} programs")
        STARTED_AT.write_text(json.dumps(topology.placement()), encoding="utf-8")
        subprocess.run(
            [_which("supervisord") or "supervisord", "-c", str(STATE / "supervisord.conf")],
            cwd=ROOT,
            check=True,
        )
    log("waiting until every server is ready (Rasa loads its model: about a minute)")
    wait_ready(topology)
    status()
    log(f"the assistant: {topology.entry}/   the console: {topology.entry}/console/")
    return 0


def down() -> int:
    if not supervisor_running():
        log("the scale-out is not running")
        return 0
    log("stopping every server of the scale-out")
    supervisorctl("stop", "all")
    supervisorctl("shutdown")
    deadline = time.monotonic() + 60
    while (STATE / "supervisord.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    log("stopped")
    return 0


def status() -> int:
    topology = Topology.load()
    if not supervisor_running():
        print("the scale-out is not running (make scale-up)")
        return 3
    programs = supervisorctl("status").stdout.strip().splitlines()
    ready = readiness(topology)
    out = drained()
    print(f"entry {topology.entry}: {'answers' if _entry_answers(topology) else 'NOT answering'}")
    for line in programs:
        name = line.split()[0]
        extra = ""
        if name in ready:
            extra = "ready" if ready[name] else "NOT READY"
            if any(name == f"{kind}-{n}" for kind in ("rasa", "web") for n in out):
                extra += ", drained"
        print(f"  {line:<70} {extra}")
    return 0 if all(ready.values()) else 1


def changed_programs() -> list[str]:
    """The programs whose configuration supervisord reread as changed, new or gone."""
    lines = supervisorctl("reread").stdout.splitlines()
    kinds = (": changed", ": available", ": disappeared")
    return sorted(line.split(":", 1)[0].strip() for line in lines if line.strip().endswith(kinds))


def replica_programs(n: int) -> list[str]:
    return [f"rasa-{n}", f"actions-{n}", f"web-{n}"]


@contextmanager
def out_of_nginx(topology: Topology, n: int) -> Iterator[None]:
    """Replica ``n`` out of nginx while the block runs (its turns in flight finish; new ones
    go to the others), and back in nginx's hands after it (the watcher keeps it out while it
    is not ready)."""
    DRAINED.write_text(json.dumps(sorted(drained() | {n})), encoding="utf-8")
    render_upstreams(topology, readiness(topology))
    reload_nginx()
    log(f"replica {n} taken out of nginx; waiting for its turns in flight")
    time.sleep(3)  # nginx's old workers finish their requests; Sanic then drains on SIGTERM
    try:
        yield
    finally:
        DRAINED.write_text(json.dumps(sorted(drained() - {n})), encoding="utf-8")
        render_upstreams(topology, readiness(topology))
        reload_nginx()
        log(f"replica {n} is back in nginx")


def rolling_update(topology: Topology, changed: list[str]) -> None:
    """Apply a changed configuration (new code, model, endpoints, secrets) without dropping a
    turn: the shared programs (nginx, the watcher) first, then each replica's changed servers,
    one replica at a time, out of nginx until they are ready again. ``supervisorctl update``
    alone restarts every changed server at once: the whole service is down for a minute."""
    if not changed:
        log("no server's configuration changed")
        return
    per_replica = {n: set(replica_programs(n)) for n in range(1, topology.replicas + 1)}
    shared = [name for name in changed if not any(name in p for p in per_replica.values())]
    if shared:
        log(f"updating {', '.join(shared)}")
        supervisorctl("update", *shared)
    for n, programs in per_replica.items():
        names = [name for name in changed if name in programs]
        if not names:
            continue
        with out_of_nginx(topology, n):
            log(f"updating {', '.join(names)}")
            supervisorctl("update", *names)
            supervisorctl("start", *names)
            wait_ready(topology, names)


def drain(n: int) -> int:
    """Restart replica ``n`` (its Rasa, action and web server) without dropping a turn: take
    it out of nginx, restart it, wait until it is ready, put it back."""
    topology = Topology.load()
    if not 1 <= n <= topology.replicas:
        die(f"there are replicas 1 to {topology.replicas}")
    if not supervisor_running():
        die("the scale-out is not running (make scale-up)")
    names = replica_programs(n)
    with out_of_nginx(topology, n):
        log(f"restarting {', '.join(names)}")
        supervisorctl("restart", *names)
        wait_ready(topology, names)
    return 0


def watch(interval: float = 2.0) -> int:
    """Keep nginx's upstreams in step with each replica's readiness (run by supervisord)."""
    topology = Topology.load()
    busy: dict[str, int] = {}
    while True:
        found = {}
        for name, state in check_states(topology).items():
            busy[name] = busy.get(name, 0) + 1 if state == "busy" else 0
            found[name] = state == "ready" or 0 < busy[name] < BUSY_CHECKS_BEFORE_OUT
        # a Rasa server is only as ready as the action server it calls
        for n in range(1, topology.replicas + 1):
            found[f"rasa-{n}"] = found[f"rasa-{n}"] and found.get(f"actions-{n}", False)
        if not any(found.get(f"rasa-{n}") for n in range(1, topology.replicas + 1)):
            # none is ready: keep them all in, so a user still gets the apology, not a 502
            found = {k: True for k in found}
        if render_upstreams(topology, found):
            print(f"readiness changed: {json.dumps(found)}", flush=True)
            reload_nginx()
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    drain_parser = sub.add_parser("drain")
    drain_parser.add_argument("replica", type=int)
    sub.add_parser("watch")
    sub.add_parser("compose", help="rewrite deploy/compose/ from the templates and topology")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up()
    if args.command == "down":
        return down()
    if args.command == "status":
        return status()
    if args.command == "drain":
        return drain(args.replica)
    if args.command == "compose":
        COMPOSE_DIR.mkdir(parents=True, exist_ok=True)
        for path, text in compose_files(Topology.load()).items():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    return watch()


if __name__ == "__main__":
    sys.exit(main())
