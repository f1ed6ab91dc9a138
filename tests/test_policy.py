"""The priority policy gives the service guide's defaults."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

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
