"""How a mail or a call is categorised from the NLU's parse (the real NLU reads the fixture
mails in tests/integration/test_mail.py): the most confident problem intent of the subject,
the text and both wins; below the policy's confidence, with no problem intent or with Rasa
down, a person sets the category; urgency counts only when written and not negated."""

from __future__ import annotations

import requests

from channels.report_understanding import understand


def parser(
    answers: dict[str, tuple[str, float, list[str]]], extractor: str = "SpacyEntityExtractor"
):
    """A parse as Rasa's: the intent of the first key in the text, and an ``urgency`` entity
    (with its offset in this text) for each listed word the text holds."""
    seen: list[str] = []

    def parse(text: str) -> dict:
        seen.append(text)
        for key, (intent, confidence, words) in answers.items():
            if key in text:
                entities = [
                    {
                        "entity": "urgency",
                        "value": word,
                        "start": text.find(word),
                        "end": text.find(word) + len(word),
                        "extractor": extractor,
                    }
                    for word in words
                    if word in text
                ]
                return {
                    "text": text,
                    "intent": {"name": intent, "confidence": confidence},
                    "entities": entities,
                }
        return {"text": text, "intent": {"name": "greet", "confidence": 0.9}, "entities": []}

    parse.seen = seen  # type: ignore[attr-defined]
    return parse


def test_the_most_confident_problem_intent_names_the_category():
    parse = parser({"登录": ("login_problem", 0.97, []), "求助": ("greet", 0.99, [])})
    found = understand("求助", "您好，我的账号登录不上", min_confidence=0.6, parse=parse)
    assert (found.category, found.unsure, found.intent) == ("login", False, "login_problem")
    assert parse.seen == ["求助", "您好，我的账号登录不上", "求助 您好，我的账号登录不上"]


def test_an_unsure_reading_keeps_its_guess_for_a_person_to_confirm():
    found = understand(
        "视频", "上传", min_confidence=0.6, parse=parser({"上传": ("feature_problem", 0.41, [])})
    )
    assert (found.category, found.unsure) == ("feature", True)


def test_no_problem_at_all_or_rasa_down_leaves_the_category_to_staff():
    assert understand("你好", "在吗", min_confidence=0.6, parse=parser({})).unsure

    def down(text: str) -> dict:
        raise requests.ConnectionError("refused")

    found = understand("登录不上", "很急", min_confidence=0.6, parse=down)
    assert (found.category, found.unsure, found.urgent) == ("other", True, False)


def test_urgency_counts_when_written_not_when_negated():
    said = understand(
        "登录不上",
        "登录不上了很急",
        min_confidence=0.6,
        parse=parser({"登录": ("login_problem", 0.9, ["很急"])}),
    )
    assert said.urgent
    calm = understand(
        "登录不上",
        "登录不上，不是很急",
        min_confidence=0.6,
        parse=parser({"登录": ("login_problem", 0.9, ["很急"])}),
    )
    assert not calm.urgent
    typed = understand(
        "登录不上",
        "登录不上 紧急",
        min_confidence=0.6,
        parse=parser({"登录": ("login_problem", 0.9, ["紧急"])}, extractor="RegexMessageHandler"),
    )
    assert not typed.urgent
