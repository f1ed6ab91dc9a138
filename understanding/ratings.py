"""How users rate a member of staff on the three aspects of the service guide (服务态度、专业水平、
问题解决效果), as they really write it: one aspect at a time ("5", "五星", "4分吧"), several
named ("态度5分，专业4分，效果5分", "态度很好给5分 专业4"), all at once ("都给5分", "全部满分",
"三项都是4分", "态度很好，都给5分"), the rest at once ("态度3分，其他都5分"), or three in a row
("5 4 5", "5/4/5"). Pure: text in, scores out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from understanding.normalize import to_simplified

#: The aspects, in the order they are asked, with their names as staff read them.
ASPECTS = ("attitude", "expertise", "result")
ASPECT_LABELS = {"attitude": "服务态度", "expertise": "专业水平", "result": "问题解决效果"}
#: What users call each aspect (longest first where one contains another).
ALIASES = {
    "attitude": ("服务态度", "态度", "服务", "耐心", "热情"),
    "expertise": ("专业水平", "专业程度", "专业能力", "专业性", "专业", "水平", "技术", "能力"),
    "result": ("问题解决效果", "解决效果", "处理效果", "解决结果", "效果", "结果", "解决"),
}
NUMERALS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "一": 1, "二": 2, "两": 2, "三": 3}
NUMERALS |= {"四": 4, "五": 5}
_DIGIT = "[1-5一二两三四五]"
#: A score: a numeral not part of a longer number (10分, 2026), or 满分.
#: (A Chinese numeral only with 分 or 星: 一 of 一般 is no score.)
SCORE = re.compile(
    r"(?<![\d一二两三四五六七八九十百])"
    r"(?:(?P<n>[1-5])(?![\d十百])\s*(?:分|星|颗星|个星)?"
    r"|(?P<c>[一二两三四五])\s*(?:分|星|颗星|个星))"
    r"|(?P<full>满分|五星好评)"
)
_ALL_WORDS = "都|全都|全部|全|一律|统统|三项|三个|每项|各项|每个|都是"
ALL = re.compile(
    rf"(?:{_ALL_WORDS})\s*(?:都)?\s*(?:给|打|是|为|评)?\s*(?:了)?\s*(?:{SCORE.pattern})"
)
REST = re.compile(
    rf"(?:其他|其它|其余|剩下|另外|别的)(?:的|两项|两个|几项)?\s*(?:都|也)?\s*(?:给|打|是|为)?\s*"
    rf"(?:{SCORE.pattern})"
)
TRIPLE = re.compile(
    rf"^\s*({_DIGIT})\s*[,，、/ 和]?\s*({_DIGIT})\s*[,，、/ 和]?\s*({_DIGIT})\s*分?\s*$"
)
#: Between an aspect's name and its score: a few words ("很好", "给", "：", "打个"), no score.
GAP = r"[^\d满,，。;；!！?？]{0,6}?"


def _score(match: re.Match[str]) -> int:
    if match.group("full"):
        return 5
    return NUMERALS[match.group("n") or match.group("c")]


def _normalised(text: str) -> str:
    folded = to_simplified(text or "").translate(
        str.maketrans("０１２３４５６７８９：，", "0123456789:,")
    )
    return folded.strip()


@dataclass(frozen=True)
class AspectReading:
    """The scores a message gives, by aspect (only those it gives)."""

    scores: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(aspect in self.scores for aspect in ASPECTS)


def read_aspect_ratings(text: str, asking: str | None = None) -> AspectReading:
    """The aspect scores in ``text``; ``asking`` is the aspect the open question is about (a
    lone score answers it). Nothing recognisable: no scores."""
    norm = _normalised(text)
    if not norm:
        return AspectReading()
    everything = ALL.search(norm)
    if everything:
        value = _score(everything)
        named = _named(norm.replace(everything.group(0), " "))
        return AspectReading({aspect: named.get(aspect, value) for aspect in ASPECTS})
    triple = TRIPLE.match(norm)
    if triple:
        return AspectReading(
            {aspect: NUMERALS[triple.group(i + 1)] for i, aspect in enumerate(ASPECTS)}
        )
    scores = _named(norm)
    rest = REST.search(norm)
    if rest and scores:
        for aspect in ASPECTS:
            scores.setdefault(aspect, _score(rest))
    if not scores and asking in ASPECTS:
        lone = [m for m in SCORE.finditer(norm)]
        if len(lone) == 1 and len(norm) <= 12:
            scores[asking] = _score(lone[0])
    return AspectReading(scores)


def _named(norm: str) -> dict[str, int]:
    """Scores written after an aspect's name ("态度很好5分"), the first for each aspect."""
    found: dict[str, tuple[int, int]] = {}  # aspect -> (position, score)
    taken: list[tuple[int, int]] = []
    for aspect in ASPECTS:
        for alias in ALIASES[aspect]:
            for match in re.finditer(rf"{re.escape(alias)}{GAP}(?:{SCORE.pattern})", norm):
                span = match.span()
                if any(a < span[1] and span[0] < b for a, b in taken):
                    continue
                if aspect not in found or match.start() < found[aspect][0]:
                    found[aspect] = (match.start(), _score(match))
                taken.append((match.start(), match.start() + len(alias)))
    return {aspect: score for aspect, (_pos, score) in found.items()}
