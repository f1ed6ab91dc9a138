"""Three-part ratings as users write them: by aspect, all at once, the rest at once, three
in a row, or one answer to the open question; vague words and other numbers are no score."""

from __future__ import annotations

import pytest

from understanding.ratings import ASPECTS, read_aspect_ratings

ALL5 = dict.fromkeys(ASPECTS, 5)


@pytest.mark.parametrize(
    "text, scores",
    [
        ("态度很好，都给5分", ALL5),
        ("都给5分", ALL5),
        ("全部满分", ALL5),
        ("全5星", ALL5),
        ("三项都是4分", dict.fromkeys(ASPECTS, 4)),
        ("每项都打五分", ALL5),
        ("统统五星", ALL5),
        ("態度很好，都給5分", ALL5),  # traditional characters
        ("都给５分", ALL5),  # full-width digit
        ("态度5分，专业4分，效果5分", {"attitude": 5, "expertise": 4, "result": 5}),
        ("服务态度：5，专业水平：4，问题解决效果：3", {"attitude": 5, "expertise": 4, "result": 3}),
        ("态度五分专业四分效果三分", {"attitude": 5, "expertise": 4, "result": 3}),
        ("态度不错 4分 效果一般 3分", {"attitude": 4, "result": 3}),
        ("态度很好给5分 专业4", {"attitude": 5, "expertise": 4}),
        ("态度3分，其他都5分", {"attitude": 3, "expertise": 5, "result": 5}),
        ("效果2分 其余的给4分", {"attitude": 4, "expertise": 4, "result": 2}),
        ("专业5分，其他也是5分，态度给4分", {"attitude": 4, "expertise": 5, "result": 5}),
        ("5 4 5", {"attitude": 5, "expertise": 4, "result": 5}),
        ("5/4/5", {"attitude": 5, "expertise": 4, "result": 5}),
        ("5，4，3", {"attitude": 5, "expertise": 4, "result": 3}),
        ("543", {"attitude": 5, "expertise": 4, "result": 3}),
    ],
)
def test_scores_named_or_given_at_once(text, scores):
    assert read_aspect_ratings(text).scores == scores


@pytest.mark.parametrize(
    "text, asking, scores",
    [
        ("5", "attitude", {"attitude": 5}),
        ("4分吧", "expertise", {"expertise": 4}),
        ("五星", "result", {"result": 5}),
        ("满分", "result", {"result": 5}),
        ("给你们打3分", "attitude", {"attitude": 3}),
        ("专业一般，3分", "expertise", {"expertise": 3}),
        ("一分", "attitude", {"attitude": 1}),
        # a named aspect wins over the one asked
        ("效果4分", "attitude", {"result": 4}),
    ],
)
def test_a_lone_score_answers_the_open_question(text, asking, scores):
    assert read_aspect_ratings(text, asking).scores == scores


@pytest.mark.parametrize(
    "text",
    ["都很好", "一般", "还行吧", "10分", "100分", "满意", "", "   ", "我的订单号是 2026", "😀😀"],
)
def test_vague_words_and_other_numbers_are_no_score(text):
    assert read_aspect_ratings(text, "attitude").scores == {}
    assert read_aspect_ratings(text).scores == {}


def test_a_long_message_with_one_number_is_not_taken_for_the_open_aspect():
    text = "上次那个问题拖了3天才有人回，希望以后快一点"
    assert read_aspect_ratings(text, "attitude").scores == {}
