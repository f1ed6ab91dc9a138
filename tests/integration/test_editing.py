"""Content editors' workflow on the real servers (docs/editing.md).

* Hot reload: the running action server picks up an edited playbook on the next turn, refuses
  an invalid one (logging ``file:line: ... (unknown step)``) and keeps serving the last valid
  version, and serves the file again once it is fixed or restored.
* The guide's worked example (section 5, 「直播推流失败」) is run as written: the editor's files
  in ``tests/fixtures/live_push/`` are added to a copy of the project, which is validated,
  trained, tested with its test stories and talked to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from playbook.parse import PlaybookError, load_playbook_file
from scripts.servers import MODEL, VENV_BIN, Servers
from tests.factories import ROOT, buttons, texts
from tickets import store

pytestmark = pytest.mark.integration

FIXTURES = ROOT / "tests" / "fixtures" / "live_push"
PLAYBOOK_FILE = "network.yml"
RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
ANSWER_BUTTONS = ["解决了", "还是不行", "转人工"]


def new_sender() -> str:
    """A fresh conversation id."""
    return f"edit-{uuid.uuid4().hex[:12]}"


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` and give it a modification time later than before, so the
    registry sees a change even when two writes fall into the same file-system tick."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    stamp = max(time.time_ns(), before + 1_000_000_000)
    os.utime(path, ns=(stamp, stamp))


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with the single occurrence of ``old`` replaced (fails if not exactly one)."""
    assert text.count(old) == 1, f"expected exactly one {old!r}"
    return text.replace(old, new)


def line_number(text: str, fragment: str) -> int:
    """The 1-based line of the only line containing ``fragment``."""
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(lines) == 1, f"{fragment!r} on lines {lines}"
    return lines[0]


# --- hot reload on the running action server -------------------------------------------------


@pytest.fixture(scope="module")
def playbook_dir(tmp_path_factory) -> Path:
    """A copy of data/playbooks that the reloading servers read (DY_PLAYBOOK_DIR)."""
    folder = tmp_path_factory.mktemp("playbooks")
    for path in (ROOT / "data" / "playbooks").glob("*.yml"):
        shutil.copy2(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def reloading(tmp_path_factory, playbook_dir) -> Iterator[Servers]:
    """Servers of their own (the session's servers read the repository's playbooks)."""
    if not MODEL.exists():
        pytest.fail("no trained model at models/dy.tar.gz: run 'make train' (make test does)")
    servers = Servers(
        tmp_path_factory.mktemp("reload-servers"), env={"DY_PLAYBOOK_DIR": str(playbook_dir)}
    )
    servers.start()
    yield servers
    servers.stop()


def original_network() -> str:
    """The repository's network playbook, as the copy starts."""
    return (ROOT / "data" / "playbooks" / PLAYBOOK_FILE).read_text(encoding="utf-8")


@pytest.fixture()
def network_file(playbook_dir) -> Iterator[Path]:
    """The copied network playbook, as in the repository; put back after each test."""
    path = playbook_dir / PLAYBOOK_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != original_network():
        rewrite(path, original_network())
    yield path
    rewrite(path, original_network())


RESTART_LINE = "第二步：请重启一下设备和路由器，刷新网络连接。"


def with_restart_text(marker: str) -> str:
    """The network playbook whose second step (restart_device) says ``marker``."""
    return replace_once(
        original_network(),
        RESTART_LINE,
        f"第二步（{marker}）：请重启一下设备和路由器，刷新网络连接。",
    )


def test_edited_step_text_is_shown_on_the_next_turn(reloading, network_file):
    pids = reloading.pids()
    sender = new_sender()
    first_step = load_playbook_file(network_file).step("check_network").message
    first = reloading.say(sender, "网络老是掉线")
    assert first_step in texts(first)

    marker = f"已更新{uuid.uuid4().hex[:6]}"
    rewrite(network_file, with_restart_text(marker))
    second = texts(reloading.say(sender, "还是不行"))
    assert f"第二步（{marker}）：请重启一下设备和路由器" in second
    assert RESTART_LINE not in second
    assert reloading.pids() == pids and reloading.alive()  # no restart was needed


def test_invalid_file_is_refused_and_logged_and_the_last_valid_version_keeps_serving(
    reloading, network_file
):
    valid_marker = f"有效版{uuid.uuid4().hex[:6]}"
    rewrite(network_file, with_restart_text(valid_marker))
    sender = new_sender()
    assert "第一步" in texts(reloading.say(sender, "网络老是掉线"))  # valid version now loaded

    broken_marker = f"错误版{uuid.uuid4().hex[:6]}"
    broken = replace_once(
        with_restart_text(broken_marker), "    on_no: escalate\n", "    on_no: isp_followup\n"
    )
    rewrite(network_file, broken)
    broken_line = line_number(broken, "on_no: isp_followup")

    second = texts(reloading.say(sender, "还是不行"))
    assert f"第二步（{valid_marker}）" in second
    assert broken_marker not in second
    later = new_sender()  # a conversation started after the bad edit gets the valid version too
    assert "第一步" in texts(reloading.say(later, "网络老是掉线"))
    assert f"第二步（{valid_marker}）" in texts(reloading.say(later, "没用"))

    log = reloading.action_log.read_text(encoding="utf-8")
    problem = (
        f"{network_file}:{broken_line}: 步骤 contact_isp 的 on_no 指向的步骤 'isp_followup' "
        f"不存在，可选：check_network, restart_device, contact_isp, escalate, resolved "
        f"(unknown step)"
    )
    logged = [line for line in log.splitlines() if "playbook rejected" in line]
    assert [line.split(" - ", 1)[1] for line in logged] == [
        f"playbook rejected, keeping the last valid version: {problem}"
    ], log[-3000:]
    with pytest.raises(PlaybookError) as refused:  # the same words as make validate's
        load_playbook_file(network_file)
    assert refused.value.problems == [problem]

    fixed_marker = f"修正版{uuid.uuid4().hex[:6]}"
    rewrite(network_file, with_restart_text(fixed_marker))
    fixed = new_sender()
    reloading.say(fixed, "网络老是掉线")
    assert f"第二步（{fixed_marker}）" in texts(reloading.say(fixed, "还是不行"))
    # the conversation that was open during the bad edit continues on the fixed file
    third = reloading.say(sender, "还是不行")
    assert load_playbook_file(network_file).step("contact_isp").message in texts(third)


def test_deleted_playbook_is_unavailable_until_restored(reloading, network_file):
    network_file.unlink()
    sender = new_sender()
    gone = texts(reloading.say(sender, "网络老是掉线"))
    assert RESPONSES["utter_playbook_unavailable"][0]["text"] in gone

    rewrite(network_file, original_network())
    back = reloading.say(new_sender(), "网络老是掉线")
    assert load_playbook_file(network_file).step("check_network").message in texts(back)
    assert buttons(back)[-3:] == ANSWER_BUTTONS


# --- the worked example of the editor's guide --------------------------------------------------

#: What training, validation and the servers read; everything else of the project is code.
PROJECT_FILES = [
    "domain.yml",
    "config.yml",
    "credentials.yml",
    "tests/test_stories.yml",
    "tests/nlu/test_nlu.yml",
]
NEW_INTENT = "live_push_problem"
#: A sentence that is not one of the training examples.
USER_SAYS = "直播推流一直失败"
#: A sentence that used to be a feature problem and belongs to the new type now, and the
#: live-streaming feature problem the test stories use instead (no longer a push failure).
MOVED_SENTENCE = "开播老是推流失败"
REPLACEMENT = "开播按钮点不了"


def guide_example() -> str:
    """Section 5 of the editor's guide (the worked example)."""
    guide = (ROOT / "docs" / "editing.md").read_text(encoding="utf-8")
    return guide.split("\n## 5. ", 1)[1].split("\n## 6. ", 1)[0]


def code_blocks(text: str, language: str = "") -> list[str]:
    """The fenced code blocks of a Markdown text in ``language`` ("" for plain blocks)."""
    blocks: list[str] = []
    current: list[str] | None = None
    fence_language = ""
    for line in text.splitlines(keepends=True):
        if not line.startswith("```"):
            if current is not None:
                current.append(line)
        elif current is None:
            current, fence_language = [], line[3:].strip()
        else:
            if fence_language == language:
                blocks.append("".join(current))
            current = None
    return blocks


#: The key of the message about a story sentence the model recognises as another intent.
STORY_SENTENCE = "(story sentence recognised as another intent)"
CONFIDENCE = re.compile(r"（置信度 [01]\.\d\d）")


def guide_messages(story_sentences: bool = False) -> list[str]:
    """The validator and coverage messages the guide shows for the example's mistakes (or,
    with ``story_sentences``, the story-sentence check's, confidence left out)."""
    lines = [
        line
        for block in code_blocks(guide_example())
        for line in block.splitlines()
        if re.match(r"^[\w/.]+\.yml:\d+: ", line)
    ]
    if story_sentences:
        return [CONFIDENCE.sub("（置信度 …）", line) for line in lines if STORY_SENTENCE in line]
    return [line for line in lines if STORY_SENTENCE not in line]


def shown_in(output: str, messages: list[str]) -> list[str]:
    """The ``messages`` that are lines of ``output`` (domain.yml's line number may differ:
    it depends on the intents listed before the new one)."""

    def plain(line: str) -> str:
        return re.sub(r"^domain\.yml:\d+: ", "domain.yml:N: ", line)

    lines = {plain(line) for line in output.splitlines()}
    return [m for m in messages if plain(m) in lines]


def tool_env(project: Path) -> dict[str, str]:
    """The environment scripts/common.sh gives the tools, for the project copy."""
    return dict(
        os.environ,
        RASA_CACHE_DIRECTORY=str(project / ".rasa" / "cache"),
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(ROOT),
    )


def run(args: list[str], project: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run a tool in the project copy, capturing its output."""
    return subprocess.run(
        [str(a) for a in args],
        cwd=project,
        env=tool_env(project),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def copy_project(target: Path) -> Path:
    """The data an editor changes, copied as in the repository (the code stays in ROOT)."""
    shutil.copytree(ROOT / "data", target / "data")
    for name in PROJECT_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


def append(path: Path, snippet: Path) -> None:
    """Append an editor's snippet at the end of a YAML file (the guide's steps 3-5)."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + snippet.read_text(encoding="utf-8"), encoding="utf-8")


def story_turns(path: Path) -> list[tuple[str, str]]:
    """(user sentence, labelled intent) of every user turn of a stories file or snippet."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    stories = data["stories"] if isinstance(data, dict) else data
    return [
        (step["user"].strip(), step["intent"])
        for story in stories
        for step in story["steps"]
        if "user" in step
    ]


def validate(project: Path) -> subprocess.CompletedProcess:
    """``make validate``'s checks on the copy."""
    return run(
        [sys.executable, ROOT / "scripts" / "validate_data.py", "--project", project],
        project,
        timeout=300,
    )


def coverage(project: Path) -> subprocess.CompletedProcess:
    """``make validate``'s coverage report (every playbook step reached by a test story)."""
    return run([sys.executable, "-m", "editing.coverage", "--project", project], project, 300)


def fingerprint(command: str, project: Path) -> subprocess.CompletedProcess:
    """``record`` what the copy's model was trained on, or ``check`` (exit 1: train again)."""
    return run(
        [sys.executable, "-m", "editing.fingerprint", command, "--project", project],
        project,
        timeout=300,
    )


def train(project: Path) -> None:
    """What ``make train`` (scripts/train.sh) does, in the copy, with the copy's own cache."""
    spacy = run(
        [
            sys.executable,
            ROOT / "scripts" / "build_spacy_model.py",
            "--nlu",
            project / "data" / "nlu",
            "--out",
            project / "build" / "spacy_zh",
        ],
        project,
        timeout=300,
    )
    assert spacy.returncode == 0, spacy.stdout + spacy.stderr
    trained = run(
        [VENV_BIN / "rasa", "train", "--fixed-model-name", "dy", "--out", "models"],
        project,
        timeout=1200,
    )
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    recorded = fingerprint("record", project)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    shutil.rmtree(project / ".rasa", ignore_errors=True)  # the copy's training cache


def test_guide_shows_the_example_files_the_test_uses():
    blocks = code_blocks(guide_example(), "yaml")
    fixture = {
        name: (FIXTURES / name).read_text(encoding="utf-8")
        for name in ("live_push.yml", "nlu.yml", "rule.yml", "stories.yml")
    }
    assert blocks[0] == fixture["live_push.yml"]  # the playbook, in full
    assert f"  - data_loss\n  - {NEW_INTENT}\n" in blocks[1]
    nlu_excerpt = blocks[2].splitlines()
    assert "\n".join(nlu_excerpt[:2]) in fixture["nlu.yml"]
    assert all(f"{line}\n" in fixture["nlu.yml"] for line in nlu_excerpt[2:])
    assert blocks[3].strip() == fixture["rule.yml"].strip()
    assert blocks[4] in fixture["stories.yml"]
    assert len(guide_messages()) == 3


def test_worked_example_adds_live_push_problem_type(tmp_path):
    project = copy_project(tmp_path / "project")
    playbook_source = (FIXTURES / "live_push.yml").read_text(encoding="utf-8")
    nlu_snippet = (FIXTURES / "nlu.yml").read_text(encoding="utf-8")
    assert len(re.findall(r"^    - ", nlu_snippet, flags=re.M)) >= 40

    # 1. the playbook, 2. the intent in the domain, 3. the training examples
    shutil.copy2(FIXTURES / "live_push.yml", project / "data" / "playbooks" / "live_push.yml")
    domain = project / "domain.yml"
    domain.write_text(
        replace_once(
            domain.read_text(encoding="utf-8"),
            "  - data_loss\n",
            f"  - data_loss\n  - {NEW_INTENT}\n",
        ),
        encoding="utf-8",
    )
    append(project / "data" / "nlu" / "problems.yml", FIXTURES / "nlu.yml")
    training_text = "".join(
        p.read_text(encoding="utf-8") for p in (project / "data" / "nlu").glob("*.yml")
    )
    assert f"- {USER_SAYS}\n" not in training_text  # the conversation below uses a new sentence

    # without the rule (step 4) the validator refuses the copy and says where and why
    trigger_line = line_number(playbook_source, f"intent: {NEW_INTENT}")
    missing_rule = validate(project)
    assert missing_rule.returncode == 1, missing_rule.stdout + missing_rule.stderr
    assert re.search(
        rf"^data/playbooks/live_push\.yml:{trigger_line}: 没有规则用意图 {NEW_INTENT} "
        rf"启动 action_start_playbook.*\(no rule starts",
        missing_rule.stdout,
        flags=re.M,
    ), missing_rule.stdout
    shown = guide_messages()
    assert [m for m in shown if "(step has no test story)" not in m] == shown_in(
        missing_rule.stdout, shown
    )

    # 4. the rule; without test stories (step 5) the coverage report fails for every new step
    append(project / "data" / "rules.yml", FIXTURES / "rule.yml")
    untested = coverage(project)
    assert untested.returncode == 1, untested.stdout + untested.stderr
    for step in ("check_upload_network", "check_live_account", "restart_app"):
        line = line_number(playbook_source, f"- id: {step}")
        assert re.search(
            rf"^data/playbooks/live_push\.yml:{line}: 步骤 {step}（.*\(step has "
            rf"no test story\)",
            untested.stdout,
            flags=re.M,
        ), untested.stdout
    assert [m for m in shown if "(step has no test story)" in m] == shown_in(untested.stdout, shown)

    # 5. the test stories
    assert f"          {REPLACEMENT}\n        intent: feature_problem" in (
        project / "tests" / "test_stories.yml"
    ).read_text(encoding="utf-8")
    append(project / "tests" / "test_stories.yml", FIXTURES / "stories.yml")

    # 6. make validate: no problem, every step of the new playbook tested with yes and no
    valid = validate(project)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    covered = coverage(project)
    assert covered.returncode == 0, covered.stdout + covered.stderr
    assert "live_push.yml" not in "".join(
        line for line in covered.stdout.splitlines(True) if "(hint)" in line
    ), covered.stdout
    assert fingerprint("check", project).returncode == 1  # new examples: training is needed

    # ... make train; then the test stories pass with the new model
    started = time.monotonic()
    train(project)
    print(f"training the copy took {time.monotonic() - started:.0f} s")
    assert fingerprint("check", project).returncode == 0
    model = project / "models" / "dy.tar.gz"
    stories = run(
        [
            VENV_BIN / "rasa",
            "test",
            "core",
            "--model",
            model,
            "--stories",
            "tests/test_stories.yml",
            "--fail-on-prediction-errors",
            "--out",
            "results/core",
        ],
        project,
        timeout=600,
    )
    failed = project / "results" / "core" / "failed_test_stories.yml"
    assert stories.returncode == 0, (
        failed.read_text(encoding="utf-8") if failed.exists() else stories.stdout[-3000:]
    )
    # and the new model still recognises every sentence of every test story as labelled
    sentences = run(
        [sys.executable, "-m", "editing.story_intents", "--project", project], ROOT, timeout=300
    )
    assert sentences.returncode == 0, sentences.stdout[-3000:]
    # the guide's example of that check: the old live-streaming sentence now means the new type
    stories_file = project / "tests" / "test_stories.yml"
    current = stories_file.read_text(encoding="utf-8")
    stories_file.write_text(
        replace_once(current, f"          {REPLACEMENT}\n", f"          {MOVED_SENTENCE}\n"),
        encoding="utf-8",
    )
    taken = run(
        [sys.executable, "-m", "editing.story_intents", "--project", project], ROOT, timeout=300
    )
    stories_file.write_text(current, encoding="utf-8")
    assert taken.returncode == 1, taken.stdout[-3000:]
    assert [
        CONFIDENCE.sub("（置信度 …）", line)
        for line in taken.stdout.splitlines()
        if STORY_SENTENCE in line
    ] == guide_messages(story_sentences=True)

    # talk to it: the new problem type is recognised and walked to an urgent ticket
    (tmp_path / "servers").mkdir()
    servers = Servers(
        tmp_path / "servers",
        model=model,
        project=project,
        env={"DY_PLAYBOOK_DIR": str(project / "data" / "playbooks")},
    )
    servers.start()
    try:
        playbook = load_playbook_file(project / "data" / "playbooks" / "live_push.yml")
        # rasa test core takes the stories' intent labels as given: check the sentences here
        labelled = story_turns(FIXTURES / "stories.yml") + [
            (USER_SAYS, NEW_INTENT),
            (MOVED_SENTENCE, NEW_INTENT),
            (REPLACEMENT, "feature_problem"),
        ]
        understood = [(text, servers.parse(text)["intent"]["name"]) for text, _ in labelled]
        assert understood == [(text, intent) for text, intent in labelled]

        sender = new_sender()
        first = servers.say(sender, USER_SAYS)
        assert playbook.intro in texts(first)
        assert playbook.step("check_upload_network").message in texts(first)
        assert buttons(first)[-3:] == ANSWER_BUTTONS
        second = servers.say(sender, "还是不行")
        assert playbook.step("check_live_account").message in texts(second)
        third = servers.say(sender, "没用")
        assert playbook.step("restart_app").message in texts(third)
        final = texts(servers.say(sender, "/deny"))  # the 还是不行 button
        assert playbook.escalation.message in final

        tickets = store.list_for_sender(sender, database_url=servers.database_url)
        assert len(tickets) == 1, tickets
        ticket = tickets[0]
        assert ticket.number in final and "优先级：紧急" in final and "1 小时内" in final
        assert (
            ticket.category,
            ticket.playbook,
            ticket.priority,
            ticket.reason,
            ticket.status,
        ) == ("feature", "live_push", "urgent", "playbook_exhausted", "open")
        assert [s["id"] for s in ticket.steps_tried] == [
            "check_upload_network",
            "check_live_account",
            "restart_app",
        ]
        assert USER_SAYS in [t["text"] for t in ticket.transcript if t["role"] == "user"]
    finally:
        servers.stop()
        from tickets import db

        db.dispose_all()
