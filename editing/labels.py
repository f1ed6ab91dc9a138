"""File a message from the misunderstanding inbox as training data, checked by the validator.

- :func:`add_example`: one ``- text`` line appended to the intent's ``examples: |`` block in
  ``data/nlu/`` (the first training file that holds the intent);
- :func:`add_answer`: one ``- phrase`` under ``answers.<worked|failed|human>`` of a playbook
  step in ``data/playbooks/<file>.yml`` (``answers:`` and the label list are added when
  missing), in the format :func:`playbook.parse._parse_answers` accepts.

Every other byte of the file stays as it was. After the write the editors' validator
(:func:`editing.validate.validate`, Rasa's own checks included) runs on the whole project; a
problem that was not there before the write (a duplicate example, an example claimed by two
intents, a phrase under two labels, a broken file …) restores the file byte for byte and the
label is refused with the validator's messages. Nothing is trained: ``make train`` makes a
label take effect.

The project is ``DY_PROJECT_DIR`` (default: this repository), so tests work on a copy.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import stat
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from editing.checks.code import code_files
from editing.checks.domain import Domain
from editing.checks.training_files import nlu_files
from editing.project import ANNOTATION, Project
from editing.validate import validate
from playbook.model import MAX_ANSWER_PHRASE_CHARS
from playbook.registry import PlaybookRegistry
from playbook.sourcefile import PROJECT_ROOT, SourceError, line_of, read_yaml_with_lines
from tickets.privacy import redact
from understanding.answers import VERDICT_KEYS

logger = logging.getLogger(__name__)

MAX_EXAMPLE_CHARS = 200
#: Intents a message cannot be filed under: Rasa's fallback and the ones other systems send.
NOT_LABELLED = re.compile(r"^(nlu_fallback|EXTERNAL_\w+)$")
#: How an answer phrase's label reads in a message to the editor.
VERDICT_TITLES = {"worked": "解决了", "failed": "没解决", "human": "要人工"}
_HTML = re.compile(r"<\s*[A-Za-z!/?]")
_EXAMPLES_KEY = re.compile(r"^\s*examples:\s*\|[-+0-9]*\s*(#.*)?$")
_BARE_KEY = re.compile(r"^\s*(?:-\s+)?[A-Za-z_][\w]*:\s*(#.*)?$")

_lock = threading.Lock()
#: (project root, with Rasa's checks) -> (fingerprint of its files, their problems)
_before: dict[tuple[str, bool], tuple[str, list[str]]] = {}
_registries: dict[str, PlaybookRegistry] = {}


class LabelRefused(ValueError):
    """The label cannot be written; the message (Chinese) says why and what to do."""


@dataclass(frozen=True)
class Outcome:
    """What became of one label."""

    written: bool
    kind: str  # intent | answer
    target: str  # the intent, or playbook/step:label
    text: str  # the phrase as filed (masked)
    file: str | None = None  # relative to the project
    line: int | None = None
    problems: tuple[str, ...] = ()  # refused: the new problems; written: the project's others
    notices: tuple[str, ...] = ()
    message: str = ""

    @property
    def validator_text(self) -> str:
        """The validator's result in one text (what the audit keeps)."""
        if self.written and not self.problems:
            return "校验通过 (validation passed)"
        return "\n".join(self.problems) or self.message


def project_dir() -> Path:
    """The project the console files labels into: ``DY_PROJECT_DIR``, else this repository."""
    return Path(os.environ.get("DY_PROJECT_DIR") or PROJECT_ROOT).resolve()


# --- what may be labelled ------------------------------------------------------------------------


def label_intents(project: Project) -> list[str]:
    """The domain's intents a message may be filed under (in the domain's order)."""
    return [i for i in Domain(project).intents if i and not NOT_LABELLED.match(i)]


def _registry(project: Project) -> PlaybookRegistry:
    key = str(project.playbook_dir)
    if key not in _registries:
        _registries[key] = PlaybookRegistry(project.playbook_dir, root=project.root)
    return _registries[key]


def label_steps(project: Project) -> list[dict[str, str]]:
    """The steps of the project's valid playbooks whose answers can be given phrases."""
    steps = []
    for playbook in _registry(project).all():
        for step in playbook.steps.values():
            if step.branch is None:
                steps.append(
                    {
                        "value": f"{playbook.id}/{step.id}",
                        "playbook": playbook.id,
                        "step": step.id,
                        "playbook_title": playbook.title,
                        "title": step.title,
                        "file": playbook.source,
                    }
                )
    return steps


def clean_text(text: Any, limit: int, what: str) -> str:
    """The phrase to file, masked and on one line, or :class:`LabelRefused`."""
    raw = text if isinstance(text, str) else ""
    if re.search(r"[\r\n\u2028\u2029]", raw.strip()):
        raise LabelRefused(f"{what}只能是一行，请删掉换行后再提交。")
    flat = " ".join(raw.split())
    if not flat:
        raise LabelRefused(f"请填写要写入的{what}。")
    if len(flat) > limit:
        raise LabelRefused(
            f"{what}太长了（{len(flat)} 字），请只保留用户的那句话，不超过 {limit} 字。"
        )
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co") for c in flat):
        raise LabelRefused(f"{what}里有看不见的控制字符，请重新输入。")
    if _HTML.search(flat):
        raise LabelRefused(
            f"{what}里有 HTML 标签（例如 <script>），工作台不写入这样的句子。"
            f"如果确实需要，请直接编辑 data/ 下的文件并运行 make validate。"
        )
    return redact(flat)  # phone numbers and e-mail addresses never go into training data


# --- writing -------------------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _newline(lines: Sequence[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def _insert(lines: list[str], after: int, new: list[str]) -> tuple[list[str], int]:
    """``new`` lines (without line ends) after the 0-based line ``after``; returns the lines
    and the 1-based number of the first new line."""
    nl = _newline(lines)
    result = list(lines)
    tail = ""
    if after >= 0 and not result[after].endswith(("\n", "\r")):
        result[after] += nl  # the file ended without a line end: the new line ends it alike
        tail = nl
    added = [line + nl for line in new]
    if tail:
        added[-1] = added[-1][: -len(nl)]
    result[after + 1 : after + 1] = added
    return result, after + 2


def _block_end(
    lines: Sequence[str], start: int, indent: int, *, same_indent_items: bool = False
) -> int:
    """The 0-based last content line of the block that follows line ``start`` (0-based):
    lines indented deeper than ``indent`` (and ``- `` items at ``indent`` when allowed);
    blank lines and comments in between do not end it."""
    last = start
    for index in range(start + 1, len(lines)):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = _indent(lines[index])
        if depth > indent or (same_indent_items and depth == indent and stripped.startswith("- ")):
            last = index
            continue
        break
    return last


def _first_item_indent(lines: Sequence[str], start: int, end: int) -> int | None:
    for index in range(start + 1, end + 1):
        if lines[index].lstrip().startswith("- "):
            return _indent(lines[index])
    return None


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar in a block list: plain when it reads back as itself."""
    try:
        if yaml.safe_load(f"- {text}") == [text]:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def _nlu_block(project: Project, intent: str) -> tuple[Path, Any, int]:
    """The first NLU file with an ``- intent:`` block for ``intent``: (file, its data, the
    block's index in ``nlu``)."""
    for path in nlu_files(project):
        data, _ = project.read(path)
        for index, block in enumerate(data.get("nlu") or []):
            if isinstance(block, dict) and str(block.get("intent")) == intent:
                return path, data, index
    raise LabelRefused(
        f"data/nlu/ 里还没有意图 {intent} 的例句块，请先在训练文件中为它写一个"
        f"「- intent: {intent} / examples: |」块。"
    )


def _example_lines(project: Project, intent: str, text: str) -> tuple[Path, bytes, bytes, int]:
    path, data, index = _nlu_block(project, intent)
    block = data["nlu"][index]
    if "examples" not in block or not isinstance(block.get("examples"), str):
        raise LabelRefused(
            f"{project.rel(path)} 中意图 {intent} 的 examples 不是文字块，"
            f"请先运行 make validate 按提示修好。"
        )
    original = path.read_bytes()
    lines = original.decode("utf-8").splitlines(keepends=True)
    key = line_of(block, "examples") - 1
    if not _EXAMPLES_KEY.match(lines[key].rstrip("\r\n")):
        raise LabelRefused(
            f"{project.rel(path)}:{key + 1}: 意图 {intent} 的例句没有写成 "
            f"「examples: |」文字块，工作台无法安全地追加，请手工添加。"
        )
    end = _block_end(lines, key, _indent(lines[key]))
    indent = _first_item_indent(lines, key, end)
    indent = indent if indent is not None else _indent(lines[key]) + 2
    new_lines, line = _insert(lines, end, [" " * indent + "- " + text])
    updated = "".join(new_lines)
    # the data must read back exactly as before, plus this one example
    expected = copy.deepcopy(yaml.safe_load(original.decode("utf-8")))
    old = expected["nlu"][index]["examples"]
    body = old.rstrip("\n").split("\n") if old.strip() else []
    expected["nlu"][index]["examples"] = "\n".join(body + ["- " + text]) + (
        "\n" if old.endswith("\n") or not old else ""
    )
    _same_or_refuse(updated, expected, project.rel(path))
    return path, original, updated.encode("utf-8"), line


def _same_or_refuse(updated: str, expected: Any, file: str) -> None:
    try:
        reread = yaml.safe_load(updated)
    except yaml.YAMLError:
        reread = None
    if reread != expected:
        raise LabelRefused(
            f"{file}: 这个文件的写法比较特殊，工作台无法只追加这一行而不改动其他内容，请手工添加。"
        )


def _answer_lines(
    project: Project, playbook_id: str, step_id: str, label: str, text: str
) -> tuple[Path, bytes, bytes, int]:
    playbook = next((p for p in _registry(project).all() if p.id == playbook_id), None)
    if playbook is None:
        raise LabelRefused(f"找不到手册 {playbook_id}：它可能已改名、被删除，或者文件未通过检查。")
    path = project.root / playbook.source
    try:
        data = read_yaml_with_lines(path, playbook.source)
    except (SourceError, OSError):
        raise LabelRefused(
            f"{playbook.source} 目前读不出来，请先运行 make validate 按提示修好。"
        ) from None
    steps = data.get("steps") if isinstance(data, dict) else None
    index, raw = next(
        (
            (i, s)
            for i, s in enumerate(steps or [])
            if isinstance(s, dict) and s.get("id") == step_id
        ),
        (None, None),
    )
    if raw is None or "branch" in raw:
        raise LabelRefused(
            f"手册 {playbook_id} 里没有可以回答的步骤 {step_id}，请刷新页面后重新选择。"
        )
    original = path.read_bytes()
    lines = original.decode("utf-8").splitlines(keepends=True)
    first = line_of(raw) - 1
    prefix = re.match(r"^(\s*-\s+)", lines[first])
    key_indent = len(prefix.group(1)) if prefix else _indent(lines[first])
    answers = raw.get("answers")
    answers_key = lines[line_of(raw, "answers") - 1].rstrip("\r\n") if "answers" in raw else ""
    if "answers" in raw and not (isinstance(answers, dict) and _BARE_KEY.match(answers_key)):
        raise LabelRefused(
            f"{playbook.source}:{line_of(raw, 'answers')}: 步骤 {step_id} 的 answers "
            f"不是「answers: / worked: / - 说法」的写法，请先手工改成每行一条。"
        )
    if isinstance(answers, dict) and label in answers:
        label_at = line_of(answers, label) - 1
        if not isinstance(answers[label], list) or not _BARE_KEY.match(
            lines[label_at].rstrip("\r\n")
        ):
            raise LabelRefused(
                f"{playbook.source}:{label_at + 1}: answers.{label} 不是每行一条"
                f"「- 说法」的列表，请先手工改好。"
            )
        end = _block_end(lines, label_at, _indent(lines[label_at]), same_indent_items=True)
        indent = _first_item_indent(lines, label_at, end)
        indent = indent if indent is not None else _indent(lines[label_at]) + 2
        new = [" " * indent + "- " + _scalar(text)]
    elif isinstance(answers, dict):
        answers_at = line_of(raw, "answers") - 1
        end = _block_end(lines, answers_at, key_indent)
        label_indent = next(
            (
                _indent(lines[i])
                for i in range(answers_at + 1, end + 1)
                if lines[i].strip() and not lines[i].strip().startswith("#")
            ),
            key_indent + 2,
        )
        new = [" " * label_indent + f"{label}:", " " * (label_indent + 2) + "- " + _scalar(text)]
    else:
        end = _block_end(lines, first, key_indent - 1)  # the step's own keys belong to it
        new = [
            " " * key_indent + "answers:",
            " " * (key_indent + 2) + f"{label}:",
            " " * (key_indent + 4) + "- " + _scalar(text),
        ]
    new_lines, line = _insert(lines, end, new)
    updated = "".join(new_lines)
    expected = copy.deepcopy(yaml.safe_load(original.decode("utf-8")))
    step = expected["steps"][index]
    step.setdefault("answers", {}).setdefault(label, []).append(text)
    _same_or_refuse(updated, expected, playbook.source)
    return path, original, updated.encode("utf-8"), line + len(new) - 1


def _replace(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` at once (a reader sees the old or the new file)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(content)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


# --- checking -----------------------------------------------------------------------------------


def _fingerprint(project: Project) -> str:
    """A hash of everything the validator reads."""
    digest = hashlib.sha256()
    files = [
        project.domain_path,
        project.config_path,
        project.test_stories_path,
        project.test_nlu_path,
        *sorted(project.data_dir.rglob("*")),
        *code_files(project),
    ]
    for path in files:
        if path.is_file():
            digest.update(str(path).encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _problems(root: Path, with_rasa: bool) -> list[str]:
    return validate(Project(root), with_rasa=with_rasa)


def _shifted(problem: str, file: str, at: int, count: int) -> str:
    """A problem found before the write, with its lines in ``file`` as they are after
    ``count`` lines were inserted at line ``at``."""
    pattern = re.compile(rf"(?<![\w/.-]){re.escape(file)}:(\d+)")

    def move(match: re.Match[str]) -> str:
        line = int(match.group(1))
        return f"{file}:{line + count if line >= at else line}"

    return pattern.sub(move, problem)


def _signature(problem: str) -> str:
    """A problem without its counts (an intent's example count changes with every label)."""
    where, separator, text = problem.partition(": ")
    return where + separator + re.sub(r"\d+", "#", text)


def _file_problems(
    project: Project,
    path: Path,
    original: bytes,
    content: bytes,
    at: int,
    count: int,
    with_rasa: bool,
) -> tuple[bool, list[str], list[str]]:
    """Write ``content`` over ``original`` (``count`` new lines from line ``at``) and validate;
    (accepted, the problems to show, the problems the project had before)."""
    root = project.root
    fingerprint = _fingerprint(project)
    before = _before_problems(project, fingerprint, with_rasa)
    file = project.rel(path)
    known = {_signature(_shifted(p, file, at, count)) for p in before}
    _replace(path, content)
    try:
        after = _problems(root, with_rasa)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the file goes back
        _replace(path, original)
        logger.error("validator failed after a label (%s); %s restored", type(exc).__name__, file)
        return (
            False,
            [
                f"{file}:{at}: 校验程序运行出错（{type(exc).__name__}），这条标注没有写入，"
                f"请联系开发人员 (validator failed)"
            ],
            before,
        )
    new = [p for p in after if _signature(p) not in known]
    if new:
        _replace(path, original)
        return False, new, before
    _before[(str(root), with_rasa)] = (_fingerprint(project), after)
    return True, after, before


def _before_problems(project: Project, fingerprint: str, with_rasa: bool) -> list[str]:
    cached = _before.get((str(project.root), with_rasa))
    if cached and cached[0] == fingerprint:
        return cached[1]
    problems = _problems(project.root, with_rasa)
    _before[(str(project.root), with_rasa)] = (fingerprint, problems)
    return problems


_warming: set[str] = set()


def prepare(project: Project) -> None:
    """Validate the project as it is now, in the background, so that the next label only
    has to check the project after its write (a page with labels to give calls this)."""
    root = str(project.root)
    if root in _warming:
        return

    def run() -> None:
        try:
            with _lock:
                fresh = Project(project.root)
                _before_problems(fresh, _fingerprint(fresh), True)
        except Exception as exc:  # noqa: BLE001 - the label itself will validate again
            logger.warning("validation in advance failed (%s)", type(exc).__name__)
        finally:
            _warming.discard(root)

    _warming.add(root)
    threading.Thread(target=run, name="label-validate", daemon=True).start()


def _notices(project: Project) -> tuple[str, ...]:
    from editing.fingerprint import training_notices

    try:
        return tuple(training_notices(project))
    except Exception:  # noqa: BLE001 - a notice is a courtesy, never a reason to fail
        return ()


def _apply(
    project: Project,
    kind: str,
    target: str,
    text: str,
    build: Callable[[Project], tuple[Path, bytes, bytes, int]],
    with_rasa: bool,
) -> Outcome:
    with _lock:
        project = Project(project.root)  # read afresh: an earlier label may have changed a file
        path, original, updated, line = build(project)
        count = len(updated.decode("utf-8").splitlines()) - len(
            original.decode("utf-8").splitlines()
        )
        first = line - count + 1
        accepted, problems, _ = _file_problems(
            project, path, original, updated, first, count, with_rasa
        )
    file = project.rel(path)
    where = f"{file} 第 {line} 行"
    step, verdict = target.split(":")[0], target.split(":")[-1]
    what = (
        f"意图 {target} 的例句"
        if kind == "intent"
        else f"步骤 {step} 的「{VERDICT_TITLES.get(verdict, '')}」说法"
    )
    if not accepted:
        return Outcome(
            False,
            kind,
            target,
            text,
            file,
            line,
            tuple(problems),
            (),
            f"没有写入：这条标注会让校验报告新的问题，{file} 已恢复原样。请看下面校验的说明。",
        )
    logger.info("label written: %s %s at %s:%d", kind, target, file, line)
    effect = (
        "需要运行 make train 重新训练后才会生效。"
        if kind == "intent"
        else "手册的回答说法不需要训练：读取这个项目的动作服务器在下一轮对话就会用上。"
    )
    return Outcome(
        True,
        kind,
        target,
        text,
        file,
        line,
        tuple(problems),
        _notices(Project(project.root)),
        f"已写入 {where}，作为{what}。{effect}",
    )


def add_example(project: Project, intent: str, text: Any, *, with_rasa: bool = True) -> Outcome:
    """File ``text`` as a training example of ``intent`` (see the module's docstring)."""
    phrase = clean_text(text, MAX_EXAMPLE_CHARS, "例句")
    if phrase.startswith("/"):
        raise LabelRefused("例句不能以 / 开头：Rasa 会把它当成「/意图」指令，而不是用户的话。")
    if ANNOTATION.search(phrase):
        raise LabelRefused(
            "例句里有「[文字](名称)」这样的写法，训练时会被当成实体标注。"
            "请去掉方括号，或直接编辑 data/nlu/ 下的文件。"
        )
    if intent not in label_intents(project):
        raise LabelRefused(f"没有可以写入例句的意图 {intent!r}，请从列表中选择一个意图。")
    return _apply(
        project,
        "intent",
        intent,
        phrase,
        lambda fresh: _example_lines(fresh, intent, phrase),
        with_rasa,
    )


def add_answer(
    project: Project, step: str, label: str, text: Any, *, with_rasa: bool = True
) -> Outcome:
    """File ``text`` as an answer phrase (``label``: worked / failed / human) of ``step``
    (``playbook/step``)."""
    phrase = clean_text(text, MAX_ANSWER_PHRASE_CHARS, "回答说法")
    if label not in VERDICT_KEYS:
        raise LabelRefused(
            "请选择这句话的意思：解决了（worked）、没解决（failed）或要人工（human）。"
        )
    playbook_id, _, step_id = str(step or "").partition("/")
    known = {s["value"] for s in label_steps(project)}
    if f"{playbook_id}/{step_id}" not in known:
        raise LabelRefused(f"没有这个手册步骤 {str(step)[:80]!r}，请从列表中选择一个步骤。")
    return _apply(
        project,
        "answer",
        f"{playbook_id}/{step_id}:{label}",
        phrase,
        lambda fresh: _answer_lines(fresh, playbook_id, step_id, label, phrase),
        with_rasa,
    )
