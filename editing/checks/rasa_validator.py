"""Rasa's own validator (rasa data validate): its findings at their file and line, in Chinese."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from editing.checks.code import responses_used_in_code
from editing.project import Project

UNUSED_RESPONSE = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")
#: Rasa warnings that one of our checks above already reports with its file and line.
OURS = [
    re.compile(r"The intent '([^']+)' is listed in the domain file, but is not found in the NLU"),
    re.compile(r"There is a message in the training data labeled with intent '([^']+)'"),
    re.compile(r"The example '(.+)' was found labeled with multiple different intents"),
    re.compile(r"The intent '([^']+)' is used in your stories, but it is not listed"),
    re.compile(r"The action '([^']+)' is used in the"),
    re.compile(r"Found intent '([^']+)' in stories which is not part of the domain"),
    re.compile(r"Intent '([^']+)' has no examples"),
]
#: Rasa's warnings an editor meets most, in Chinese with how to fix them.
TRANSLATED = [
    (
        re.compile(r"The intent '([^']+)' is not used in any story or rule\."),
        "意图 {0} 没有在任何规则或故事中使用：助手识别出它以后不知道该做什么，"
        "请在 data/rules.yml 中为它"
        "加一条规则 (intent not used in any story or rule)",
    ),
    (
        re.compile(r"The utterance '([^']+)' is not used in any story or rule\."),
        "回复 {0} 没有被任何规则、故事或代码使用，请删除它，或在规则中使用它 (response not used)",
    ),
    (
        re.compile(
            r"The intent '([^']+)' is listed in the domain file, but is not found in the NLU"
        ),
        "意图 {0} 列在 domain.yml 中，但没有任何训练例句，请在 data/nlu/ 中添加 "
        "(intent has no examples)",
    ),
]
ABSOLUTE_YAML = re.compile(r"'?(/[^'\s]+?\.ya?ml)'?(?::(\d+))?")


def _locate(project: Project, message: str) -> str:
    """``file:line`` of what the warning is about: the file Rasa names, else the first line of
    the domain or the training data naming its intent, action or response."""
    matches = sorted(ABSOLUTE_YAML.finditer(message), key=lambda m: m.group(2) is None)
    for match in matches:  # a mention with a line number first
        path = Path(match.group(1))
        if path.is_file() and path.resolve().is_relative_to(project.root):
            return f"{project.rel(path.resolve())}:{match.group(2) or 1}"
    names = re.findall(r"'([^']{2,})'", message)
    files = [project.domain_path, *project.training_files()]
    if project.test_stories_path.is_file():
        files.append(project.test_stories_path)
    for name in names:
        token = rf"(^|[\s:\-\[\(]){re.escape(name)}(\s*$|[\s:\]\)]|$)"
        for path in files:
            for number, text in enumerate(project.lines(path), start=1):
                if re.search(token, text):
                    return f"{project.rel(path)}:{number}"
    return f"{project.rel(project.domain_path)}:1"


def check_with_rasa(project: Project, covered: set[str]) -> list[str]:
    """What ``rasa data validate --fail-on-warnings`` reports, less the findings about the names
    in ``covered`` (our checks report those already) and the responses the code uses."""
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.utils.common import EXPECTED_WARNINGS  # warnings Rasa's own CLI filters out

    importer = TrainingDataImporter.load_from_config(
        config_path=str(project.config_path),
        domain_path=str(project.domain_path),
        training_data_paths=[str(p) for p in project.training_files()],
    )
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            validate_files(True, None, importer)
        except SystemExit as exc:
            if exc.code:
                problems.append(
                    f"{project.rel(project.domain_path)}:1: rasa data validate 校验失败，"
                    f"详见上方 Rasa 的输出 (rasa data validate failed)"
                )
        except Exception as exc:  # noqa: BLE001 - a file Rasa cannot read at all
            problems.append(
                f"{_locate(project, str(exc))}: Rasa 无法读取训练数据：{_tidy(project, exc)}，"
                f"请按提示修改 (rasa cannot load the data)"
            )
    used = responses_used_in_code(project)
    for warning in caught:
        if not issubclass(warning.category, UserWarning):
            continue
        message = str(warning.message)
        if any(
            issubclass(warning.category, category) and re.match(pattern, message)
            for category, pattern in EXPECTED_WARNINGS
        ):
            continue
        if re.search(
            r"The intent 'EXTERNAL_\w+' is listed in the domain file, but is not found", message
        ):
            continue
        match = UNUSED_RESPONSE.search(message)
        if match and match.group(1) in used:
            continue
        if any((m := regex.search(message)) and m.group(1) in covered for regex in OURS):
            continue
        problems.append(f"{_locate(project, message)}: {_translate(project, message)}")
    return problems


def _tidy(project: Project, text: object) -> str:
    """One line, with the project's absolute paths made relative."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text.replace(str(project.root) + "/", "")


def _translate(project: Project, message: str) -> str:
    """A Rasa warning in Chinese with how to fix it, or quoted as it is."""
    for pattern, chinese in TRANSLATED:
        match = pattern.search(message)
        if match:
            return chinese.format(*match.groups())
    return f"rasa data validate 报告：{_tidy(project, message)} (rasa)"
