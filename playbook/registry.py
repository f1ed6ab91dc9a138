"""All playbooks of a folder, kept fresh while the server runs.

The priority levels a playbook's escalation may name are given by the caller (a list, or a
callable that reads the priority policy on every refresh); nothing here knows the policy.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from playbook.model import Playbook, Trigger
from playbook.parse import PlaybookError, load_playbook_file
from playbook.sourcefile import PROJECT_ROOT

logger = logging.getLogger(__name__)

DEFAULT_PLAYBOOK_DIR = PROJECT_ROOT / "data" / "playbooks"

#: The priority levels an escalation may name: fixed, or read afresh on every refresh.
Priorities = Iterable[str] | Callable[[], Iterable[str]] | None
#: What :meth:`PlaybookRegistry.refresh` compares: the priorities and, per file, its name,
#: mtime, ctime, inode and size.
_Stamp = tuple[tuple[str, ...], tuple[tuple[str, int, int, int, int], ...]]


class PlaybookRegistry:
    """All playbooks of a folder, reloaded when a file changes.

    A file that fails its checks is logged and skipped, and the last valid version of
    that playbook keeps serving. When a changed file would take the id or a trigger intent
    of a playbook that is live, the changed file is refused and its previous version keeps
    serving. ``priorities`` may be a callable (e.g. reading the priority policy), so that a
    new priority level is accepted without a restart.
    """

    def __init__(
        self,
        directory: Path | None = None,
        priorities: Priorities = None,
        root: Path | None = None,
    ) -> None:
        self.directory = Path(
            directory or os.environ.get("DY_PLAYBOOK_DIR") or DEFAULT_PLAYBOOK_DIR
        )
        self.root = root
        self._priorities: list[str] | Callable[[], Iterable[str]] | None = (
            priorities if callable(priorities) or priorities is None else list(priorities)
        )
        self._last_priorities: list[str] | None = None
        self._priority_error = ""
        self._lock = threading.Lock()
        self._stamp: _Stamp | tuple[()] = ()
        self._parsed: dict[str, Playbook] = {}  # file -> its content on disk, when valid
        self._served: dict[str, Playbook] = {}  # file -> the version that is live
        self._active: list[Playbook] = []
        self._parse_errors: dict[str, list[str]] = {}
        self.errors: dict[str, list[str]] = {}

    def _files(self) -> list[Path]:
        return sorted(p for p in self.directory.glob("*.yml") if p.is_file())

    def _current_priorities(self) -> list[str] | None:
        """The policy's priority levels; while the policy is unreadable, the last good ones."""
        if not callable(self._priorities):
            return self._priorities
        try:
            self._last_priorities = list(self._priorities())
            self._priority_error = ""
        except Exception as exc:  # noqa: BLE001 - a broken policy must not stop the playbooks
            if str(exc) != self._priority_error:  # once per distinct mistake, not every turn
                self._priority_error = str(exc)
                logger.error("priority policy unreadable, using the last valid levels: %s", exc)
        return self._last_priorities

    def refresh(self) -> None:
        files = self._files()
        priorities = self._current_priorities()
        try:
            # size, times and inode: a same-size edit within the file system's time resolution
            # still changes the ctime or (when saved by rename) the inode
            stats = [(str(p), p.stat()) for p in files]  # one stat per file: this runs every turn
            stamp = (
                tuple(priorities or ()),
                tuple(
                    (name, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size)
                    for name, st in stats
                ),
            )
        except OSError:  # a file vanished while we looked: the next turn sees the new state
            return
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            seen = {str(path) for path in files}
            for path in files:
                try:
                    self._parsed[str(path)] = load_playbook_file(
                        path, priorities=priorities, root=self.root
                    )
                    self._parse_errors.pop(str(path), None)
                except PlaybookError as exc:
                    self._reject(str(path), exc.problems)
                except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
                    source = os.path.relpath(path, self.root or PROJECT_ROOT)
                    self._reject(
                        str(path),
                        [
                            f"{source}:1: 文件无法读取：{type(exc).__name__}，请检查"
                            f"文件内容 (playbook unreadable)"
                        ],
                    )
            for table in (self._parsed, self._served, self._parse_errors):
                for gone in set(table) - seen:
                    del table[gone]
            clash_errors = self._resolve()
            self.errors = {
                path: self._parse_errors.get(path, []) + clash_errors.get(path, [])
                for path in sorted(set(self._parse_errors) | set(clash_errors))
            }
            self._active = sorted(self._served.values(), key=lambda p: p.source)
            self._stamp = stamp

    def _reject(self, path: str, problems: list[str]) -> None:
        self._parsed.pop(path, None)  # the content on disk is not valid: nothing new to serve
        if problems != self._parse_errors.get(path):
            for line in problems:
                logger.error("playbook rejected, keeping the last valid version: %s", line)
        self._parse_errors[path] = problems

    @staticmethod
    def _clashes(playbook: Playbook, others: Mapping[str, Playbook]) -> list[str]:
        problems = []
        for other in others.values():
            if other.id == playbook.id:
                problems.append(
                    f"{playbook.source}:{playbook.line}: 手册 id {playbook.id!r} 已在 "
                    f"{other.source} 中使用，请换一个名字 (duplicate playbook id)"
                )
        for trigger in playbook.triggers:
            owner = next((o for o in others.values() if o.trigger_for(trigger.intent)), None)
            if owner is not None:
                problems.append(
                    f"{playbook.source}:{trigger.line}: 触发意图 {trigger.intent} 已由 "
                    f"{owner.source} 使用，一个意图只能启动一本手册 "
                    f"(intent already triggers another playbook)"
                )
        return problems

    def _resolve(self) -> dict[str, list[str]]:
        """Decide what is live: every live version stays, and each new version goes live if
        it takes no id or intent from what is live (repeated, so that an intent moved from
        one file to another in a single update goes through). Returns the clash messages."""
        clash_errors: dict[str, list[str]] = {}
        changed = True
        while changed:
            changed = False
            for path in sorted(self._parsed):
                candidate = self._parsed[path]
                if self._served.get(path) == candidate:
                    clash_errors.pop(path, None)
                    continue
                others = {p: b for p, b in self._served.items() if p != path}
                problems = self._clashes(candidate, others)
                if problems:
                    if problems != clash_errors.get(path):
                        for line in problems:
                            logger.error(
                                "playbook rejected, keeping the last valid version: %s", line
                            )
                    clash_errors[path] = problems
                else:
                    self._served[path] = candidate
                    clash_errors.pop(path, None)
                    changed = True
        return clash_errors

    def all(self) -> list[Playbook]:
        self.refresh()
        return list(self._active)

    def get(self, playbook_id: str | None) -> Playbook | None:
        if not isinstance(playbook_id, str):
            return None
        return next((p for p in self.all() if p.id == playbook_id), None)

    def for_intent(self, intent: str | None) -> tuple[Playbook, Trigger] | None:
        for playbook in self.all():
            trigger = playbook.trigger_for(intent)
            if trigger:
                return playbook, trigger
        return None
