"""The scale-out's three shapes in step: deploy/topology.yml (what make scale-up runs), the
compose file with the configuration it mounts, and the Helm values for RasaHQ's charts."""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import urlsplit

import pytest
import yaml

from scripts import scale
from tests.factories import ROOT

TOPOLOGY = scale.Topology.load()
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
HELM = {
    name: yaml.safe_load((ROOT / "deploy" / "helm" / f"{name}-values.yml").read_text("utf-8"))
    for name in ("rasa", "action-server", "web")
}
CREDENTIALS = yaml.safe_load((ROOT / "credentials.yml").read_text(encoding="utf-8"))
LOCAL_ENDPOINTS = yaml.safe_load(scale.endpoints_text(TOPOLOGY, 1))
KINDS = ("rasa", "actions", "web")


def port_of(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def env_of(service: dict) -> dict[str, str]:
    return {key: str(value) for key, value in service["environment"].items()}


def helm_env(values: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "<secret>") for e in values["extraEnv"]}


def test_the_committed_compose_configuration_is_what_the_templates_make():
    """deploy/compose/ is rendered from deploy/local/*.j2 and the topology
    (python scripts/scale.py compose rewrites it)."""
    for path, text in scale.compose_files(TOPOLOGY).items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run scale.py compose"


@pytest.mark.parametrize("kind", KINDS)
def test_compose_has_each_replica_on_its_port(kind):
    ports = TOPOLOGY.ports(kind)
    names = sorted(name for name in SERVICES if re.fullmatch(rf"{kind}-\d+", name))
    assert names == [f"{kind}-{n}" for n in range(1, len(ports) + 1)]
    assert [port_of(SERVICES[name]["command"]) for name in names] == ports
    for n, name in enumerate(names, start=1):
        check = SERVICES[name]["healthcheck"]["test"]
        assert check[-1] == f"http://127.0.0.1:{ports[n - 1]}{scale.READY_PATHS[kind]}"


def test_compose_stores_and_entry_match_the_topology():
    entry = TOPOLOGY.data["entry"]["port"]
    assert SERVICES["nginx"]["ports"] == [f"{entry}:{entry}"]
    assert [name for name, s in SERVICES.items() if s.get("ports")] == ["nginx"]
    postgres, redis = TOPOLOGY.data["postgres"], TOPOLOGY.data["redis"]
    rasa, web, actions = (env_of(SERVICES[f"{k}-1"]) for k in ("rasa", "web", "actions"))
    assert database_of(actions["DATABASE_URL"]) == postgres["tickets"]
    assert database_of(web["DY_TRACKER_DB_URL"]) == postgres["trackers"]
    assert database_of(rasa["SOCKETIO_REDIS_URL"]) == str(redis["socketio_db"])
    assert rasa["SQL_POOL_SIZE"] == str(postgres["pool"]["size"])
    assert web["RASA_URL"] == f"http://nginx:{scale.INTERNAL_API_PORT}"
    init = (ROOT / "deploy" / "compose" / "create-databases.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"CREATE DATABASE (\w+);", init)) == {
        postgres["trackers"],
        postgres["tickets"],
    }


def test_helm_values_match_the_topology():
    rasa, actions, web = HELM["rasa"], HELM["action-server"], HELM["web"]
    for values in (rasa, actions, web):
        assert values["replicaCount"] == TOPOLOGY.replicas
    endpoints = rasa["applicationSettings"]["endpoints"]
    tracker, lock = LOCAL_ENDPOINTS["tracker_store"], LOCAL_ENDPOINTS["lock_store"]
    assert endpoints["trackerStore"]["type"] == tracker["type"]
    assert endpoints["trackerStore"]["db"] == TOPOLOGY.data["postgres"]["trackers"]
    assert endpoints["trackerStore"]["pool_size"] == tracker["pool_size"]
    assert endpoints["trackerStore"]["max_overflow"] == tracker["max_overflow"]
    assert endpoints["lockStore"]["type"] == lock["type"]
    assert int(endpoints["lockStore"]["db"]) == lock["db"] == TOPOLOGY.data["redis"]["lock_db"]
    redis_db = database_of(helm_env(rasa)["SOCKETIO_REDIS_URL"])
    assert redis_db == str(TOPOLOGY.data["redis"]["socketio_db"])
    assert rasa["readinessProbe"]["httpGet"]["path"] == scale.READY_PATHS["rasa"]
    assert actions["readinessProbe"]["httpGet"]["path"] == scale.READY_PATHS["actions"]
    assert web["readinessProbe"]["httpGet"]["path"] == scale.READY_PATHS["web"]
    assert "DY_ACTION_SECRET" in helm_env(rasa) and "DY_ACTION_SECRET" in helm_env(actions)


def test_helm_channels_are_the_projects_channels():
    channels = HELM["rasa"]["applicationSettings"]["credentials"]["additionalChannelCredentials"]
    assert {name: settings or None for name, settings in channels.items()} == {
        name: settings or None for name, settings in CREDENTIALS.items()
    }


def test_every_server_in_every_shape_runs_the_same_entry_points():
    """The guarded servers everywhere: channels.server (JWT from the environment),
    actions.server (shared secret), web."""
    local = (ROOT / "deploy" / "local" / "supervisord.conf.j2").read_text(encoding="utf-8")
    for module in ("channels.server", "actions.server", "web"):
        assert f"-m {module} " in local
    assert SERVICES["rasa-1"]["command"][:3] == ["python", "-m", "channels.server"]
    assert SERVICES["actions-1"]["command"][:3] == ["python", "-m", "actions.server"]
    assert SERVICES["web-1"]["command"][:3] == ["python", "-m", "web"]
    assert HELM["rasa"]["command"] == ["python", "-m", "channels.server"]
    assert HELM["action-server"]["command"] == ["python", "-m", "actions.server"]
    assert HELM["web"]["command"] == ["python", "-m", "web"]


HELM_OF_KIND = {"rasa": "rasa", "actions": "action-server", "web": "web"}


def test_the_topology_names_every_secret_the_servers_read():
    """Each kind of server gets the secrets its code requires at start (the widget sessions'
    on both sides: web servers issue them, Rasa's socket.io channel verifies them)."""
    from channels import action_calls, server, widget_session

    assert set(TOPOLOGY.secret_names("rasa")) >= {
        action_calls.SECRET_ENV,
        server.JWT_SECRET_ENV,
        widget_session.SECRET_ENV,
    }
    assert set(TOPOLOGY.secret_names("actions")) >= {action_calls.SECRET_ENV}
    assert set(TOPOLOGY.secret_names("web")) >= {
        server.JWT_SECRET_ENV,
        "CONSOLE_SECRET",
        widget_session.SECRET_ENV,
    }
    assert widget_session.SECRET_ENV not in TOPOLOGY.secret_names("actions")


@pytest.mark.parametrize("kind", KINDS)
def test_compose_and_helm_pass_each_server_its_secrets(kind):
    needed = TOPOLOGY.secret_names(kind)
    assert needed
    for name in sorted(s for s in SERVICES if re.fullmatch(rf"{kind}-\d+", s)):
        env = env_of(SERVICES[name])
        assert {secret: env.get(secret) for secret in needed} == {
            secret: f"${{{secret}}}" for secret in needed
        }, name
    helm = {e["name"]: e for e in HELM[HELM_OF_KIND[kind]]["extraEnv"]}
    for secret in needed:
        assert helm[secret]["valueFrom"]["secretKeyRef"]["name"] == "dy-secrets", secret


def test_the_secrets_made_for_the_scale_out_reach_the_servers_that_need_them():
    keys = {name: f"value-of-{name}" for name in TOPOLOGY.secret_names()}
    assert TOPOLOGY.secret_env("web", keys)["DY_SESSION_SECRET"] == "value-of-DY_SESSION_SECRET"
    assert TOPOLOGY.secret_env("rasa", keys)["DY_SESSION_SECRET"] == "value-of-DY_SESSION_SECRET"
    assert "DY_SESSION_SECRET" not in TOPOLOGY.secret_env("actions", keys)


def test_nginx_sends_the_widget_session_api_to_the_web_servers_rate_limited():
    """POST /api/session and GET /api/history/<id> reach the web servers through the
    rate-limited catch-all, not one of the locations answered 404."""
    conf = scale.nginx_text(TOPOLOGY)
    patterns = re.findall(r"location ~ (\S+) \{\s*return 404;", conf)
    prefixes = re.findall(r"location (/\S+) \{ return 404;", conf)
    assert patterns and prefixes
    for path in ("/api/session", f"/api/history/{'0' * 32}"):
        assert not any(re.search(pattern, path) for pattern in patterns), path
        assert not any(path.startswith(prefix) for prefix in prefixes), path
    catch_all = conf[conf.rindex("location / {") :].split("}", 1)[0]  # the public server's
    assert "limit_req zone=turns" in catch_all and "proxy_pass http://web;" in catch_all


def upstream_servers(text: str, name: str) -> list[str]:
    block = re.search(rf"upstream {name} \{{(.*?)\}}", text, re.S)
    assert block is not None, text
    return [line.strip() for line in block.group(1).strip().splitlines()]


def test_a_replica_not_ready_is_a_backup_and_a_drained_one_is_down(monkeypatch, tmp_path):
    topology = scale.Topology.load()
    rasa = [f"127.0.0.1:{port}" for port in topology.ports("rasa")]
    monkeypatch.setattr(scale, "DRAINED", tmp_path / "drained.json")
    text = scale.upstreams_text(topology, scale.LOCAL, {"rasa-1": True, "rasa-2": False})
    assert upstream_servers(text, "rasa") == [
        f"server {rasa[0]} max_fails=0;",
        f"server {rasa[1]} max_fails=0 backup;",  # takes turns only when rasa-1 fails
    ]
    # none ready: both primaries (nginx needs one; the users get the apology, not a 502)
    text = scale.upstreams_text(topology, scale.LOCAL, {"rasa-1": False, "rasa-2": False})
    assert all(line.endswith("max_fails=0;") for line in upstream_servers(text, "rasa"))
    (tmp_path / "drained.json").write_text("[1]", encoding="utf-8")
    text = scale.upstreams_text(topology, scale.LOCAL, {"rasa-1": True, "rasa-2": False})
    assert upstream_servers(text, "rasa") == [
        f"server {rasa[0]} max_fails=0 down;",
        f"server {rasa[1]} max_fails=0;",
    ]


def test_a_running_scale_out_refuses_a_topology_that_moves_its_servers(
    tmp_path, monkeypatch, capsys
):
    """A rolling update may change a pool size (tests/integration/test_scale.py), not the
    ports or the stores of the running servers."""
    monkeypatch.setattr(scale, "STARTED_AT", tmp_path / "placement.json")
    running = scale.Topology.load()
    scale.STARTED_AT.write_text(json.dumps(running.placement()), encoding="utf-8")
    tuned = copy.deepcopy(running.data)
    tuned["postgres"]["pool"]["size"] = 1
    scale.check_same_placement(scale.Topology(tuned), running=True)
    for change in (
        lambda data: data["replicas"]["rasa"].__setitem__(0, 5999),
        lambda data: data["postgres"].__setitem__("url", "postgresql://postgres@127.0.0.1:5999"),
        lambda data: data["redis"].__setitem__("lock_db", 9),
    ):
        moved = copy.deepcopy(running.data)
        change(moved)
        scale.check_same_placement(scale.Topology(moved), running=False)  # nothing running
        with pytest.raises(SystemExit):
            scale.check_same_placement(scale.Topology(moved), running=True)
        assert "make scale-down" in capsys.readouterr().err
