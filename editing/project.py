"""Where an assistant project keeps its files, and reading them with line numbers.

The validator, the coverage report and the training fingerprint work on a project folder
(this repository by default, or a copy: ``--project DIR``) so that an editor's change can be
checked before it is merged, and the tests can check broken copies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbook.sourcefile import PROJECT_ROOT, SourceError, line_of, read_yaml_with_lines

__all__ = ["Project", "Example", "line_of", "SourceError"]

#: Sub-folders of data/ that are not Rasa training data (read by the action server only).
NOT_TRAINING = ("playbooks", "policy")
ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


@dataclass(frozen=True)
class Example:
    """One NLU example as the editor wrote it."""

    intent: str
    text: str
    file: str
    line: int

    @property
    def plain(self) -> str:
        """The text without entity annotations, spaces or case: what the model sees."""
        return re.sub(r"\s+", " ", ANNOTATION.sub(r"\1", self.text)).strip().casefold()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class Project:
    """An assistant project folder (domain.yml, config.yml, data/, tests/)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or PROJECT_ROOT).resolve()
        self._cache: dict[Path, tuple[Any, list[str]]] = {}

    # --- paths -----------------------------------------------------------------------------

    @property
    def domain_path(self) -> Path:
        return self.root / "domain.yml"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yml"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def playbook_dir(self) -> Path:
        return self.data_dir / "playbooks"

    @property
    def policy_path(self) -> Path:
        return self.data_dir / "policy" / "priority.yml"

    @property
    def test_stories_path(self) -> Path:
        return self.root / "tests" / "test_stories.yml"

    @property
    def test_nlu_path(self) -> Path:
        return self.root / "tests" / "nlu" / "test_nlu.yml"

    @property
    def model_path(self) -> Path:
        return self.root / "models" / "dy.tar.gz"

    def code_dir(self, name: str) -> Path:
        """The Python package ``name`` of the project (a copy may leave code out: then ours)."""
        own = self.root / name
        return own if own.is_dir() else PROJECT_ROOT / name

    def rel(self, path: Path) -> str:
        path = Path(path)
        for base in (self.root, PROJECT_ROOT):
            if path.is_absolute() and path.is_relative_to(base):
                return os.path.relpath(path, base)
        return str(path)

    def training_files(self) -> list[Path]:
        """Every YAML file Rasa trains on: data/ except the playbooks and the policy."""
        files = []
        for path in sorted(self.data_dir.rglob("*.yml")) + sorted(self.data_dir.rglob("*.yaml")):
            parts = path.relative_to(self.data_dir).parts
            if parts and parts[0] in NOT_TRAINING:
                continue
            files.append(path)
        return files

    # --- reading ---------------------------------------------------------------------------

    def read(self, path: Path) -> tuple[Any, list[str]]:
        """YAML data with line numbers, and the syntax problem if the file cannot be read."""
        path = Path(path)
        if path not in self._cache:
            try:
                self._cache[path] = (read_yaml_with_lines(path, self.rel(path)), [])
            except SourceError as exc:
                self._cache[path] = (None, exc.problems)
            except OSError:
                self._cache[path] = (
                    None,
                    [
                        f"{self.rel(path)}:1: 找不到或无法打开这个文件，请检查它是否存在 "
                        f"(file missing)"
                    ],
                )
        return self._cache[path]

    def lines(self, path: Path) -> list[str]:
        try:
            return Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []

    def find_line(self, path: Path, pattern: str, start: int = 1) -> int:
        """The first 1-based line at or after ``start`` matching the regex, else ``start``."""
        regex = re.compile(pattern)
        for number, text in enumerate(self.lines(path)[start - 1 :], start=start):
            if regex.search(text):
                return number
        return start

    def examples(self, path: Path, key: str = "nlu") -> Iterator[Example]:
        """The intent examples of one NLU file, each with its own line."""
        data, _ = self.read(path)
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            return
        raw_lines = self.lines(path)
        for block in data[key]:
            if not isinstance(block, dict) or "intent" not in block:
                continue
            text = block.get("examples")
            if not isinstance(text, str):
                continue
            cursor = line_of(block, "examples")  # the "examples: |" line; content follows it
            for item in text.splitlines():
                stripped = item.strip()
                if not stripped.startswith("- "):
                    continue
                for number in range(cursor + 1, len(raw_lines) + 1):
                    if raw_lines[number - 1].strip() == stripped:
                        cursor = number
                        break
                yield Example(
                    intent=str(block["intent"]),
                    text=stripped[2:].strip(),
                    file=self.rel(path),
                    line=cursor,
                )

    def intent_blocks(self, path: Path) -> Iterator[tuple[str, int]]:
        """(intent, line) for each ``- intent:`` block of an NLU file."""
        data, _ = self.read(path)
        if isinstance(data, dict) and isinstance(data.get("nlu"), list):
            for block in data["nlu"]:
                if isinstance(block, dict) and "intent" in block:
                    yield str(block["intent"]), line_of(block, "intent")
