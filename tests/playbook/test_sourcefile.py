"""Editor-written YAML is read with its lines, and its mistakes name the file and the line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from playbook import PlaybookError, SourceError
from playbook.parse import load_playbook_file
from playbook.sourcefile import line_of, read_yaml_with_lines
from tests.factories import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "some.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_mappings_remember_their_lines_and_the_lines_of_their_keys(tmp_path):
    data = read_yaml_with_lines(write(tmp_path, "a: 1\nb:\n  - c: 2\n    d: 3\n"), "some.yml")
    assert line_of(data) == 1 and line_of(data, "b") == 2
    item = data["b"][0]
    assert line_of(item) == 3 and line_of(item, "d") == 4
    assert line_of(item, "missing") == 3  # the mapping's own line
    assert line_of(["not", "a", "mapping"]) == 1


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("a: 1\nb: [2\n", 3, "YAML 格式错误"),
        ("a: 1\nb: 2\na: 3\n", 3, "字段 a 在同一处写了两次"),
        ("a: 1\n[x, y]: 2\n", 2, "冒号前的名字不能是列表或映射"),
    ],
)
def test_a_mistake_is_a_source_error_at_its_line(tmp_path, text, line, fragment):
    with pytest.raises(SourceError) as info:
        read_yaml_with_lines(write(tmp_path, text), "data/some.yml")
    assert not isinstance(info.value, PlaybookError)
    [problem] = info.value.problems
    assert problem.startswith(f"data/some.yml:{line}: ") and fragment in problem, problem
    assert problem.endswith(" (YAML syntax error)")
    assert str(info.value) == problem


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "some.yml"
    path.write_bytes("标题: 网络".encode("gbk"))
    with pytest.raises(SourceError) as info:
        read_yaml_with_lines(path, "some.yml")
    assert info.value.problems == [
        "some.yml:1: 文件不是 UTF-8 编码，请用 UTF-8 保存 (file is not UTF-8)"
    ]


def test_a_playbook_file_with_a_syntax_error_is_a_playbook_error(tmp_path):
    with pytest.raises(PlaybookError) as info:
        load_playbook_file(write(tmp_path, "id: [demo\n"))
    assert isinstance(info.value, SourceError)
    assert info.value.problems[0].startswith(f"{tmp_path / 'some.yml'}:2: YAML 格式错误")


def test_the_playbook_package_imports_nothing_of_the_project_but_understanding():
    project = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert {"actions", "playbook", "understanding", "web"} <= project
    for path in sorted((ROOT / "playbook").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top not in project - {"playbook", "understanding"}, f"{path.name}: {name}"
