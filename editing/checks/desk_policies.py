"""The desk's policy files beside the priority policy: the assignment rules
(``data/policy/assignment.yml``), checked with the code the web server reads them with, against
the priority policy's levels and categories; the spot-check policy
(``data/policy/quality.yml``: periods, rates, the scorecard); and the mail intake's settings and
templates (``data/policy/mail.yml``)."""

from __future__ import annotations

from collections.abc import Callable

from editing.checks.policy import check_policy
from editing.project import Project
from tickets.assignment_policy import AssignmentPolicyError, parse_assignment_policy
from tickets.mail_policy import MailPolicyError, parse_mail_policy
from tickets.policy import PolicyError
from tickets.quality_policy import QualityPolicyError, parse_quality_policy


def check_desk_policies(project: Project) -> list[str]:
    """Problems of the assignment rules, the spot-check policy and the mail policy,
    ``file:line: message`` each."""
    return _check_assignment(project) + _check_quality(project) + _check_mail(project)


def _check_mail(project: Project) -> list[str]:
    return _check_file(project, "mail.yml", parse_mail_policy, MailPolicyError, "mail policy")


def _check_quality(project: Project) -> list[str]:
    return _check_file(
        project, "quality.yml", parse_quality_policy, QualityPolicyError, "spot-check policy"
    )


def _check_file(
    project: Project,
    name: str,
    parse: Callable[..., object],
    error: type[PolicyError],
    what: str,
) -> list[str]:
    """The problem of one policy file read with its own parser, ``file:line: message``."""
    path = project.data_dir / "policy" / name
    if not path.exists():
        return []
    file = project.rel(path)
    data, problems = project.read(path)
    if problems:
        return problems
    try:
        parse(data, source=file)
    except error as exc:
        return [f"{file}:{exc.line}: {exc.text} ({what} invalid)"]
    return []


def _check_assignment(project: Project) -> list[str]:
    path = project.data_dir / "policy" / "assignment.yml"
    if not path.exists():
        return []
    file = project.rel(path)
    data, problems = project.read(path)
    if problems:
        return problems
    policy, _ = check_policy(project)  # the priority policy's own problems are reported there
    try:
        parse_assignment_policy(
            data,
            source=file,
            priorities=list(policy.levels) if policy else None,
            categories=list(policy.categories) if policy else None,
        )
    except AssignmentPolicyError as exc:
        return [f"{file}:{exc.line}: {exc.text} (assignment rules invalid)"]
    except (TypeError, AttributeError, ValueError, KeyError):
        return [
            f"{file}:1: 自动分配规则的格式不对：roles 是角色列表，assignment_rules 是规则列表，"
            f"每条规则写 name、when、skill，请对照 docs/editing.md 检查 (assignment rules invalid)"
        ]
    return []
