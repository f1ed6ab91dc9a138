"""The parts of domain.yml the checks need, each name with its line, and spelling suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any, overload

from editing.project import Project, line_of


class Domain:
    """The parts of domain.yml the checks need, each name with its line."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = project.domain_path
        self.file = project.rel(self.path)
        data, self.problems = project.read(self.path)
        self.ok = isinstance(data, dict)
        if data is None and not self.problems:
            self.problems.append(
                f"{self.file}:1: domain.yml 是空的，它需要列出意图、回复和动作 (domain is empty)"
            )
        if data is not None and not self.ok:
            self.problems.append(
                f"{self.file}:1: domain.yml 必须是一个映射，包含 intents、entities、slots、"
                f"actions、responses 等部分 (domain must be a mapping)"
            )
        data = data if isinstance(data, dict) else {}
        if self.ok and not isinstance(data.get("intents"), list):
            self.ok = False  # every intent would look unknown: one message instead
            self.problems.append(
                f"{self.file}:{line_of(data, 'intents')}: domain.yml 的 intents 必须是"
                f"意图名称的列表（每行一个 - 意图名），请检查 (domain intents must be a list)"
            )
        self.intents = [self._name(i) for i in self._section(data, "intents", list)]
        self.entities = [self._name(e) for e in self._section(data, "entities", list)]
        self.actions = [self._name(a) for a in self._section(data, "actions", list)]
        self.forms = list(self._section(data, "forms", dict))
        self.slots = list(self._section(data, "slots", dict))
        self._responses_map = self._section(data, "responses", dict)
        self.responses = list(self._responses_map)

    @overload
    def _section(self, data: dict[str, Any], name: str, kind: type[list[Any]]) -> list[Any]: ...

    @overload
    def _section(
        self, data: dict[str, Any], name: str, kind: type[dict[str, Any]]
    ) -> dict[str, Any]: ...

    def _section(
        self, data: dict[str, Any], name: str, kind: type[list[Any]] | type[dict[str, Any]]
    ) -> list[Any] | dict[str, Any]:
        value = data.get(name)
        if value is None:
            return kind()
        if not isinstance(value, kind):
            what = "列表（每行一个 - 名称）" if kind is list else "映射（名称: 内容）"
            self.problems.append(
                f"{self.file}:{line_of(data, name)}: domain.yml 的 {name} 必须是{what} "
                f"(domain {name} must be a {kind.__name__})"
            )
            return kind()
        return value

    @staticmethod
    def _name(item: Any) -> str:
        return str(next(iter(item), "")) if isinstance(item, dict) else str(item)

    def line(self, section: str, name: str) -> int:
        """The line where ``name`` is listed under ``section``."""
        start = self.project.find_line(self.path, rf"^{section}:\s*$")
        if section == "responses" and name in self._responses_map:
            return line_of(self._responses_map, name)
        return self.project.find_line(
            self.path, rf"^\s*(-\s*)?{re.escape(name)}\s*:?\s*(#.*)?$", start
        )

    def section_line(self, section: str) -> int:
        return self.project.find_line(self.path, rf"^{section}:\s*$")

    def knows_action(self, name: str) -> bool:
        from rasa.shared.core.constants import DEFAULT_ACTION_NAMES

        return (
            name in self.actions
            or name in self.responses
            or name in self.forms
            or name in DEFAULT_ACTION_NAMES
        )


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``，是不是想写 X？`` for the closest of ``candidates`` to a misspelt name, else ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f"，是不是想写 {close[0]}？" if close else ""
