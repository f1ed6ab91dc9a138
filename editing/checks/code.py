"""Code and domain agree: the responses the code sends, the actions the code implements."""

from __future__ import annotations

import re
from pathlib import Path

from editing.checks.domain import Domain, suggest
from editing.project import Project

RESPONSE_IN_CODE = re.compile(r"[\"'](utter_[a-z0-9_]*[a-z0-9])[\"']")
ACTION_NAME_IN_CODE = re.compile(r"return\s+[\"'](action_[a-z0-9_]+)[\"']")


def code_files(project: Project) -> list[Path]:
    """The Python files of actions/, channels/, playbook/, web/, the widget's pages and the
    scale-out's command (its load balancer answers with a response)."""
    files: list[Path] = []
    for package in ("actions", "channels", "playbook", "web"):
        files.extend(sorted(project.code_dir(package).glob("*.py")))
    files.append(project.code_dir("scripts") / "scale.py")
    static = project.code_dir("web") / "static"
    files.extend(sorted(p for p in static.glob("*.*") if p.suffix in (".html", ".js")))
    return files


def responses_used_in_code(project: Project) -> dict[str, tuple[str, int]]:
    """Responses the actions send, the channels use or the widget page shows, with a place."""
    used: dict[str, tuple[str, int]] = {}
    for path in code_files(project):
        pattern = (
            RESPONSE_IN_CODE
            if path.suffix == ".py"
            else re.compile(r"\b(utter_widget_[a-z0-9_]+)\b")
        )
        for number, text in enumerate(project.lines(path), start=1):
            for name in pattern.findall(text):
                used.setdefault(name, (project.rel(path), number))
    return used


def check_code(project: Project, domain: Domain) -> list[str]:
    """Responses used in code but not in the domain; actions listed but not implemented, or
    implemented but not listed."""
    if not domain.ok:
        return []
    problems: list[str] = []
    for name, (file, line) in sorted(responses_used_in_code(project).items()):
        if name not in domain.responses:
            problems.append(
                f"{file}:{line}: 代码要发送的回复 {name} 不在 domain.yml 的 responses 中，"
                f"用户会看不到这句话，请在 domain.yml 中添加{suggest(name, domain.responses)} "
                f"(response used by the code is not in the domain)"
            )
    implemented: dict[str, tuple[str, int]] = {}
    for path in sorted(project.code_dir("actions").glob("*.py")):
        for number, text in enumerate(project.lines(path), start=1):
            for name in ACTION_NAME_IN_CODE.findall(text):
                implemented.setdefault(name, (project.rel(path), number))
    for name, (file, line) in sorted(implemented.items()):
        if name not in domain.actions:
            problems.append(
                f"{file}:{line}: 自定义动作 {name} 没有列在 domain.yml 的 actions 中，"
                f"Rasa 不会调用它，请添加 (action missing from domain)"
            )
    for name in domain.actions:
        if name.startswith("action_") and name not in implemented:
            problems.append(
                f"{domain.file}:{domain.line('actions', name)}: 动作 {name} 列在 "
                f"domain.yml 的 actions 中，但 actions/ 里没有实现它，请删除这一行或"
                f"检查拼写{suggest(name, implemented)} (action not implemented)"
            )
    return problems
