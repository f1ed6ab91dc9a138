"""The NLU check: examples per intent, examples under two intents or twice, held-out tests."""

from __future__ import annotations

import re
from collections import defaultdict

from editing.checks.domain import Domain, suggest
from editing.checks.training_files import nlu_files
from editing.project import Example, Project

#: An intent needs at least this many training examples (DIET learns little from fewer).
MIN_EXAMPLES = 20
#: Intents with no examples by design: Rasa's fallback, and intents other systems send.
NO_EXAMPLES_NEEDED = re.compile(r"^(nlu_fallback|EXTERNAL_\w+)$")


def check_nlu(project: Project, domain: Domain) -> tuple[list[str], set[str]]:
    """Problems of the NLU data, and the names they are about (to drop Rasa's duplicates)."""
    problems: list[str] = []
    covered: set[str] = set()
    examples: list[Example] = []
    first_block: dict[str, str] = {}
    for path in nlu_files(project):
        for intent, line in project.intent_blocks(path):
            first_block.setdefault(intent, f"{project.rel(path)}:{line}")
            if domain.ok and intent not in domain.intents:
                covered.add(intent)
                problems.append(
                    f"{project.rel(path)}:{line}: 意图 {intent} 不在 domain.yml 的 "
                    f"intents 中，请在 domain.yml 中添加，或检查拼写"
                    f"{suggest(intent, domain.intents)} (intent not in domain)"
                )
        examples.extend(project.examples(path))

    seen: dict[str, Example] = {}
    for example in examples:
        earlier = seen.get(example.plain)
        if earlier is None:
            seen[example.plain] = example
        elif earlier.intent != example.intent:
            covered.add(example.text)
            problems.append(
                f"{example.where}: 例句「{example.text}」同时出现在意图 {earlier.intent}"
                f"（{earlier.where}）和 {example.intent} 下，模型无法区分，请只保留在"
                f"正确的意图下 (same example under two intents)"
            )
        else:
            problems.append(
                f"{example.where}: 例句「{example.text}」在意图 {example.intent} 下重复"
                f"（第一次在 {earlier.where}），请删除这一行 (duplicate example)"
            )

    counts: dict[str, int] = defaultdict(int)
    for example in {e.plain: e for e in reversed(examples)}.values():
        counts[example.intent] += 1
    for intent in domain.intents:
        if NO_EXAMPLES_NEEDED.match(intent) or counts[intent] >= MIN_EXAMPLES:
            continue
        covered.add(intent)
        where = first_block.get(intent) or f"{domain.file}:{domain.line('intents', intent)}"
        problems.append(
            f"{where}: 意图 {intent} 只有 {counts[intent]} 条训练例句，至少需要 "
            f"{MIN_EXAMPLES} 条，请在 data/nlu/ 中再补充 {MIN_EXAMPLES - counts[intent]} "
            f"条用户真实的说法 (intent has too few examples)"
        )

    if project.test_nlu_path.is_file():
        data, syntax = project.read(project.test_nlu_path)
        problems.extend(syntax)
        for example in project.examples(project.test_nlu_path):
            training = seen.get(example.plain)
            if training is not None:
                problems.append(
                    f"{example.where}: 测试例句「{example.text}」也是训练例句"
                    f"（{training.where}），评估结果会虚高，请换一句新的说法 "
                    f"(test example also in training data)"
                )
    return problems, covered
