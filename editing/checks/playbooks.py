"""Playbooks: the action server's own checks, and each playbook against domain, rules, policy."""

from __future__ import annotations

from editing.checks.domain import Domain, suggest
from editing.checks.policy import check_policy
from editing.checks.stories import step_alternatives
from editing.project import Project
from playbook.registry import PlaybookRegistry


def _rules_starting_playbooks(project: Project) -> set[str]:
    """The intents some rule answers with action_start_playbook."""
    started: set[str] = set()
    for path in project.training_files():
        data, _ = project.read(path)
        rules = data.get("rules") if isinstance(data, dict) else None
        for rule in rules if isinstance(rules, list) else []:
            raw = rule.get("steps") if isinstance(rule, dict) else None
            steps = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
            for index, step in enumerate(steps[:-1]):
                if steps[index + 1].get("action") == "action_start_playbook":
                    started.update(
                        str(s["intent"]) for s in step_alternatives(step) if "intent" in s
                    )
    return started


def check_playbooks(project: Project, domain: Domain) -> list[str]:
    """Problems of the playbooks (the priority policy's first: the playbooks need it)."""
    policy, problems = check_policy(project)
    policy_file = project.rel(project.policy_path)
    started = _rules_starting_playbooks(project)
    registry = PlaybookRegistry(
        project.playbook_dir, priorities=list(policy.levels) if policy else None, root=project.root
    )
    for path in sorted(project.playbook_dir.rglob("*")):
        if (
            path.is_file()
            and path.suffix in (".yml", ".yaml")
            and (path.suffix == ".yaml" or path.parent != project.playbook_dir)
        ):
            problems.append(
                f"{project.rel(path)}:1: 手册文件必须直接放在 data/playbooks/ 下，并以 .yml 结尾，"
                f"这个文件不会被读取 (playbook file ignored)"
            )
    for playbook in registry.all():
        categories = list(policy.categories) if policy else []
        file = project.root / playbook.source
        for category, line in (
            (playbook.category, project.find_line(file, r"^category:")),
            (playbook.escalation.category, playbook.escalation.line),
        ):
            if policy and category not in policy.categories:
                problems.append(
                    f"{playbook.source}:{line}: 类别 {category} 不在 {policy_file} 的 categories "
                    f"中{suggest(category, categories) or '。'}"
                    f"如果是新类别，请在 categories 中添加它的"
                    f"中文名称 (unknown category)"
                )
        for step in playbook.steps.values():
            if step.branch and domain.ok and step.branch.slot not in domain.slots:
                problems.append(
                    f"{playbook.source}:{step.line}: 步骤 {step.id} 按槽位 {step.branch.slot} "
                    f"分支，但 domain.yml 的 slots 中没有它，所有用户都会走 default"
                    f"{suggest(step.branch.slot, domain.slots)} (unknown branch slot)"
                )
        for trigger in playbook.triggers:
            if domain.ok and trigger.intent not in domain.intents:
                problems.append(
                    f"{playbook.source}:{trigger.line}: 触发意图 {trigger.intent} 不在 "
                    f"domain.yml 的 intents 中，请先添加意图和训练例句 "
                    f"(trigger intent not in domain)"
                )
            elif trigger.intent not in started:
                problems.append(
                    f"{playbook.source}:{trigger.line}: 没有规则用意图 {trigger.intent} "
                    f"启动 action_start_playbook，请在 data/rules.yml 中添加一条规则 "
                    f"(no rule starts the playbook)"
                )
    for errors in registry.errors.values():
        problems.extend(errors)
    return problems
