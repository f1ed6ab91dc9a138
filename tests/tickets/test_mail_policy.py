"""data/policy/mail.yml: the shipped file reads; each mistake an editor can make is named with
its file and line; the templates fill in only their own placeholders; the follow-up links are
signed, expire and name one ticket."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from playbook.sourcefile import read_yaml_with_lines
from tests.factories import ROOT
from tickets import follow_up_links
from tickets.mail_policy import MB, MailPolicyError, load_mail_policy, parse_mail_policy
from tickets.models import utcnow

SHIPPED = ROOT / "data" / "policy" / "mail.yml"


def test_the_shipped_policy_reads():
    policy = load_mail_policy(SHIPPED)
    assert policy.max_mail_bytes == 25 * MB and policy.auto_replies_per_hour == 3
    subject, text = policy.template("mail_ticket_created").render(
        ticket_number="DY-20261204-0001",
        subject="登录不上",
        category="账号登录",
        priority="紧急",
        promise="1 小时内",
        due_time="2026-12-04 11:00",
    )
    assert subject == "[DY-20261204-0001] 我们已收到您的问题：登录不上"
    assert "1 小时内" in text and "{" not in text


def test_a_value_s_braces_are_not_read_as_placeholders():
    policy = load_mail_policy(SHIPPED)
    subject, _text = policy.template("mail_unreadable").render(subject="{ticket_number}\n{x}")
    assert subject == "您的邮件未能受理：无法读取邮件内容（{ticket_number} {x}）"


def broken(tmp_path, old: str, new: str) -> str:
    path = tmp_path / "mail.yml"
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(MailPolicyError) as caught:
        parse_mail_policy(read_yaml_with_lines(path, "mail.yml"), source="mail.yml")
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(number for number, text in enumerate(lines, 1) if new in text)
    return str(caught.value), caught.value.line, line


@pytest.mark.parametrize(
    "old, new, says",
    [
        ("max_mail_mb: 25", "max_mail_mb: lots", "limits.max_mail_mb 必须是不小于 1 的数字"),
        (
            "per_sender_per_hour: 3",
            "per_sender_per_hour: -1",
            "per_sender_per_hour 必须是不小于 0 的整数",
        ),
        ("min_confidence: 0.6", "min_confidence: 6", "min_confidence 必须在 0 到 1 之间"),
        ("优先级：{priority}", "优先级：{priorty}", "不认识 {priorty}"),
        (
            'subject: "[{ticket_number}] 您的问题已处理',
            'subject: "您的问题已处理',
            "必须含 {ticket_number}",
        ),
        ("  mail_unreadable:", "  mail_unreadabel:", "没有叫 mail_unreadabel 的邮件模板"),
    ],
)
def test_each_mistake_is_named_at_its_line(tmp_path, old, new, says):
    message, line, expected_line = broken(tmp_path, old, new)
    assert says in message and message.startswith(f"mail.yml:{line}:")
    assert line == expected_line


def test_a_missing_template_is_named():
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    del data["mail_responses"]["mail_follow_up"]
    with pytest.raises(MailPolicyError, match="缺少模板 mail_follow_up"):
        parse_mail_policy(data)


def test_a_follow_up_link_names_its_ticket_until_it_expires(monkeypatch):
    monkeypatch.setenv("DY_LINK_SECRET", "a-secret-of-enough-length")
    token = follow_up_links.make_token("DY-20261204-0001", days=14)
    assert follow_up_links.read_token(token) == "DY-20261204-0001"
    assert follow_up_links.read_token(token, now=utcnow() + timedelta(days=15)) is None
    number, expires, mac = token.split(".")
    assert follow_up_links.read_token(f"DY-20261204-0002.{expires}.{mac}") is None
    assert follow_up_links.read_token(f"{number}.{int(expires) + 86400}.{mac}") is None
    assert follow_up_links.read_token("") is None and follow_up_links.read_token("a.b.c") is None
    monkeypatch.setenv("DY_LINK_SECRET", "another-secret-of-enough-length")
    assert follow_up_links.read_token(token) is None


def test_without_a_secret_no_link_is_made(monkeypatch):
    monkeypatch.delenv("DY_LINK_SECRET", raising=False)
    monkeypatch.delenv("DY_SESSION_SECRET", raising=False)
    with pytest.raises(follow_up_links.NoLinkSecret):
        follow_up_links.make_token("DY-20261204-0001", days=1)
