"""Pinyin typed without the input method, read back as the training data's characters
(understanding/pinyin.py), and the pipeline component that applies it."""

from __future__ import annotations

import pytest
import yaml

from tests.factories import ROOT
from understanding.pinyin import PinyinIndex


def _training_texts() -> list:
    texts = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in (block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    texts.append(line.strip()[2:])
    return texts


@pytest.fixture(scope="module")
def index() -> PinyinIndex:
    return PinyinIndex.from_texts(_training_texts())


@pytest.mark.parametrize(
    "typed,read",
    [
        ("wang luo lian bu shang a", "网络连不上啊"),
        ("wang ji mi ma le", "忘记密码了"),
        ("zhuanrengong", "转人工"),
        ("zhuan ren gong", "转人工"),
        ("ni shi ji qi ren ma", "你是机器人吗"),
        ("wo de shi pin bu jian le", "我的视频不见了"),
        ("deng lu bu liao", "登录不了"),
        ("Xie Xie", "谢谢"),
        ("zai ma?", "在吗?"),
    ],
)
def test_pinyin_is_read_as_the_training_words(index, typed, read):
    assert index.read(typed) == read


@pytest.mark.parametrize(
    "text",
    [
        "r u human",
        "hello",
        "change password",
        "ticket status? submitted last week",
        "ok",
        "a",
        "网络连不上",
        "wifi 断了",
        "886",
        "",
        "   ",
        "<script>alert(1)</script>",
        "' or 1=1 --",
        "zzzz qqqq",
        "😀😀",
    ],
)
def test_anything_that_is_not_wholly_pinyin_is_left_alone(index, text):
    assert index.read(text) is None


def test_a_word_on_its_own_beats_a_character_seen_inside_others():
    # 码 is frequent inside 密码, but 吗 is written on its own: "ma" is 吗
    index = PinyinIndex.from_texts(["密码错误", "密码忘了", "验证码", "在吗"])
    assert index.read("zai ma") == "在吗"


def test_an_empty_index_reads_nothing():
    assert PinyinIndex().read("wang luo") is None


def test_a_long_text_is_not_read(index):
    assert index.read("wang luo " * 20) is not None
    assert index.read("wang luo " * 1000) is None
    assert index.read("x" * 100000) is None
