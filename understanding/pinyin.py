"""Pinyin typed without the input method, read back as the characters the training data uses.

Users type 「wang luo lian bu shang a」 or 「zhuanrengong」 when the input method is off. The
index is learnt from the training data's own words (jieba) and characters, keyed by their
toneless pinyin (``pypinyin``, data inside the wheel): a message that is pinyin and nothing
else becomes the fewest, most frequent training words that spell it (网络 连不上 啊). Anything
that is not wholly pinyin (English, digits, a mix with characters) is left alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import jieba
from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
#: Letters, spaces and a little punctuation: a candidate for pinyin.
_PINYIN_ONLY = re.compile(r"^[a-zü\s'?!.,~，。？！～]+$")
_CHUNKS = re.compile(r"[a-zü']+|[^a-zü'\s]+")
#: The longest toneless syllable (zhuang, shuang) has six letters.
_LONGEST = 6
#: Fewer syllables than this is more likely an English word or an interjection (a, e, ha).
MIN_SYLLABLES = 2
#: A message typed in pinyin is short; a longer text is not read (and costs nothing).
MAX_CHARS = 200


def syllables_of(word: str) -> list[str]:
    """The toneless pinyin of ``word``, one syllable per character (ü written v)."""
    return lazy_pinyin(word, style=Style.NORMAL, v_to_u=False)


@lru_cache(maxsize=1)
def all_syllables() -> frozenset[str]:
    """Every toneless syllable of Mandarin that pypinyin knows."""
    from pypinyin.constants import PINYIN_DICT

    return frozenset(s for code in PINYIN_DICT for s in syllables_of(chr(code)) if s.isalpha())


@dataclass
class PinyinIndex:
    """Toneless pinyin ("wang luo") -> the most frequent training word spelt so (网络)."""

    words: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> PinyinIndex:
        words: Counter[str] = Counter()
        inner: Counter[str] = Counter()  # characters seen only inside longer words
        for text in texts:
            for word in jieba.lcut(text):
                if _HAN.match(word):
                    words[word] += 1
                    if len(word) > 1:
                        inner.update(word)
        best: dict[str, tuple[int, int, str]] = {}
        for counts, standing in ((words, 1), (inner, 0)):
            for word, count in counts.items():
                key = " ".join(syllables_of(word))
                # a word written on its own beats a character seen inside others (吗, not 码)
                if key not in best or (standing, count) > best[key][:2]:
                    best[key] = (standing, count, word)
        return cls({key: word for key, (_standing, _count, word) in best.items()})

    def read(self, text: str) -> str | None:
        """The characters ``text`` spells if it is wholly pinyin, else None."""
        lowered = (text or "").strip().lower()
        if (
            not lowered
            or len(lowered) > MAX_CHARS
            or not _PINYIN_ONLY.match(lowered)
            or not re.search(r"[a-z]", lowered)
        ):
            return None
        pieces: list[str] = []
        syllable_count = 0
        pending: list[str] = []
        for chunk in _CHUNKS.findall(lowered):
            if not re.match(r"[a-zü']", chunk):
                if pending:
                    pieces.append(self._spell(pending) or "")
                    if not pieces[-1]:
                        return None
                    pending = []
                pieces.append(chunk)
                continue
            split = _split(chunk.replace("'", ""), all_syllables())
            if split is None:
                return None
            pending.extend(split)
            syllable_count += len(split)
        if pending:
            spelt = self._spell(pending)
            if not spelt:
                return None
            pieces.append(spelt)
        if syllable_count < MIN_SYLLABLES:
            return None
        return "".join(pieces)

    def _spell(self, syllables: Sequence[str]) -> str | None:
        """The fewest index words covering ``syllables`` in order, or None."""
        count = len(syllables)
        best: list[tuple[int, list[str]] | None] = [None] * (count + 1)
        best[0] = (0, [])
        for end in range(1, count + 1):
            for start in range(max(0, end - 8), end):
                here = best[start]
                if here is None:
                    continue
                word = self.words.get(" ".join(syllables[start:end]))
                if word is None:
                    continue
                cost = here[0] + 1
                there = best[end]
                if there is None or cost < there[0]:
                    best[end] = (cost, here[1] + [word])
        found = best[count]
        return "".join(found[1]) if found is not None else None


def _split(letters: str, known: frozenset[str]) -> list[str] | None:
    """``letters`` cut into the fewest pinyin syllables (zhuanrengong -> zhuan ren gong)."""
    count = len(letters)
    best: list[list[str] | None] = [None] * (count + 1)
    best[0] = []
    for end in range(1, count + 1):
        for start in range(max(0, end - _LONGEST), end):
            prefix = best[start]
            if prefix is not None and letters[start:end] in known:
                candidate = prefix + [letters[start:end]]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[count]
