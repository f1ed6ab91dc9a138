"""Check the domain, NLU data, stories, rules, playbooks and priority policy together.

Every problem is one line ``file:line: 中文说明，怎么改 (English key)``. The checks:

* YAML syntax of every file (file and line of the mistake);
* NLU: an intent with too few examples, the same example under two intents, an example
  repeated within one intent, an example labelled with an intent the domain does not list,
  a held-out test example (tests/nlu/test_nlu.yml) that is also a training example;
* stories, rules and test stories: an intent, action, response or slot not in the domain;
* code: a response an action sends that is not in the domain, an action the domain lists
  that no code implements, an action the code implements that the domain does not list;
* playbooks (the same checks the action server makes when it loads them): a step pointing
  to a step that does not exist, an unreachable step, a missing message or check, a
  duplicate step id, an unknown key, an invalid link or video URL, a missing image file, a
  priority not in the policy, a missing trigger; across playbooks: the same id or trigger
  intent twice, a trigger intent not in the domain or not started by any rule, a category
  without a Chinese label in the policy;
* the priority policy itself, and the assignment rules against it;
* everything ``rasa data validate --fail-on-warnings`` reports (placed at the line that
  names the intent, action or response it is about).

It also tells whether the trained model is older than the data (``rasa train`` needed);
that is a notice, not a failure. Exit status 1 when there is any problem.

Usage: python -m editing.validate [--project DIR] [--skip-rasa]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from editing.checks.code import check_code
from editing.checks.desk_policies import check_desk_policies
from editing.checks.domain import Domain
from editing.checks.nlu import check_nlu
from editing.checks.playbooks import check_playbooks
from editing.checks.rasa_validator import check_with_rasa
from editing.checks.stories import check_stories
from editing.checks.training_files import check_training_files, check_yaml_syntax
from editing.fingerprint import training_notices
from editing.project import Project


def validate(project: Project, with_rasa: bool = True) -> list[str]:
    """Every problem of the project, ``file:line: message`` each."""
    domain = Domain(project)
    problems: list[str] = list(domain.problems)
    problems += check_yaml_syntax(project)
    nlu, covered = check_nlu(project, domain)
    stories, covered_in_stories = check_stories(project, domain)
    files, covered_files = check_training_files(project)
    problems += (
        files
        + nlu
        + stories
        + check_code(project, domain)
        + check_playbooks(project, domain)
        + check_desk_policies(project)
    )
    if with_rasa and not any("(YAML syntax error)" in p for p in problems):
        problems += check_with_rasa(project, covered | covered_in_stories | covered_files)
    unique: list[str] = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="校验手册、训练数据、故事、规则和 domain "
        "(validate playbooks, NLU, stories, rules, domain)"
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="项目文件夹，默认是本仓库 (project folder, default: this repository)",
    )
    parser.add_argument(
        "--skip-rasa",
        action="store_true",
        help="不运行 Rasa 自带的校验（更快）(skip rasa data validate)",
    )
    args = parser.parse_args(argv)
    # the registry logs each rejected playbook for the running server; here they are printed once
    logging.getLogger("playbook.registry").disabled = True
    project = Project(args.project)
    problems = validate(project, with_rasa=not args.skip_rasa)
    for problem in problems:
        print(problem)
    notices = training_notices(project)
    for notice in notices:
        print(f"提示 (notice) {notice}")
    if problems:
        print(
            f"\n{len(problems)} 个问题 (problems)。请按提示修改后再运行 make validate。",
            file=sys.stderr,
        )
        return 1
    print(
        "校验通过 (validation passed): domain、训练例句、故事、规则、手册和优先级策略都没有问题。"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
