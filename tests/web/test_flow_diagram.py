"""Flow diagrams: playbooks drawn as Mermaid source, with editor text made safe in it."""

from __future__ import annotations

import pytest

from playbook.registry import PlaybookRegistry
from tests.factories import nasty_playbook
from tickets.policy import load_policy
from web import flow_diagram


@pytest.fixture()
def playbooks():
    return PlaybookRegistry(priorities=list(load_policy().levels)).all()


def test_the_diagram_without_statistics(playbooks):
    login = next(p for p in playbooks if p.id == "login")
    source = flow_diagram.mermaid(login)
    assert 't0(["用户说：login_problem"])' in source and 't1(["用户说：forgot_password"])' in source
    assert (
        '|"还是不行"|' in source
        and '|"解决了"|' in source
        and "·" not in source.split("human{{")[0]
    )
    assert "优先级：紧急 · 1 小时内响应" in source
    assert "-.->" not in source  # 转人工 goes to a person everywhere: no extra edges drawn
    assert "gone" not in source.split("classDef")[0]


def test_editor_text_is_escaped():
    playbook = nasty_playbook()
    source = flow_diagram.mermaid(playbook)
    line = next(row for row in source.splitlines() if row.startswith("  s0["))
    inner = line[len('  s0["') : -len('"]')]
    for raw in ('"', "[", "]", "{", "}", "(", ")", "<script", "&", "`", "%", "|", "\n"):
        assert raw not in inner.replace("<br/>", ""), raw
    assert "#60;script#62;" in inner and "#34;hi#34;" in inner and "第二行" in inner
    assert "#35;35#59;" in inner  # an entity code the editor typed stays text
    assert '-.->|"转人工"| s1' in source  # 转人工 routed to a step is drawn


def test_long_titles_are_shortened():
    assert (
        flow_diagram.label("长" * 200).endswith("…")
        and len(flow_diagram.label("长" * 200)) == flow_diagram.MAX_LABEL
    )
