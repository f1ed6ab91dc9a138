"""domain.yml read once per change: response texts and session expiry, and clear failures."""

from __future__ import annotations

import os

import pytest

from playbook.domain import DEFAULT_SESSION_MINUTES, DomainUnreadable, domain_texts


def test_the_projects_domain_gives_texts_and_expiry():
    texts = domain_texts()
    assert texts.text("utter_action_failed")
    assert texts.text("utter_widget_title")
    assert texts.session_minutes == 60
    assert texts.text("utter_no_such_response") is None


def test_a_changed_file_is_read_again(tmp_path):
    path = tmp_path / "domain.yml"
    path.write_text(
        "responses:\n  utter_a:\n  - text: 第一版\n"
        "session_config:\n  session_expiration_time: 30\n",
        encoding="utf-8",
    )
    first = domain_texts(path)
    assert first.text("utter_a") == "第一版" and first.session_minutes == 30
    assert domain_texts(path) is first  # unchanged: not parsed again
    path.write_text("responses:\n  utter_a:\n  - text: 第二版\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = domain_texts(path)
    assert second.text("utter_a") == "第二版"
    assert second.session_minutes == DEFAULT_SESSION_MINUTES


@pytest.mark.parametrize(
    "content",
    [
        "responses: [unclosed\n",
        "- just\n- a list\n",
    ],
)
def test_an_unreadable_domain_is_a_clear_error(tmp_path, content):
    path = tmp_path / "domain.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DomainUnreadable, match="domain.yml"):
        domain_texts(path)
    with pytest.raises(DomainUnreadable, match="domain.yml"):
        domain_texts(tmp_path / "missing" / "domain.yml")


def test_responses_without_text_and_odd_expiry_are_tolerated(tmp_path):
    path = tmp_path / "domain.yml"
    path.write_text(
        "responses:\n  utter_img:\n  - image: https://x/y.png\n  utter_none: []\n"
        "session_config:\n  session_expiration_time: -5\n",
        encoding="utf-8",
    )
    texts = domain_texts(path)
    assert texts.responses == {}
    assert texts.session_minutes == DEFAULT_SESSION_MINUTES
