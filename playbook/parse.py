"""Build a :class:`~playbook.model.Playbook` from an editor's file, checking everything.

Every mistake is collected as ``file:line: 中文说明 (English key)`` before
:class:`PlaybookError` is raised, so that an editor sees all of them at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from playbook.model import (
    ESCALATE,
    ID_FORMAT,
    MAX_ANSWER_PHRASE_CHARS,
    MAX_MENTION_CHARS,
    RESOLVED,
    TERMINALS,
    Branch,
    Escalation,
    Link,
    Playbook,
    Step,
    Trigger,
)
from playbook.sourcefile import PROJECT_ROOT, SourceError, line_of, read_yaml_with_lines
from understanding.answers import VERDICT_KEYS

TOP_KEYS = {
    "id",
    "title",
    "category",
    "triggers",
    "intro",
    "intros",
    "steps",
    "escalation",
    "mentions",
}
STEP_KEYS = {
    "id",
    "title",
    "message",
    "check",
    "link",
    "image",
    "video",
    "on_yes",
    "on_no",
    "on_human",
    "branch",
    "answers",
}
TRIGGER_KEYS = {"intent", "start"}
TARGET_KEYS = ("on_yes", "on_no", "on_human")

#: Records one problem at a line of the file being parsed.
Report = Callable[[int, str], None]


class PlaybookError(SourceError):
    """A playbook file is invalid. ``problems`` holds one ``file:line: message`` per mistake."""


def parse_playbook(
    data: Any,
    source: str,
    *,
    priorities: Iterable[str] | None = None,
    base_dir: Path | None = None,
) -> Playbook:
    """Build a :class:`Playbook` from YAML data, collecting every problem before raising."""
    problems: list[str] = []

    def problem(line: int, text: str) -> None:
        problems.append(f"{source}:{line}: {text}")

    if not isinstance(data, dict):
        raise PlaybookError(
            [
                f"{source}:1: 文件必须是一个映射，包含 id、title、triggers、steps、"
                f"escalation (playbook must be a mapping)"
            ]
        )
    _check_header(data, problem)
    raw_steps, steps = _parse_steps(data, base_dir, problem)
    _check_targets(raw_steps, steps, problem)
    _check_branch_loops(steps, problem)
    triggers = _with_mentions(data, _parse_triggers(data, steps, problem), problem)
    _check_reachable(steps, triggers, problem)
    escalation = _parse_escalation(data, priorities, problem)
    intros = _parse_intros(data, triggers, problem)
    if problems:
        raise PlaybookError(problems)
    return Playbook(
        id=data["id"],
        title=data["title"],
        category=data["category"],
        triggers=tuple(triggers),
        intro=data["intro"].strip(),
        steps=steps,
        escalation=escalation,
        intros={str(k): str(v).strip() for k, v in intros.items()},
        source=source,
        line=line_of(data, "id"),
    )


def load_playbook_file(
    path: Path, *, priorities: Iterable[str] | None = None, root: Path | None = None
) -> Playbook:
    """Read and check one playbook file. Messages name it relative to ``root`` (the
    project folder) when it lies inside; image paths are looked up there too."""
    root = root or PROJECT_ROOT
    source = str(path)
    if path.is_absolute() and path.is_relative_to(root):
        source = os.path.relpath(path, root)
    try:
        data = read_yaml_with_lines(path, source)
    except SourceError as exc:
        raise PlaybookError(exc.problems) from None
    return parse_playbook(data, source, priorities=priorities, base_dir=root)


# --- the playbook's own fields -------------------------------------------------------------


def _check_header(data: Mapping[str, Any], problem: Report) -> None:
    """Known top-level keys, and the id, title, category and intro written as text."""
    for key in data:
        if key not in TOP_KEYS:
            problem(
                line_of(data, key),
                f"未知字段 {key!r}，可用字段：{', '.join(sorted(TOP_KEYS))} (unknown key)",
            )
    for key in ("id", "title", "category", "intro"):
        if not isinstance(data.get(key), str) or not data.get(key, "").strip():
            problem(line_of(data, key), f"缺少 {key} 或它不是文字，请填写 (missing {key})")
    if isinstance(data.get("id"), str) and data["id"].strip() and not ID_FORMAT.match(data["id"]):
        problem(
            line_of(data, "id"),
            f"手册 id {data['id']!r} 只能用小写英文字母、数字和下划线，并以字母开头 "
            f"(invalid playbook id)",
        )


def _parse_escalation(
    data: Mapping[str, Any], priorities: Iterable[str] | None, problem: Report
) -> Escalation:
    """The ticket an unresolved conversation becomes: its category and a known priority."""
    raw_esc = data.get("escalation")
    escalation = Escalation(category="other", priority="general")
    if not isinstance(raw_esc, dict) or not raw_esc.get("category") or not raw_esc.get("priority"):
        problem(
            line_of(data, "escalation"),
            "escalation 需要 category（类别）和 priority（优先级） "
            "(escalation needs category and priority)",
        )
        return escalation
    priority_names = list(priorities) if priorities is not None else None
    if priority_names is not None and raw_esc["priority"] not in priority_names:
        problem(
            line_of(raw_esc, "priority"),
            f"优先级 {raw_esc['priority']!r} 不在优先级策略中，可选："
            f"{', '.join(priority_names)} (unknown priority)",
        )
    if raw_esc.get("message") is not None and not isinstance(raw_esc.get("message"), str):
        problem(
            line_of(raw_esc, "message"),
            "escalation 的 message 必须是一段文字（不是列表） (escalation message must be text)",
        )
    return Escalation(
        category=str(raw_esc["category"]),
        priority=str(raw_esc["priority"]),
        message=str(raw_esc.get("message") or "").strip(),
        line=line_of(raw_esc, "category"),
    )


def _parse_intros(
    data: Mapping[str, Any], triggers: list[Trigger], problem: Report
) -> Mapping[Any, Any]:
    """The openings by trigger intent (``intros:``), each text for a trigger of this playbook."""
    intros = data.get("intros") or {}
    if not isinstance(intros, dict):
        problem(
            line_of(data, "intros"), "intros 必须是 意图: 开场白 的映射 (intros must be a mapping)"
        )
        return {}
    for intent, text in intros.items():
        if not isinstance(text, str) or not text.strip():
            problem(
                line_of(intros, str(intent)),
                f"intros 中意图 {intent} 的开场白是空的或不是文字，请填写 (intro must be text)",
            )
        elif triggers and intent not in {t.intent for t in triggers}:
            problem(
                line_of(intros, str(intent)),
                f"intros 中的 {intent} 不是这本手册的触发意图，这句开场白"
                f"永远不会用到，请检查拼写 (intro for an unknown trigger)",
            )
    return intros


# --- triggers ----------------------------------------------------------------------------


def _parse_triggers(
    data: Mapping[str, Any], steps: Mapping[str, Step], problem: Report
) -> list[Trigger]:
    """The intents that start the playbook, each at a step that exists."""
    triggers: list[Trigger] = []
    raw_triggers = data.get("triggers")
    if not isinstance(raw_triggers, list) or not raw_triggers:
        problem(
            line_of(data, "triggers"),
            "triggers 必须列出至少一个触发意图 (intent) 和起始步骤 (start) (no trigger intent)",
        )
        raw_triggers = []
    for raw in raw_triggers:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("intent"), str)
            or not isinstance(raw.get("start"), str)
            or not raw["intent"]
            or not raw["start"]
        ):
            problem(
                line_of(raw) if isinstance(raw, dict) else line_of(data, "triggers"),
                "每个 trigger 需要 intent 和 start (trigger needs intent and start)",
            )
            continue
        if raw["start"] not in steps:
            problem(
                line_of(raw, "start"),
                f"trigger 的起始步骤 {raw['start']!r} 不存在 (unknown start step)",
            )
        for key in raw:
            if key not in TRIGGER_KEYS:
                problem(
                    line_of(raw, key),
                    f"trigger 有未知字段 {key!r}，可用字段：{', '.join(sorted(TRIGGER_KEYS))} "
                    f"(unknown trigger key)",
                )
        triggers.append(
            Trigger(intent=str(raw["intent"]), start=str(raw["start"]), line=line_of(raw, "intent"))
        )
    return triggers


def _with_mentions(
    data: Mapping[str, Any], triggers: list[Trigger], problem: Report
) -> list[Trigger]:
    """The playbook's ``mentions:`` (trigger intent -> short phrases that name the problem
    inside a longer message), checked and given to the triggers."""
    given = data.get("mentions")
    if given is None:
        return triggers
    if not isinstance(given, dict):
        problem(
            line_of(data, "mentions"),
            "mentions 必须写成 意图: 说法列表，例如 forgot_password: 下面每行"
            "一个「- 密码忘了」 (mentions must be a mapping)",
        )
        return triggers
    by_intent: dict[str, tuple[str, ...]] = {}
    for intent, phrases in given.items():
        line = line_of(given, str(intent))
        if intent not in {t.intent for t in triggers}:
            problem(
                line,
                f"mentions 里的 {intent} 不是这本手册的触发意图，可选："
                f"{', '.join(t.intent for t in triggers)} (mentions for an unknown trigger)",
            )
            continue
        if not isinstance(phrases, list) or not phrases:
            problem(line, f"mentions.{intent} 必须是至少一条说法的列表 (mentions must be a list)")
            continue
        by_intent[str(intent)] = _mention_phrases(str(intent), phrases, line, problem)
    return [
        Trigger(intent=t.intent, start=t.start, mentions=by_intent.get(t.intent, ()), line=t.line)
        for t in triggers
    ]


def _mention_phrases(
    intent: str, phrases: list[Any], line: int, problem: Report
) -> tuple[str, ...]:
    """The usable phrases of one ``mentions.<intent>`` list (written one a line after ``line``)."""
    kept: list[str] = []
    for index, mention in enumerate(phrases):
        text = mention.strip() if isinstance(mention, str) else ""
        if not text or len(text) > MAX_MENTION_CHARS:
            problem(
                line + 1 + index,
                f"mentions.{intent} 第 {index + 1} 条必须是不超过 "
                f"{MAX_MENTION_CHARS} 字的一个词或短语 (invalid mention)",
            )
        elif text.lower() in (m.lower() for m in kept):
            problem(
                line + 1 + index,
                f"mentions.{intent} 里的「{text}」写了两次，请删掉一条 (duplicate mention)",
            )
        else:
            kept.append(text)
    return tuple(kept)


# --- steps -------------------------------------------------------------------------------


def _parse_steps(
    data: Mapping[str, Any], base_dir: Path | None, problem: Report
) -> tuple[list[Any], dict[str, Step]]:
    """The raw ``steps:`` list as written, and the steps built from it, by id."""
    raw_steps = data.get("steps")
    steps: dict[str, Step] = {}
    if not isinstance(raw_steps, list) or not raw_steps:
        problem(
            line_of(data, "steps"),
            "steps 必须是至少包含一个步骤的列表 (steps must be a non-empty list)",
        )
        raw_steps = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            problem(
                line_of(data, "steps"), f"第 {index + 1} 个步骤必须是映射 (step must be a mapping)"
            )
            continue
        step_id = _step_id(raw, index, steps, problem)
        if step_id is not None:
            steps[step_id] = _parse_step(raw, step_id, base_dir, problem)
    return raw_steps, steps


def _step_id(
    raw: Mapping[str, Any], index: int, steps: Mapping[str, Step], problem: Report
) -> str | None:
    """The id of the ``index``-th step if it is usable (well-formed, not reserved, new)."""
    step_id = raw.get("id")
    if step_id is not None and not isinstance(step_id, str):
        problem(
            line_of(raw, "id"),
            f"第 {index + 1} 个步骤的 id {step_id!r} 必须是英文名字，例如 "
            f"check_network (invalid step id)",
        )
        return None
    if not isinstance(step_id, str) or not step_id.strip():
        problem(line_of(raw), f"第 {index + 1} 个步骤缺少 id (step id missing)")
        return None
    if not ID_FORMAT.match(step_id):
        problem(
            line_of(raw, "id"),
            f"步骤 id {step_id!r} 只能用小写英文字母、数字和下划线，并以字母开头 (invalid step id)",
        )
        return None
    if step_id in TERMINALS:
        problem(line_of(raw, "id"), f"步骤 id 不能叫 {step_id!r}，它是保留字 (reserved step id)")
        return None
    if step_id in steps:
        problem(
            line_of(raw, "id"), f"步骤 id {step_id!r} 重复了，请改成唯一的名字 (duplicate step id)"
        )
        return None
    return step_id


def _parse_step(
    raw: Mapping[str, Any], step_id: str, base_dir: Path | None, problem: Report
) -> Step:
    """One step: a branch, or content with a check question; its media, answers and targets."""
    for key in raw:
        if key not in STEP_KEYS:
            problem(
                line_of(raw, key),
                f"步骤 {step_id} 有未知字段 {key!r}，可用字段："
                f"{', '.join(sorted(STEP_KEYS))} (unknown step key)",
            )
    branch = None
    if "branch" in raw:
        branch = _parse_branch(raw, step_id, problem)
    else:
        _check_content(raw, step_id, problem)
    link = _parse_link(raw, "link", step_id, problem)
    video = _parse_link(raw, "video", step_id, problem)
    image = _parse_image(raw, step_id, base_dir, problem)
    answers = _parse_answers(raw, step_id, problem)
    step = Step(
        id=step_id,
        title=str(raw.get("title") or step_id),
        message=str(raw.get("message") or "").strip(),
        check=str(raw.get("check") or "").strip(),
        link=link,
        image=image,
        video=video,
        on_yes=str(raw.get("on_yes", RESOLVED)),
        on_no=str(raw.get("on_no", ESCALATE)),
        on_human=str(raw.get("on_human", ESCALATE)),
        branch=branch,
        answers=answers,
        line=line_of(raw, "id"),
    )
    for key in TARGET_KEYS:
        if key in raw and (raw[key] is None or not str(raw[key]).strip()):
            problem(
                line_of(raw, key),
                f"步骤 {step_id} 的 {key} 是空的，请填写某一步的 id、resolved 或 "
                f"escalate (empty target)",
            )
    return step


def _parse_branch(raw: Mapping[str, Any], step_id: str, problem: Report) -> Branch | None:
    """The step's ``branch:`` (slot, cases, default), or None when it is incomplete."""
    raw_branch = raw["branch"]
    if (
        not isinstance(raw_branch, dict)
        or not isinstance(raw_branch.get("cases"), dict)
        or not isinstance(raw_branch.get("slot"), str)
        or not raw_branch.get("slot")
        or not isinstance(raw_branch.get("default"), str)
        or not raw_branch.get("default")
    ):
        problem(
            line_of(raw, "branch"),
            f"步骤 {step_id} 的 branch 需要 slot、cases 和 default "
            f"(branch needs slot, cases, default)",
        )
        return None
    return Branch(
        slot=str(raw_branch["slot"]),
        cases={str(k): str(v) for k, v in raw_branch["cases"].items()},
        default=str(raw_branch["default"]),
    )


def _check_content(raw: Mapping[str, Any], step_id: str, problem: Report) -> None:
    """A step shown to the user has a message and a check question."""
    for key in ("message", "check"):
        if not isinstance(raw.get(key), str) or not raw.get(key, "").strip():
            problem(
                line_of(raw, key if key in raw else "id"),
                f"步骤 {step_id} 缺少 {key}"
                f"（{'展示给用户的内容' if key == 'message' else '询问是否解决的问题'}），"
                f"请补充 (step {key} missing)",
            )


def _valid_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and " " not in url


def _parse_link(raw: Mapping[str, Any], key: str, step_id: str, problem: Report) -> Link | None:
    """The step's ``link:`` or ``video:`` (a title and an http(s) url), if written and valid."""
    if key not in raw:
        return None
    raw_link = raw[key]
    if (
        not isinstance(raw_link, dict)
        or not raw_link.get("title")
        or not _valid_url(raw_link.get("url"))
    ):
        problem(
            line_of(raw, key),
            f"步骤 {step_id} 的 {key} 需要 title 和以 http:// 或 https:// "
            f"开头的有效 url (invalid {key})",
        )
        return None
    return Link(title=str(raw_link["title"]), url=str(raw_link["url"]))


def _parse_image(
    raw: Mapping[str, Any], step_id: str, base_dir: Path | None, problem: Report
) -> str | None:
    """The step's ``image:``: a URL, or a file of the project (``base_dir``) that exists."""
    image = raw.get("image")
    if image is None:
        return None
    if not isinstance(image, str) or not image.strip():
        problem(
            line_of(raw, "image"),
            f"步骤 {step_id} 的 image 必须是网址或图片文件路径 (invalid image)",
        )
        return None
    if not _valid_url(image):
        image_path = (base_dir or PROJECT_ROOT) / image
        if not image_path.is_file():
            problem(
                line_of(raw, "image"),
                f"步骤 {step_id} 的图片 {image!r} 不存在，请检查路径或改用网址 "
                f"(image file not found)",
            )
    return image


def _parse_answers(
    raw: Mapping[str, Any], step_id: str, problem: Report
) -> dict[str, tuple[str, ...]]:
    """The step's ``answers:`` (phrases only this step has, e.g. 「登上去了」), checked."""
    if "answers" not in raw:
        return {}
    given = raw["answers"]
    line = line_of(raw, "answers")
    if not isinstance(given, dict) or not given:
        problem(
            line,
            f"步骤 {step_id} 的 answers 必须写成 worked: / failed: / human: 下面的说法列表 "
            f"(answers must be a mapping of labels to phrases)",
        )
        return {}
    answers: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}  # phrase (lower case) -> the label it was first written under
    for label, phrases in given.items():
        label_line = line_of(given, str(label))
        if label not in VERDICT_KEYS:
            problem(
                label_line,
                f"步骤 {step_id} 的 answers 里没有 {label!r} 这一类，可用："
                f"{', '.join(VERDICT_KEYS)}（worked 解决了、failed 没解决、human 要人工） "
                f"(unknown answer label)",
            )
            continue
        if not isinstance(phrases, list) or not phrases:
            problem(
                label_line,
                f"步骤 {step_id} 的 answers.{label} 必须是至少一条说法的列表 "
                f"(answer phrases must be a non-empty list)",
            )
            continue
        kept = _answer_phrases(step_id, str(label), phrases, label_line, owner, problem)
        if kept:
            answers[str(label)] = kept
    return answers


def _answer_phrases(
    step_id: str,
    label: str,
    phrases: list[Any],
    label_line: int,
    owner: dict[str, str],
    problem: Report,
) -> tuple[str, ...]:
    """The usable phrases under one answer label; ``owner`` remembers each phrase's label so
    that one phrase never stands under two."""
    kept: list[str] = []
    for index, phrase in enumerate(phrases):
        where = label_line + 1 + index  # one phrase a line, as the guide writes them
        text = phrase.strip() if isinstance(phrase, str) else ""
        if not text:
            problem(
                where,
                f"步骤 {step_id} 的 answers.{label} 第 {index + 1} 条是空的或不是文字 "
                f"(answer phrase must be text)",
            )
            continue
        if len(text) > MAX_ANSWER_PHRASE_CHARS:
            problem(
                where,
                f"步骤 {step_id} 的 answers.{label} 第 {index + 1} 条太长了（{len(text)} 字），"
                f"请只写用户会说的那个短语，不超过 {MAX_ANSWER_PHRASE_CHARS} 字 "
                f"(answer phrase too long)",
            )
            continue
        key = text.lower()
        if key in owner:
            same = owner[key] == label
            problem(
                where,
                f"步骤 {step_id} 的说法「{text}」"
                + (
                    f"在 answers.{label} 里写了两次，请删掉一条 (duplicate answer phrase)"
                    if same
                    else f"同时写在 answers.{owner[key]} 和 answers.{label} 里，"
                    f"一句话只能有一种意思 "
                    f"(answer phrase under two labels)"
                ),
            )
            continue
        owner[key] = label
        kept.append(text)
    return tuple(kept)


# --- how the steps hang together ---------------------------------------------------------


def _check_targets(raw_steps: list[Any], steps: Mapping[str, Step], problem: Report) -> None:
    """Every answer leads to a step or an end, every branch case to a step."""

    def check_target(target: str, line: int, what: str) -> None:
        if target not in steps and target not in TERMINALS:
            problem(
                line,
                f"{what} 指向的步骤 {target!r} 不存在，"
                f"可选：{', '.join(list(steps) + sorted(TERMINALS))} "
                f"(unknown step)",
            )

    for raw in raw_steps:
        if not isinstance(raw, dict) or raw.get("id") not in steps:
            continue
        step = steps[raw["id"]]
        for key in TARGET_KEYS:
            check_target(getattr(step, key), line_of(raw, key), f"步骤 {step.id} 的 {key}")
        if step.branch:
            for case, target in step.branch.cases.items():
                if target in TERMINALS:
                    problem(
                        line_of(raw, "branch"),
                        f"步骤 {step.id} 的分支 {case} 必须指向一个步骤 "
                        f"(branch target must be a step)",
                    )
                else:
                    check_target(target, line_of(raw, "branch"), f"步骤 {step.id} 的分支 {case}")
            if step.branch.default in TERMINALS:
                problem(
                    line_of(raw, "branch"),
                    f"步骤 {step.id} 的 default 必须指向一个步骤，不能是 "
                    f"{step.branch.default} (branch target must be a step)",
                )
            else:
                check_target(
                    step.branch.default, line_of(raw, "branch"), f"步骤 {step.id} 的 default"
                )


def _branch_loop(steps: Mapping[str, Step], start: str) -> list[str]:
    """A path of branch steps from ``start`` back to itself, or [] if there is none."""
    path: list[str] = []

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


def _check_branch_loops(steps: Mapping[str, Step], problem: Report) -> None:
    """Branch steps that lead only to each other would never show anything."""
    for step in steps.values():
        if step.branch:
            loop = _branch_loop(steps, step.id)
            if loop:
                problem(
                    step.line,
                    f"步骤 {step.id} 的分支形成了循环（{' → '.join(loop)}），"
                    f"用户会卡住，请让分支最终指向一个普通步骤 (branch loop)",
                )


def _check_reachable(steps: Mapping[str, Step], triggers: list[Trigger], problem: Report) -> None:
    """Every step can be reached from some trigger."""
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
    for step_id, step in steps.items():
        if triggers and step_id not in reachable:
            problem(
                step.line,
                f"步骤 {step_id} 从任何起始步骤都走不到，请检查 on_yes/on_no 的指向 "
                f"(unreachable step)",
            )
