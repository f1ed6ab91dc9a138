"""The training files under data/: their YAML syntax, their shape, which hold NLU or stories."""

from __future__ import annotations

from pathlib import Path

from editing.project import Project, line_of

TRAINING_KEYS = {"version", "nlu", "stories", "rules", "responses"}


def check_yaml_syntax(project: Project) -> list[str]:
    """The YAML syntax problems of every training file and of the test stories."""
    problems: list[str] = []
    for path in [
        *project.training_files(),
        *([project.test_stories_path] if project.test_stories_path.is_file() else []),
    ]:
        problems.extend(project.read(path)[1])
    return problems


def check_training_files(project: Project) -> tuple[list[str], set[str]]:
    """Every YAML file under data/ (except playbooks and policy) must be Rasa training data."""
    problems: list[str] = []
    covered: set[str] = set()
    for path in project.training_files():
        data, syntax = project.read(path)
        if syntax:
            continue
        file = project.rel(path)
        if not isinstance(data, dict) or not (set(data) & {"nlu", "stories", "rules"}):
            problems.append(
                f"{file}:1: 这个文件不是 Rasa 训练数据（顶层需要 nlu:、stories: 或 rules:），"
                f"不会被训练，请检查格式或删除它 (not training data)"
            )
            continue
        for key in data:
            if key not in TRAINING_KEYS:
                problems.append(
                    f"{file}:{line_of(data, key)}: 未知的顶层字段 {key!r}，可用：nlu、stories、"
                    f"rules、version (unknown key)"
                )
        for key in ("nlu", "stories", "rules"):
            if key in data and not isinstance(data[key], list):
                problems.append(
                    f"{file}:{line_of(data, key)}: {key} 必须是列表（每项以 - 开头）"
                    f"({key} must be a list)"
                )
        nlu = data.get("nlu")
        for block in nlu if isinstance(nlu, list) else []:
            if not isinstance(block, dict):
                problems.append(
                    f"{file}:{line_of(data, 'nlu')}: nlu 下的每一项必须是映射，例如 "
                    f"- intent: 名称 / examples: | (nlu item must be a mapping)"
                )
            elif "intent" in block and isinstance(block.get("examples"), list):
                covered.add(str(block["intent"]))
                problems.append(
                    f"{file}:{line_of(block, 'examples')}: 意图 {block['intent']} 的 examples "
                    f"要写成文字块：examples: | 换行后每行一句 - 用户的说法，而不是 YAML 列表 "
                    f"(examples must be a | block)"
                )
            elif "intent" in block and (
                not isinstance(block.get("examples"), str) or not block["examples"].strip()
            ):
                covered.add(str(block["intent"]))
                problems.append(
                    f"{file}:{line_of(block, 'intent')}: 意图 {block['intent']} 没有写例句，"
                    f"请在 examples: | 下面每行写一句 - 用户的说法 (intent block without examples)"
                )
    return problems, covered


def _training_files_with(project: Project, *keys: str) -> list[Path]:
    """The training files whose top level has one of ``keys``."""
    return [
        path
        for path in project.training_files()
        if isinstance(data := project.read(path)[0], dict) and any(k in data for k in keys)
    ]


def nlu_files(project: Project) -> list[Path]:
    """The training files with NLU examples (top-level ``nlu:``)."""
    return _training_files_with(project, "nlu")


def story_files(project: Project) -> list[Path]:
    """The training files with stories or rules, and the test stories."""
    files = _training_files_with(project, "stories", "rules")
    if project.test_stories_path.is_file():
        files.append(project.test_stories_path)
    return files
