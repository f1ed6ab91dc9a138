"""The mail intake's settings and the mails the desk sends (``data/policy/mail.yml``): size
limits, the auto-reply rate limit, how sure the understanding must be of a category, the
follow-up link's lifetime, and the templates (``domain.yml``-style: a list of variants, each
with ``subject`` and ``text``, ``{name}`` filled in).

Data only; ``channels.mail_intake`` and the console apply it. A mistake raises
:class:`MailPolicyError` naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.sourcefile import FileCache, line_of
from tickets import config
from tickets.policy import PolicyError

MB = 1024 * 1024
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Every template the desk sends, with the names it may fill in and those it must.
TEMPLATES: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "mail_ticket_created": (
        frozenset({"ticket_number", "subject", "category", "priority", "promise", "due_time"}),
        frozenset({"ticket_number"}),
    ),
    "mail_too_large": (frozenset({"subject", "size_mb", "max_mb"}), frozenset()),
    "mail_unreadable": (frozenset({"subject"}), frozenset()),
    "mail_staff_reply": (
        frozenset({"ticket_number", "subject", "text", "staff"}),
        frozenset({"ticket_number", "text"}),
    ),
    "mail_follow_up": (
        frozenset({"ticket_number", "subject", "link", "days"}),
        frozenset({"ticket_number", "link"}),
    ),
}
#: The templates whose subject must carry the ticket number (the user's reply threads by it).
NUMBERED_SUBJECTS = ("mail_ticket_created", "mail_staff_reply", "mail_follow_up")


class MailPolicyError(PolicyError):
    """``data/policy/mail.yml`` is invalid: a :class:`~tickets.policy.PolicyError` of it."""


@dataclass(frozen=True)
class MailTemplate:
    subject: str
    text: str

    def render(self, **values: object) -> tuple[str, str]:
        """The subject and text with ``{name}`` filled in (nothing else is read as a
        placeholder, so braces a value holds stay as written)."""

        def fill(template: str) -> str:
            return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)

        subject = " ".join(fill(self.subject).split())  # one line, whatever a value held
        return subject, fill(self.text)


#: The words the mails use besides their templates, with their defaults.
WORDING = {
    "sender_name": "Dy 客服中心",
    "no_subject": "（无主题）",
    "your_problem": "您反馈的问题",
    "category_unsure": "待确认（客服会尽快为您核实）",
}


@dataclass(frozen=True)
class MailPolicy:
    max_mail_bytes: int
    max_attachment_bytes: int
    max_attachments: int
    auto_replies_per_hour: int
    #: Automatic mails to anyone in an hour (a flood of forged senders answers nobody more).
    auto_replies_total: int
    min_confidence: float
    link_days: int
    templates: Mapping[str, MailTemplate]
    #: ``WORDING``'s words as the file says them.
    wording: Mapping[str, str]

    def template(self, name: str) -> MailTemplate:
        return self.templates[name]


def _number(
    data: Mapping[str, Any],
    section: str,
    key: str,
    source: str,
    *,
    low: float,
    integer: bool,
    default: float,
) -> float:
    block = data.get(section, {})
    if not isinstance(block, dict):
        raise MailPolicyError(source, line_of(data, section), f"{section} 必须是一个映射")
    value = block.get(key, default)
    kind_ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not kind_ok or value < low:
        what = "整数" if integer else "数字"
        raise MailPolicyError(
            source, line_of(block, key), f"{section}.{key} 必须是不小于 {low:g} 的{what}"
        )
    return float(value)


def _line_of_text(variant: Mapping[str, Any], needle: str) -> int:
    """The line of ``needle`` in a template: in its subject, or in the block of its text (a
    ``|-`` block starts on the line after ``text:``)."""
    if needle in variant.get("subject", ""):
        return line_of(variant, "subject")
    start = line_of(variant, "text")
    for offset, line in enumerate(str(variant.get("text", "")).splitlines()):
        if needle in line:
            return start + 1 + offset
    return start


def _templates(data: Mapping[str, Any], source: str) -> dict[str, MailTemplate]:
    raw = data.get("mail_responses")
    if not isinstance(raw, dict):
        raise MailPolicyError(
            source, line_of(data, "mail_responses"), "mail_responses 必须列出发给用户的邮件模板"
        )
    templates = {}
    for name in raw:
        if name not in TEMPLATES:
            raise MailPolicyError(
                source,
                line_of(raw, name),
                f"没有叫 {name} 的邮件模板；可写的模板：{'、'.join(TEMPLATES)}",
            )
    for name, (allowed, required) in TEMPLATES.items():
        variants = raw.get(name)
        if not isinstance(variants, list) or not variants or not isinstance(variants[0], dict):
            raise MailPolicyError(
                source,
                line_of(raw, name) if name in raw else line_of(data, "mail_responses"),
                f"缺少模板 {name}（写法：- subject: ...  text: ...）",
            )
        first = variants[0]
        for key in ("subject", "text"):
            if not isinstance(first.get(key), str) or not first[key].strip():
                raise MailPolicyError(source, line_of(first), f"{name} 的 {key} 不能为空")
        used = set(PLACEHOLDER.findall(first["subject"] + first["text"]))
        unknown = sorted(used - allowed)
        if unknown:
            names = "、".join("{" + a + "}" for a in sorted(allowed))
            raise MailPolicyError(
                source,
                _line_of_text(first, "{" + unknown[0] + "}"),
                f"{name} 不认识 {{{unknown[0]}}}；可用：{names}",
            )
        missing = sorted(required - used)
        if missing:
            raise MailPolicyError(source, line_of(first, "text"), f"{name} 必须写 {{{missing[0]}}}")
        if name in NUMBERED_SUBJECTS and "{ticket_number}" not in first["subject"]:
            raise MailPolicyError(
                source,
                line_of(first, "subject"),
                f"{name} 的 subject 必须含 {{ticket_number}}（用户回复时靠它归入同一张工单）",
            )
        templates[name] = MailTemplate(subject=first["subject"], text=first["text"])
    return templates


def parse_mail_policy(data: Any, source: str = "mail.yml") -> MailPolicy:
    if not isinstance(data, dict):
        raise MailPolicyError(
            source, line_of(data), "文件内容必须是一个映射，包含 limits、auto_reply、mail_responses"
        )
    max_mail = _number(data, "limits", "max_mail_mb", source, low=1, integer=False, default=25)
    return MailPolicy(
        max_mail_bytes=int(max_mail * MB),
        max_attachment_bytes=int(
            _number(data, "limits", "max_attachment_mb", source, low=0.1, integer=False, default=20)
            * MB
        ),
        max_attachments=int(
            _number(data, "limits", "max_attachments", source, low=0, integer=True, default=20)
        ),
        auto_replies_per_hour=int(
            _number(
                data, "auto_reply", "per_sender_per_hour", source, low=0, integer=True, default=3
            )
        ),
        auto_replies_total=int(
            _number(data, "auto_reply", "per_hour_total", source, low=0, integer=True, default=300)
        ),
        min_confidence=_confidence(data, source),
        link_days=int(
            _number(data, "follow_up", "link_days", source, low=1, integer=True, default=14)
        ),
        templates=_templates(data, source),
        wording=_wording(data, source),
    )


def _wording(data: Mapping[str, Any], source: str) -> dict[str, str]:
    block = data.get("wording", {})
    if not isinstance(block, dict):
        raise MailPolicyError(source, line_of(data, "wording"), "wording 必须是一个映射")
    found = dict(WORDING)
    for key, value in block.items():
        if key not in WORDING:
            raise MailPolicyError(
                source, line_of(block, key), f"wording 里没有 {key}；可写：{'、'.join(WORDING)}"
            )
        if not isinstance(value, str) or not value.strip():
            raise MailPolicyError(source, line_of(block, key), f"wording.{key} 不能为空")
        found[str(key)] = value.strip()
    return found


def _confidence(data: Mapping[str, Any], source: str) -> float:
    value = _number(
        data, "understanding", "min_confidence", source, low=0, integer=False, default=0.6
    )
    if value > 1:
        block = data.get("understanding", {})
        raise MailPolicyError(
            source,
            line_of(block, "min_confidence"),
            "understanding.min_confidence 必须在 0 到 1 之间",
        )
    return value


_files: FileCache[MailPolicy] = FileCache(parse_mail_policy)


def load_mail_policy(path: Path | None = None) -> MailPolicy:
    """Load (and cache until the file changes) the mail policy."""
    return _files.load(Path(path or config.mail_policy_path()))
