"""The widget's history endpoint shapes a Rasa tracker into what the page shows."""

from __future__ import annotations

from web.app import SESSION_ID_RE, history_from_events


def test_history_shows_button_titles_and_hides_the_silent_opener():
    events = [
        {"event": "user", "text": "/greet", "timestamp": 1},
        {"event": "bot", "text": "您好", "timestamp": 2,
         "data": {"buttons": [{"title": "网络问题", "payload": "/network_problem"}]}},
        {"event": "user", "text": "/network_problem", "timestamp": 3},
        {"event": "action", "name": "action_start_playbook"},
        {"event": "bot", "text": "第一步", "timestamp": 4, "data": {"image": "https://x/y.png"}},
        {"event": "user", "text": "<script>x</script>", "timestamp": 5},
    ]
    turns = history_from_events(events)
    assert [(t["role"], t["text"]) for t in turns] == [
        ("bot", "您好"), ("user", "网络问题"), ("bot", "第一步"), ("user", "<script>x</script>")]
    assert turns[0]["buttons"] == [{"title": "网络问题", "payload": "/network_problem"}]
    assert turns[2]["image"] == "https://x/y.png"


def test_only_widget_session_ids_are_accepted():
    assert SESSION_ID_RE.match("0123456789abcdef0123456789abcdef")
    for bad in ("../../etc/passwd", "ABC", "0123456789abcdef0123456789abcdeg", ""):
        assert not SESSION_ID_RE.match(bad)


def test_transcripts_show_button_titles_to_staff():
    from actions.transcript import build_transcript

    turns = build_transcript([
        {"event": "bot", "text": "解决了吗？", "timestamp": 1,
         "data": {"buttons": [{"title": "还是不行", "payload": "/deny"}]}},
        {"event": "user", "text": "/deny", "timestamp": 2, "parse_data": {"intent": {"name": "deny"}}},
        {"event": "user", "text": "EXTERNAL: EXTERNAL_staff_message", "timestamp": 3,
         "metadata": {"is_external": True}},
    ])
    assert [(t["role"], t["text"]) for t in turns] == [("bot", "解决了吗？"), ("user", "还是不行")]
    assert turns[1]["payload"] == "/deny"
