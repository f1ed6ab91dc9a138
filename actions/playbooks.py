"""Troubleshooting playbooks: load ``data/playbooks/*.yml``, check them, and keep them fresh.

A playbook is data written by content editors. Every mistake is reported as
``file:line: 中文说明 (English key)`` and an invalid file never replaces the last valid version.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlparse

import yaml

from understanding.answers import ANSWER_LABELS

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAYBOOK_DIR = PROJECT_ROOT / "data" / "playbooks"

RESOLVED = "resolved"
ESCALATE = "escalate"
TERMINALS = {RESOLVED, ESCALATE}
STEP_KEYS = {"id", "title", "message", "check", "link", "image", "video", "on_yes", "on_no",
             "on_human", "branch", "answers"}
#: A step's own answer phrases: ``answers: {worked: [...], failed: [...], human: [...]}``.
ANSWER_KEYS = ANSWER_LABELS
MAX_ANSWER_PHRASE_CHARS = 40
ID_FORMAT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TOP_KEYS = {"id", "title", "category", "triggers", "intro", "intros", "steps", "escalation",
            "mentions"}
TRIGGER_KEYS = {"intent", "start"}
MAX_MENTION_CHARS = 20


class PlaybookError(ValueError):
    """A playbook file is invalid. ``problems`` holds one ``file:line: message`` per mistake."""

    def __init__(self, problems: List[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --- YAML with line numbers -------------------------------------------------------------


class _LineDict(dict):
    """A dict that remembers the 1-based line of itself and of each key."""

    line: int = 0
    key_lines: Dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    # keys written here (not merged in with "<<:", which they may override) must be usable
    # and written once: YAML would silently keep the last of two
    seen = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict, set)):
            raise yaml.constructor.ConstructorError(
                None, None, "冒号前的名字不能是列表或映射（例如 [直播, 推流]:），每个取值请单独写一行",
                key_node.start_mark)
        marker = (type(key).__name__, key)
        if marker in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"字段 {key} 在同一处写了两次，后一个会悄悄覆盖前一个，请删除多余的一行",
                key_node.start_mark)
        seen.add(marker)
    loader.flatten_mapping(node)
    mapping = _LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:  # merged keys first, then the ones written here
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict, set)):
            raise yaml.constructor.ConstructorError(
                None, None, "冒号前的名字不能是列表或映射，请检查合并进来（<<:）的内容",
                key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line(mapping: Any, key: Optional[str] = None) -> int:
    if isinstance(mapping, _LineDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return 1


# --- the model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Branch:
    slot: str
    cases: Mapping[str, str]
    default: str


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    message: str = ""
    check: str = ""
    link: Optional[Link] = None
    image: Optional[str] = None
    video: Optional[Link] = None
    on_yes: str = RESOLVED
    on_no: str = ESCALATE
    on_human: str = ESCALATE
    branch: Optional[Branch] = None
    #: the editor's answer phrases for this step, by label (see :data:`ANSWER_KEYS`)
    answers: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    line: int = field(default=1, compare=False)  # where the editor wrote the step's id


@dataclass(frozen=True)
class Trigger:
    intent: str
    start: str
    #: words that show a message mentions this problem (「密码也忘了」): when a message starts
    #: another playbook and names this problem too, this trigger is offered after it
    mentions: Tuple[str, ...] = ()
    line: int = field(default=1, compare=False)  # where the editor wrote it, for messages


@dataclass(frozen=True)
class Escalation:
    category: str
    priority: str
    message: str = ""
    line: int = field(default=1, compare=False)  # the line of its category


@dataclass(frozen=True)
class Playbook:
    id: str
    title: str
    category: str
    triggers: Tuple[Trigger, ...]
    intro: str
    steps: Mapping[str, Step]
    escalation: Escalation
    intros: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    line: int = field(default=1, compare=False)  # the line of its id, for messages

    def step(self, step_id: Optional[str]) -> Optional[Step]:
        return self.steps.get(step_id) if step_id else None

    def trigger_for(self, intent: Optional[str]) -> Optional[Trigger]:
        return next((t for t in self.triggers if t.intent == intent), None)

    def intro_for(self, intent: Optional[str]) -> str:
        return self.intros.get(intent or "", self.intro)


# --- parsing and checking ---------------------------------------------------------------


def _valid_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and " " not in url


def _branch_loop(steps: Mapping[str, Step], start: str) -> List[str]:
    """A path of branch steps from ``start`` back to itself, or [] if there is none."""
    path: List[str] = []

    def visit(step_id: str) -> bool:
        step = steps.get(step_id)
        if step is None or not step.branch:
            return False
        if step_id == start and path:
            path.append(step_id)
            return True
        if step_id in path:
            return False
        path.append(step_id)
        for target in [*step.branch.cases.values(), step.branch.default]:
            if visit(target):
                return True
        path.pop()
        return False

    return path if visit(start) else []


def _with_mentions(data: Mapping[str, Any], triggers: List[Trigger],
                   problem: Callable[[int, str], None]) -> List[Trigger]:
    """The playbook's ``mentions:`` (trigger intent -> short phrases that name the problem
    inside a longer message), checked and given to the triggers."""
    given = data.get("mentions")
    if given is None:
        return triggers
    if not isinstance(given, dict):
        problem(_line(data, "mentions"), "mentions 必须写成 意图: 说法列表，例如 forgot_password: 下面每行"
                                         "一个「- 密码忘了」 (mentions must be a mapping)")
        return triggers
    by_intent: Dict[str, Tuple[str, ...]] = {}
    for intent, phrases in given.items():
        line = _line(given, str(intent))
        if intent not in {t.intent for t in triggers}:
            problem(line, f"mentions 里的 {intent} 不是这本手册的触发意图，可选："
                          f"{', '.join(t.intent for t in triggers)} (mentions for an unknown trigger)")
            continue
        if not isinstance(phrases, list) or not phrases:
            problem(line, f"mentions.{intent} 必须是至少一条说法的列表 (mentions must be a list)")
            continue
        kept: List[str] = []
        for index, mention in enumerate(phrases):
            text = mention.strip() if isinstance(mention, str) else ""
            if not text or len(text) > MAX_MENTION_CHARS:
                problem(line + 1 + index, f"mentions.{intent} 第 {index + 1} 条必须是不超过 "
                                          f"{MAX_MENTION_CHARS} 字的一个词或短语 (invalid mention)")
            elif text.lower() in (m.lower() for m in kept):
                problem(line + 1 + index, f"mentions.{intent} 里的「{text}」写了两次，请删掉一条 "
                                          f"(duplicate mention)")
            else:
                kept.append(text)
        by_intent[str(intent)] = tuple(kept)
    return [Trigger(intent=t.intent, start=t.start, mentions=by_intent.get(t.intent, ()), line=t.line)
            for t in triggers]


def _parse_answers(raw: Mapping[str, Any], step_id: str,
                   problem: Callable[[int, str], None]) -> Dict[str, Tuple[str, ...]]:
    """The step's ``answers:`` (phrases only this step has, e.g. 「登上去了」), checked."""
    if "answers" not in raw:
        return {}
    given = raw["answers"]
    line = _line(raw, "answers")
    if not isinstance(given, dict) or not given:
        problem(line, f"步骤 {step_id} 的 answers 必须写成 worked: / failed: / human: 下面的说法列表 "
                      f"(answers must be a mapping of labels to phrases)")
        return {}
    answers: Dict[str, Tuple[str, ...]] = {}
    owner: Dict[str, str] = {}
    for label, phrases in given.items():
        label_line = _line(given, str(label))
        if label not in ANSWER_KEYS:
            problem(label_line, f"步骤 {step_id} 的 answers 里没有 {label!r} 这一类，可用："
                                f"{', '.join(ANSWER_KEYS)}（worked 解决了、failed 没解决、human 要人工） "
                                f"(unknown answer label)")
            continue
        if not isinstance(phrases, list) or not phrases:
            problem(label_line, f"步骤 {step_id} 的 answers.{label} 必须是至少一条说法的列表 "
                                f"(answer phrases must be a non-empty list)")
            continue
        kept: List[str] = []
        for index, phrase in enumerate(phrases):
            where = label_line + 1 + index  # one phrase a line, as the guide writes them
            text = phrase.strip() if isinstance(phrase, str) else ""
            if not text:
                problem(where, f"步骤 {step_id} 的 answers.{label} 第 {index + 1} 条是空的或不是文字 "
                               f"(answer phrase must be text)")
                continue
            if len(text) > MAX_ANSWER_PHRASE_CHARS:
                problem(where, f"步骤 {step_id} 的 answers.{label} 第 {index + 1} 条太长了（{len(text)} 字），"
                               f"请只写用户会说的那个短语，不超过 {MAX_ANSWER_PHRASE_CHARS} 字 "
                               f"(answer phrase too long)")
                continue
            key = text.lower()
            if key in owner:
                same = owner[key] == label
                problem(where, f"步骤 {step_id} 的说法「{text}」" + (
                    f"在 answers.{label} 里写了两次，请删掉一条 (duplicate answer phrase)" if same else
                    f"同时写在 answers.{owner[key]} 和 answers.{label} 里，一句话只能有一种意思 "
                    f"(answer phrase under two labels)"))
                continue
            owner[key] = label
            kept.append(text)
        if kept:
            answers[str(label)] = tuple(kept)
    return answers


def parse_playbook(
    data: Any,
    source: str,
    *,
    priorities: Optional[Iterable[str]] = None,
    base_dir: Optional[Path] = None,
) -> Playbook:
    """Build a :class:`Playbook` from YAML data, collecting every problem before raising."""
    problems: List[str] = []

    def problem(line: int, text: str) -> None:
        problems.append(f"{source}:{line}: {text}")

    if not isinstance(data, dict):
        raise PlaybookError([f"{source}:1: 文件必须是一个映射，包含 id、title、triggers、steps、"
                             f"escalation (playbook must be a mapping)"])
    for key in data:
        if key not in TOP_KEYS:
            problem(_line(data, key), f"未知字段 {key!r}，可用字段：{', '.join(sorted(TOP_KEYS))} "
                                      f"(unknown key)")
    for key in ("id", "title", "category", "intro"):
        if not isinstance(data.get(key), str) or not data.get(key, "").strip():
            problem(_line(data, key), f"缺少 {key} 或它不是文字，请填写 (missing {key})")
    if isinstance(data.get("id"), str) and data["id"].strip() and not ID_FORMAT.match(data["id"]):
        problem(_line(data, "id"), f"手册 id {data['id']!r} 只能用小写英文字母、数字和下划线，并以字母开头 "
                                   f"(invalid playbook id)")

    raw_steps = data.get("steps")
    steps: Dict[str, Step] = {}
    step_lines: Dict[str, int] = {}
    if not isinstance(raw_steps, list) or not raw_steps:
        problem(_line(data, "steps"), "steps 必须是至少包含一个步骤的列表 (steps must be a non-empty list)")
        raw_steps = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            problem(_line(data, "steps"), f"第 {index + 1} 个步骤必须是映射 (step must be a mapping)")
            continue
        step_id = raw.get("id")
        if step_id is not None and not isinstance(step_id, str):
            problem(_line(raw, "id"), f"第 {index + 1} 个步骤的 id {step_id!r} 必须是英文名字，例如 "
                                      f"check_network (invalid step id)")
            continue
        if not isinstance(step_id, str) or not step_id.strip():
            problem(_line(raw), f"第 {index + 1} 个步骤缺少 id (step id missing)")
            continue
        if not ID_FORMAT.match(step_id):
            problem(_line(raw, "id"), f"步骤 id {step_id!r} 只能用小写英文字母、数字和下划线，并以字母开头 "
                                      f"(invalid step id)")
            continue
        if step_id in TERMINALS:
            problem(_line(raw, "id"), f"步骤 id 不能叫 {step_id!r}，它是保留字 (reserved step id)")
            continue
        if step_id in steps:
            problem(_line(raw, "id"), f"步骤 id {step_id!r} 重复了，请改成唯一的名字 (duplicate step id)")
            continue
        for key in raw:
            if key not in STEP_KEYS:
                problem(_line(raw, key), f"步骤 {step_id} 有未知字段 {key!r}，可用字段："
                                         f"{', '.join(sorted(STEP_KEYS))} (unknown step key)")
        step_lines[step_id] = _line(raw, "id")
        branch = None
        if "branch" in raw:
            raw_branch = raw["branch"]
            if (not isinstance(raw_branch, dict) or not isinstance(raw_branch.get("cases"), dict)
                    or not isinstance(raw_branch.get("slot"), str) or not raw_branch.get("slot")
                    or not isinstance(raw_branch.get("default"), str) or not raw_branch.get("default")):
                problem(_line(raw, "branch"), f"步骤 {step_id} 的 branch 需要 slot、cases 和 default "
                                              f"(branch needs slot, cases, default)")
            else:
                branch = Branch(slot=str(raw_branch["slot"]),
                                cases={str(k): str(v) for k, v in raw_branch["cases"].items()},
                                default=str(raw_branch["default"]))
        else:
            for key in ("message", "check"):
                if not isinstance(raw.get(key), str) or not raw.get(key, "").strip():
                    problem(_line(raw, key if key in raw else "id"),
                            f"步骤 {step_id} 缺少 {key}（{'展示给用户的内容' if key == 'message' else '询问是否解决的问题'}），"
                            f"请补充 (step {key} missing)")
        link = video = None
        for key in ("link", "video"):
            if key in raw:
                raw_link = raw[key]
                if not isinstance(raw_link, dict) or not raw_link.get("title") \
                        or not _valid_url(raw_link.get("url")):
                    problem(_line(raw, key), f"步骤 {step_id} 的 {key} 需要 title 和以 http:// 或 https:// "
                                             f"开头的有效 url (invalid {key})")
                else:
                    made = Link(title=str(raw_link["title"]), url=str(raw_link["url"]))
                    link, video = (made, video) if key == "link" else (link, made)
        image = raw.get("image")
        if image is not None:
            if not isinstance(image, str) or not image.strip():
                problem(_line(raw, "image"), f"步骤 {step_id} 的 image 必须是网址或图片文件路径 (invalid image)")
                image = None
            elif not _valid_url(image):
                image_path = (base_dir or PROJECT_ROOT) / image
                if not image_path.is_file():
                    problem(_line(raw, "image"), f"步骤 {step_id} 的图片 {image!r} 不存在，请检查路径或改用网址 "
                                                 f"(image file not found)")
        answers = _parse_answers(raw, step_id, problem)
        default_no = ESCALATE
        steps[step_id] = Step(
            id=step_id,
            title=str(raw.get("title") or step_id),
            message=str(raw.get("message") or "").strip(),
            check=str(raw.get("check") or "").strip(),
            link=link,
            image=image,
            video=video,
            on_yes=str(raw.get("on_yes", RESOLVED)),
            on_no=str(raw.get("on_no", default_no)),
            on_human=str(raw.get("on_human", ESCALATE)),
            branch=branch,
            answers=answers,
            line=_line(raw, "id"),
        )
        for key in ("on_yes", "on_no", "on_human"):
            if key in raw and (raw[key] is None or not str(raw[key]).strip()):
                problem(_line(raw, key), f"步骤 {step_id} 的 {key} 是空的，请填写某一步的 id、resolved 或 "
                                         f"escalate (empty target)")

    def check_target(target: str, line: int, what: str) -> None:
        if target not in steps and target not in TERMINALS:
            problem(line, f"{what} 指向的步骤 {target!r} 不存在，可选：{', '.join(list(steps) + sorted(TERMINALS))} "
                          f"(unknown step)")

    for raw in raw_steps:
        if not isinstance(raw, dict) or raw.get("id") not in steps:
            continue
        step = steps[raw["id"]]
        for key in ("on_yes", "on_no", "on_human"):
            check_target(getattr(step, key), _line(raw, key), f"步骤 {step.id} 的 {key}")
        if step.branch:
            for case, target in step.branch.cases.items():
                if target in TERMINALS:
                    problem(_line(raw, "branch"), f"步骤 {step.id} 的分支 {case} 必须指向一个步骤 (branch target must be a step)")
                else:
                    check_target(target, _line(raw, "branch"), f"步骤 {step.id} 的分支 {case}")
            if step.branch.default in TERMINALS:
                problem(_line(raw, "branch"), f"步骤 {step.id} 的 default 必须指向一个步骤，不能是 "
                                              f"{step.branch.default} (branch target must be a step)")
            else:
                check_target(step.branch.default, _line(raw, "branch"), f"步骤 {step.id} 的 default")

    # branch steps that lead only to each other would never show anything
    for step in steps.values():
        if step.branch:
            loop = _branch_loop(steps, step.id)
            if loop:
                problem(step_lines[step.id], f"步骤 {step.id} 的分支形成了循环（{' → '.join(loop)}），"
                                             f"用户会卡住，请让分支最终指向一个普通步骤 (branch loop)")

    triggers: List[Trigger] = []
    raw_triggers = data.get("triggers")
    if not isinstance(raw_triggers, list) or not raw_triggers:
        problem(_line(data, "triggers"), "triggers 必须列出至少一个触发意图 (intent) 和起始步骤 (start) "
                                         "(no trigger intent)")
        raw_triggers = []
    for raw in raw_triggers:
        if not isinstance(raw, dict) or not isinstance(raw.get("intent"), str) \
                or not isinstance(raw.get("start"), str) or not raw["intent"] or not raw["start"]:
            problem(_line(raw) if isinstance(raw, dict) else _line(data, "triggers"),
                    "每个 trigger 需要 intent 和 start (trigger needs intent and start)")
            continue
        if raw["start"] not in steps:
            problem(_line(raw, "start"), f"trigger 的起始步骤 {raw['start']!r} 不存在 (unknown start step)")
        for key in raw:
            if key not in TRIGGER_KEYS:
                problem(_line(raw, key), f"trigger 有未知字段 {key!r}，可用字段：{', '.join(sorted(TRIGGER_KEYS))} "
                                         f"(unknown trigger key)")
        triggers.append(Trigger(intent=str(raw["intent"]), start=str(raw["start"]),
                                line=_line(raw, "intent")))
    triggers = _with_mentions(data, triggers, problem)

    # every step must be reachable from some trigger
    reachable = set()
    frontier = [t.start for t in triggers if t.start in steps]
    while frontier:
        current = frontier.pop()
        if current in reachable or current not in steps:
            continue
        reachable.add(current)
        step = steps[current]
        frontier.extend([step.on_yes, step.on_no, step.on_human])
        if step.branch:
            frontier.extend(step.branch.cases.values())
            frontier.append(step.branch.default)
    for step_id in steps:
        if triggers and step_id not in reachable:
            problem(step_lines[step_id], f"步骤 {step_id} 从任何起始步骤都走不到，请检查 on_yes/on_no 的指向 "
                                         f"(unreachable step)")

    raw_esc = data.get("escalation")
    escalation = Escalation(category="other", priority="general")
    if not isinstance(raw_esc, dict) or not raw_esc.get("category") or not raw_esc.get("priority"):
        problem(_line(data, "escalation"), "escalation 需要 category（类别）和 priority（优先级） "
                                           "(escalation needs category and priority)")
    else:
        priority_names = list(priorities) if priorities is not None else None
        if priority_names is not None and raw_esc["priority"] not in priority_names:
            problem(_line(raw_esc, "priority"), f"优先级 {raw_esc['priority']!r} 不在优先级策略中，可选："
                                                f"{', '.join(priority_names)} (unknown priority)")
        if raw_esc.get("message") is not None and not isinstance(raw_esc.get("message"), str):
            problem(_line(raw_esc, "message"), "escalation 的 message 必须是一段文字（不是列表） "
                                               "(escalation message must be text)")
        escalation = Escalation(category=str(raw_esc["category"]), priority=str(raw_esc["priority"]),
                                message=str(raw_esc.get("message") or "").strip(),
                                line=_line(raw_esc, "category"))

    intros = data.get("intros") or {}
    if not isinstance(intros, dict):
        problem(_line(data, "intros"), "intros 必须是 意图: 开场白 的映射 (intros must be a mapping)")
        intros = {}
    for intent, text in intros.items():
        if not isinstance(text, str) or not text.strip():
            problem(_line(intros, str(intent)), f"intros 中意图 {intent} 的开场白是空的或不是文字，请填写 "
                                                f"(intro must be text)")
        elif triggers and intent not in {t.intent for t in triggers}:
            problem(_line(intros, str(intent)), f"intros 中的 {intent} 不是这本手册的触发意图，这句开场白"
                                                f"永远不会用到，请检查拼写 (intro for an unknown trigger)")

    if problems:
        raise PlaybookError(problems)
    return Playbook(
        id=data["id"], title=data["title"], category=data["category"], triggers=tuple(triggers),
        intro=data["intro"].strip(), steps=steps, escalation=escalation,
        intros={str(k): str(v).strip() for k, v in intros.items()}, source=source,
        line=_line(data, "id"),
    )


def read_yaml_with_lines(path: Path, source: str) -> Any:
    """Parse a YAML file; mappings remember their lines (see :func:`line_of`).

    A syntax error becomes a :class:`PlaybookError` with the file and line of the mistake.
    """
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise PlaybookError([f"{source}:{line}: YAML 格式错误：{getattr(exc, 'problem', exc)}，"
                             f"请检查缩进和冒号 (YAML syntax error)"]) from None
    except UnicodeDecodeError:
        raise PlaybookError([f"{source}:1: 文件不是 UTF-8 编码，请用 UTF-8 保存 "
                             f"(file is not UTF-8)"]) from None


#: The 1-based line of a mapping read by :func:`read_yaml_with_lines`, or of one of its keys.
line_of = _line


def load_playbook_file(path: Path, *, priorities: Optional[Iterable[str]] = None,
                       root: Optional[Path] = None) -> Playbook:
    """Read and check one playbook file. Messages name it relative to ``root`` (the
    project folder) when it lies inside; image paths are looked up there too."""
    root = root or PROJECT_ROOT
    source = str(path)
    if path.is_absolute() and path.is_relative_to(root):
        source = os.path.relpath(path, root)
    data = read_yaml_with_lines(path, source)
    return parse_playbook(data, source, priorities=priorities, base_dir=root)


class PlaybookRegistry:
    """All playbooks of a folder, reloaded when a file changes.

    A file that fails its checks is logged and skipped, and the last valid version of
    that playbook keeps serving. When a changed file would take the id or a trigger intent
    of a playbook that is live, the changed file is refused and its previous version keeps
    serving. ``priorities`` may be a callable (e.g. reading the priority policy), so that a
    new priority level is accepted without a restart.
    """

    def __init__(self, directory: Optional[Path] = None,
                 priorities: Union[Iterable[str], Callable[[], Iterable[str]], None] = None,
                 root: Optional[Path] = None) -> None:
        self.directory = Path(directory or os.environ.get("DY_PLAYBOOK_DIR") or DEFAULT_PLAYBOOK_DIR)
        self.root = root
        self._priorities = priorities if callable(priorities) or priorities is None \
            else list(priorities)
        self._last_priorities: Optional[List[str]] = None
        self._priority_error = ""
        self._lock = threading.Lock()
        self._stamp: Tuple = ()
        self._parsed: Dict[str, Playbook] = {}  # file -> its content on disk, when valid
        self._served: Dict[str, Playbook] = {}  # file -> the version that is live
        self._active: List[Playbook] = []
        self._parse_errors: Dict[str, List[str]] = {}
        self.errors: Dict[str, List[str]] = {}

    def _files(self) -> List[Path]:
        return sorted(p for p in self.directory.glob("*.yml") if p.is_file())

    def _current_priorities(self) -> Optional[List[str]]:
        """The policy's priority levels; while the policy is unreadable, the last good ones."""
        if not callable(self._priorities):
            return self._priorities
        try:
            self._last_priorities = list(self._priorities())
            self._priority_error = ""
        except Exception as exc:  # noqa: BLE001 - a broken policy must not stop the playbooks
            if str(exc) != self._priority_error:  # once per distinct mistake, not every turn
                self._priority_error = str(exc)
                logger.error("priority policy unreadable, using the last valid levels: %s", exc)
        return self._last_priorities

    def refresh(self) -> None:
        files = self._files()
        priorities = self._current_priorities()
        try:
            # size, times and inode: a same-size edit within the file system's time resolution
            # still changes the ctime or (when saved by rename) the inode
            stats = [(str(p), p.stat()) for p in files]  # one stat per file: this runs every turn
            stamp = (tuple(priorities or ()),
                     tuple((name, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)
                           for name, st in stats))
        except OSError:  # a file vanished while we looked: the next turn sees the new state
            return
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            seen = {str(path) for path in files}
            for path in files:
                try:
                    self._parsed[str(path)] = load_playbook_file(path, priorities=priorities,
                                                                  root=self.root)
                    self._parse_errors.pop(str(path), None)
                except PlaybookError as exc:
                    self._reject(str(path), exc.problems)
                except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
                    source = os.path.relpath(path, self.root or PROJECT_ROOT)
                    self._reject(str(path), [f"{source}:1: 文件无法读取：{type(exc).__name__}，请检查"
                                             f"文件内容 (playbook unreadable)"])
            for table in (self._parsed, self._served, self._parse_errors):
                for gone in set(table) - seen:
                    del table[gone]
            clash_errors = self._resolve()
            self.errors = {path: self._parse_errors.get(path, []) + clash_errors.get(path, [])
                           for path in sorted(set(self._parse_errors) | set(clash_errors))}
            self._active = sorted(self._served.values(), key=lambda p: p.source)
            self._stamp = stamp

    def _reject(self, path: str, problems: List[str]) -> None:
        self._parsed.pop(path, None)  # the content on disk is not valid: nothing new to serve
        if problems != self._parse_errors.get(path):
            for line in problems:
                logger.error("playbook rejected, keeping the last valid version: %s", line)
        self._parse_errors[path] = problems

    @staticmethod
    def _clashes(playbook: Playbook, others: Mapping[str, Playbook]) -> List[str]:
        problems = []
        for other in others.values():
            if other.id == playbook.id:
                problems.append(f"{playbook.source}:{playbook.line}: 手册 id {playbook.id!r} 已在 "
                                f"{other.source} 中使用，请换一个名字 (duplicate playbook id)")
        for trigger in playbook.triggers:
            owner = next((o for o in others.values() if o.trigger_for(trigger.intent)), None)
            if owner is not None:
                problems.append(f"{playbook.source}:{trigger.line}: 触发意图 {trigger.intent} 已由 "
                                f"{owner.source} 使用，一个意图只能启动一本手册 "
                                f"(intent already triggers another playbook)")
        return problems

    def _resolve(self) -> Dict[str, List[str]]:
        """Decide what is live: every live version stays, and each new version goes live if
        it takes no id or intent from what is live (repeated, so that an intent moved from
        one file to another in a single update goes through). Returns the clash messages."""
        clash_errors: Dict[str, List[str]] = {}
        changed = True
        while changed:
            changed = False
            for path in sorted(self._parsed):
                candidate = self._parsed[path]
                if self._served.get(path) == candidate:
                    clash_errors.pop(path, None)
                    continue
                others = {p: b for p, b in self._served.items() if p != path}
                problems = self._clashes(candidate, others)
                if problems:
                    if problems != clash_errors.get(path):
                        for line in problems:
                            logger.error("playbook rejected, keeping the last valid version: %s",
                                         line)
                    clash_errors[path] = problems
                else:
                    self._served[path] = candidate
                    clash_errors.pop(path, None)
                    changed = True
        return clash_errors

    def all(self) -> List[Playbook]:
        self.refresh()
        return list(self._active)

    def get(self, playbook_id: Optional[str]) -> Optional[Playbook]:
        if not isinstance(playbook_id, str):
            return None
        return next((p for p in self.all() if p.id == playbook_id), None)

    def for_intent(self, intent: Optional[str]) -> Optional[Tuple[Playbook, Trigger]]:
        for playbook in self.all():
            trigger = playbook.trigger_for(intent)
            if trigger:
                return playbook, trigger
        return None


_default: Optional[PlaybookRegistry] = None


def default_registry() -> PlaybookRegistry:
    """This process's registry of the project's playbooks (``DY_PLAYBOOK_DIR`` or
    data/playbooks), checked against the priority policy as it is on disk: a priority level
    added to the policy is accepted without a restart."""
    global _default
    if _default is None:
        from tickets.policy import load_policy

        _default = PlaybookRegistry(priorities=lambda: load_policy().levels)
    return _default
