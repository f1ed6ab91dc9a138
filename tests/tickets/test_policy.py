"""The priority policy gives the service guide's defaults."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from playbook.sourcefile import SourceError
from tickets.policy import PolicyError, load_policy, parse_policy

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
POLICY = load_policy()


@pytest.mark.parametrize(
    "category, reason, urgent, playbook_priority, expected, hours",
    [
        ("data_loss", "playbook_exhausted", False, "urgent", "urgent", 1),
        ("data_loss", "user_request", False, None, "urgent", 1),
        ("login", "playbook_exhausted", False, "urgent", "urgent", 1),
        ("login", "user_request", False, None, "urgent", 1),
        ("network", "playbook_exhausted", False, "general", "general", 6),
        ("network", "playbook_exhausted", True, "general", "urgent", 1),
        ("feature", "playbook_exhausted", False, "complex", "complex", 24),
        ("feature", "playbook_exhausted", True, "complex", "urgent", 1),
        ("feature", "user_request", False, "complex", "general", 6),
        ("other", "user_request", False, None, "general", 6),
        ("other", "user_request", True, None, "urgent", 1),
    ],
)
def test_guide_defaults(category, reason, urgent, playbook_priority, expected, hours):
    decision = POLICY.decide(
        category=category,
        reason=reason,
        urgent_signal=urgent,
        created_at=NOW,
        playbook_priority=playbook_priority,
    )
    assert decision.priority == expected
    assert decision.due_at == NOW + timedelta(hours=hours)


def test_playbook_priority_never_lowers_a_rule():
    decision = POLICY.decide(
        category="data_loss",
        reason="playbook_exhausted",
        urgent_signal=False,
        created_at=NOW,
        playbook_priority="complex",
    )
    assert decision.priority == "urgent"


def test_labels_are_chinese():
    assert POLICY.levels["urgent"].label == "紧急"
    assert POLICY.status_label("open") == "待处理"
    assert POLICY.category_label("data_loss") == "数据丢失"


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"levels": {}}, "缺少 levels"),
        ({"levels": {"a": {"rank": 1, "response_hours": 1}}, "default": "b"}, "default"),
        (
            {
                "levels": {"a": {"rank": 1, "response_hours": 1}},
                "default": "a",
                "escalation_rules": [{"when": {"colour": "red"}, "priority": "a"}],
            },
            "未知条件",
        ),
        (
            {
                "levels": {"a": {"rank": 1, "response_hours": 1}},
                "default": "a",
                "escalation_rules": [{"when": {"category": "x"}, "priority": "zzz"}],
            },
            "zzz",
        ),
        ({"levels": {"a": {"rank": 1, "response_hours": -1}}, "default": "a"}, "大于 0"),
    ],
)
def test_invalid_policy_is_refused_with_a_clear_message(data, fragment):
    with pytest.raises(PolicyError) as info:
        parse_policy(data, "policy.yml")
    assert fragment in str(info.value) and "policy.yml" in str(info.value)


LEVEL_A = "levels:\n  a:\n    rank: 1\n    response_hours: 1\n"
RULE = "escalation_rules:\n  - name: r\n    when: {category: x}\n    priority: a\n"


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("levels:\n  a:\n    rank: 1\n    response_hours: 0\ndefault: a\n", 4, "必须大于 0"),
        ("levels:\n  a: 1\ndefault: a\n", 2, "levels.a 必须包含"),
        (LEVEL_A + "default: b\n", 5, "default 的取值 'b'"),
        (LEVEL_A + "default: a\n" + RULE.replace("category: x", "colour: red"), 8, "未知条件"),
        (LEVEL_A + "default: a\n" + RULE.replace("priority: a", "priority: zzz"), 9, "'zzz'"),
        (LEVEL_A + "default: a\n" + RULE.replace("category: x", "reason: x"), 8, "when.reason"),
        (LEVEL_A + "default: a\nescalation_rules:\n  - 1\n", 6, "escalation_rules[0] 必须包含"),
    ],
)
def test_a_policy_mistake_names_its_line(tmp_path, text, line, fragment):
    path = tmp_path / "priority.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert (info.value.line, info.value.problems) == (line, [f"{path}:{line}: {info.value.text}"])
    assert fragment in info.value.text


def test_a_yaml_mistake_in_the_policy_is_a_source_error_at_its_line(tmp_path):
    path = tmp_path / "priority.yml"
    path.write_text(LEVEL_A + "default: a\ndefault: a\n", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_policy(path)
    assert not isinstance(info.value, PolicyError)
    assert info.value.problems[0].startswith(
        f"{path}:6: YAML 格式错误：字段 default 在同一处写了两次"
    )
