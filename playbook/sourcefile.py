"""Editor-written YAML read with line numbers, so that every problem says ``file:line``.

Mappings read by :func:`read_yaml_with_lines` remember the line of themselves and of each
key (:func:`line_of`); a key written twice, or a list used as a key, is a syntax problem
instead of YAML's silent choice. Problems are raised as :class:`SourceError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

#: The project folder (this repository): messages name files relative to it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SourceError(ValueError):
    """A source file has mistakes. ``problems`` holds one ``file:line: message`` per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _LineDict(dict[Any, Any]):
    """A dict that remembers the 1-based line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    pass


# Dates stay text (``2026-10-01``): the reader of the field checks them and names the line,
# where YAML's own date would fail on 2026-02-30 with no line at all.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    # keys written here (not merged in with "<<:", which they may override) must be usable
    # and written once: YAML would silently keep the last of two
    seen: set[tuple[str, Any]] = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict, set)):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "冒号前的名字不能是列表或映射（例如 [直播, 推流]:），每个取值请单独写一行",
                key_node.start_mark,
            )
        marker = (type(key).__name__, key)
        if marker in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"字段 {key} 在同一处写了两次，后一个会悄悄覆盖前一个，请删除多余的一行",
                key_node.start_mark,
            )
        seen.add(marker)
    loader.flatten_mapping(node)
    mapping = _LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:  # merged keys first, then the ones written here
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict, set)):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "冒号前的名字不能是列表或映射，请检查合并进来（<<:）的内容",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def line_of(mapping: Any, key: str | None = None) -> int:
    """The 1-based line of a mapping read by :func:`read_yaml_with_lines`, or of one of its
    keys (the mapping's own line when the key is not there; 1 for anything else)."""
    if isinstance(mapping, _LineDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return 1


def read_yaml_with_lines(path: Path, source: str) -> Any:
    """Parse a YAML file; mappings remember their lines (see :func:`line_of`).

    A syntax error becomes a :class:`SourceError` with the file (named ``source``) and the
    line of the mistake.
    """
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SourceError(
            [
                f"{source}:{line}: YAML 格式错误：{getattr(exc, 'problem', exc)}，"
                f"请检查缩进和冒号 (YAML syntax error)"
            ]
        ) from None
    except UnicodeDecodeError:
        raise SourceError(
            [f"{source}:1: 文件不是 UTF-8 编码，请用 UTF-8 保存 (file is not UTF-8)"]
        ) from None


_T = TypeVar("_T")


class FileCache(Generic[_T]):
    """What a file says, read with :func:`read_yaml_with_lines` and built by ``build(data,
    source)``, kept until the file changes (its modification time): the policies the servers
    read on every turn or round without reading the file each time, and with an edit taking
    effect at the next one."""

    def __init__(self, build: Callable[[Any, str], _T]) -> None:
        self._build = build
        self._kept: dict[str, tuple[int, _T]] = {}

    def load(self, path: Path) -> _T:
        mtime = path.stat().st_mtime_ns
        kept = self._kept.get(str(path))
        if kept and kept[0] == mtime:
            return kept[1]
        value = self._build(read_yaml_with_lines(path, str(path)), str(path))
        self._kept[str(path)] = (mtime, value)
        return value
