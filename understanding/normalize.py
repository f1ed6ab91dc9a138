"""One normal form for user text, shared by the NLU pipeline and the step-answer judge.

Traditional characters and Taiwan/Hong Kong wording become simplified mainland Chinese
(OpenCC ``tw2sp``: 網路 → 网络, 影片 → 视频, 登入 → 登录), full-width letters and digits
become ASCII (NFKC), Latin letters are lower-cased and runs of white space shrink to one.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=2)
def _converter(config: str = "tw2sp") -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional characters and Taiwan phrasing as simplified mainland Chinese.

    Text with no traditional character is left as it is: ``tw2sp`` reads its input as Taiwan
    usage and would turn mainland words into others (程序 → 进程, 文件 → 文档)."""
    if not text or _converter("t2s").convert(text) == text:
        return text
    converted: str = _converter().convert(text)
    return converted


def same_length_simplified(text: str) -> str:
    """:func:`to_simplified` when it keeps the text's length (entity offsets stay valid),
    else character by character (``t2s``), else the text unchanged."""
    if not text or _converter("t2s").convert(text) == text:
        return text
    for config in ("tw2sp", "t2s"):
        converted: str = _converter(config).convert(text)
        if len(converted) == len(text):
            return converted
    return text


def normalize(text: str) -> str:
    """The normal form the judge's rules are written against."""
    text = unicodedata.normalize("NFKC", text or "")
    text = to_simplified(text).lower()
    return _SPACES.sub(" ", text).strip()
