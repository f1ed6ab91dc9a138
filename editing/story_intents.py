"""Check that the trained model recognises every test story sentence as its labelled intent.

``rasa test core`` walks test stories with the *labelled* intents: it never asks the model what
the user's sentence means, so a story can pass while the assistant misunderstands its sentence.
This check parses every ``user:`` sentence of tests/test_stories.yml with the trained model and
reports each mismatch as ``file:line: message`` (exit 1).

Usage: python -m editing.story_intents [--project DIR] [--model models/dy.tar.gz]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from pathlib import Path

from editing.project import Project, line_of


def story_sentences(project: Project) -> list[tuple[int, str, str, str]]:
    """(line, story name, sentence, labelled intent) for every user step of the test stories."""
    data, problems = project.read(project.test_stories_path)
    if problems:
        raise SystemExit("\n".join(problems))
    found = []
    stories = data.get("stories") if isinstance(data, dict) else None
    for story in stories if isinstance(stories, list) else []:
        steps = story.get("steps") if isinstance(story, dict) else None
        for step in steps if isinstance(steps, list) else []:
            if isinstance(step, dict) and step.get("user") and step.get("intent"):
                text = str(step["user"]).strip()
                if not text.startswith("/"):  # "/intent" payloads are button clicks, not language
                    first = text.splitlines()[0]
                    line = project.find_line(
                        project.test_stories_path, re.escape(first), start=line_of(step, "user")
                    )
                    found.append((line, str(story.get("story")), text, str(step["intent"])))
    return found


async def mismatches(project: Project, model: Path) -> list[str]:
    from rasa.core.agent import Agent

    from editing.project import ANNOTATION

    agent = Agent.load(str(model))
    file = project.rel(project.test_stories_path)
    problems = []
    for line, story, text, intent in story_sentences(project):
        parsed = await agent.parse_message(ANNOTATION.sub(r"\1", text))
        got = parsed["intent"]["name"]
        if got != intent:
            problems.append(
                f"{file}:{line}: 故事「{story}」里的句子「{text}」被模型识别为 {got}"
                f"（置信度 {parsed['intent']['confidence']:.2f}），而标注的是 {intent}："
                f"请在 data/nlu/ "
                f"为 {intent} 补充类似的说法后重新训练，或换一句用户更常说的话 "
                f"(story sentence recognised as another intent)"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args(argv)
    from rasa.utils.log_utils import configure_structlog

    logging.getLogger("rasa").setLevel(logging.ERROR)
    configure_structlog(logging.ERROR)  # Rasa's parse log would echo every sentence
    project = Project(args.project)
    model = args.model or project.model_path
    if not model.is_file():
        print(f"{project.rel(model)}:1: 没有训练好的模型，请先运行 make train (no trained model)")
        return 1
    problems = asyncio.run(mismatches(project, model))
    for problem in problems:
        print(problem)
    total = len(story_sentences(project))
    if problems:
        print(
            f"\n{len(problems)} / {total} 个测试故事的句子识别错了意图 "
            f"(story sentences recognised as another intent)",
            file=sys.stderr,
        )
        return 1
    print(
        f"测试故事的 {total} 个句子都被识别为标注的意图 "
        f"(every story sentence is recognised as labelled)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
