"""`make eval`: how well the assistant understands what users write, beside two baselines.

Prints the figures and writes them to results/eval.md (with results/eval/*.png and the lists
of misread messages); asserts nothing. Three pipelines read the same held-out messages:

- **ours**: the trained model (models/dy.tar.gz, config.yml) and, for replies to a step's
  question, the step-answer judge in context (understanding.answers.read_reply);
- **rasa init + jieba**: the pipeline `rasa init` writes, jieba in place of whitespace
  (scripts/eval_configs/rasa_init_jieba.yml), its intents taken literally for replies;
- **keywords**: each intent's most telling jieba words from the training data, and yes / no /
  person keyword lists for replies.

Usage: python scripts/eval.py [--quick] [--out results]
``--quick`` (CI) uses 2 folds and 10 epochs for the learned baselines, so it cannot rot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from playbook.sourcefile import PROJECT_ROOT as ROOT
from understanding.answers import BUTTON_VERDICTS, StepContext, Verdict, read_reply
from understanding.normalize import normalize

MODEL = ROOT / "models" / "dy.tar.gz"
TEST_SPLITS = sorted((ROOT / "tests" / "nlu").glob("*.yml"))
ANSWER_SETS = sorted((ROOT / "tests" / "answers").glob("answers_*.yml"))
BASELINE_CONFIG = ROOT / "scripts" / "eval_configs" / "rasa_init_jieba.yml"
OUT_OF_SCOPE = {"out_of_scope", "nlu_fallback"}
#: Near-copies: the same normal form, or this much character-bigram overlap.
NEAR_COPY_JACCARD = 0.8


# --- data ------------------------------------------------------------------------------------


def nlu_examples(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(text, intent) of Rasa NLU files, annotations removed."""
    from rasa.shared.nlu.training_data.loading import load_data

    found = []
    for path in paths:
        for message in load_data(str(path)).intent_examples:
            found.append((message.get("text"), message.get("intent")))
    return found


def bigrams(text: str) -> set:
    norm = re.sub(r"[\s，,。.!！?？~～、]", "", normalize(text))
    return {norm[i : i + 2] for i in range(max(1, len(norm) - 1))}


def near_copies(
    test: Sequence[tuple[str, str]], train: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Test messages that are (near-)copies of a training example: (test text, training text)."""
    train_norm = {normalize(t): t for t, _ in train}
    train_grams = [(t, bigrams(t)) for t, _ in train]
    found = []
    for text, _intent in test:
        if normalize(text) in train_norm:
            found.append((text, train_norm[normalize(text)]))
            continue
        grams = bigrams(text)
        for other, other_grams in train_grams:
            union = grams | other_grams
            if union and len(grams & other_grams) / len(union) >= NEAR_COPY_JACCARD:
                found.append((text, other))
                break
    return found


@dataclass(frozen=True)
class Answer:
    playbook: str
    step: str
    question: str
    label: str
    text: str
    source: str


def answer_sets() -> list[Answer]:
    found = []
    for path in ANSWER_SETS:
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("answers"), dict):
                raise SystemExit(
                    f"{path.relative_to(ROOT)}: every entry needs playbook, step, "
                    f"question and answers"
                )
            for label, texts in entry["answers"].items():
                for text in texts:
                    found.append(
                        Answer(
                            entry["playbook"],
                            entry["step"],
                            entry["question"],
                            label,
                            str(text),
                            path.stem.replace("answers_", ""),
                        )
                    )
    return found


# --- the pipelines ----------------------------------------------------------------------------


@dataclass
class Pipeline:
    name: str
    parse: Callable[[str], tuple[str, float]]
    read_answer: Callable[[Answer], str]
    train_seconds: float | None = None
    latencies_ms: list[float] = field(default_factory=list)


class RasaModel:
    """A trained Rasa model, parsed in-process."""

    def __init__(self, path: Path) -> None:
        from rasa.core.agent import Agent

        self.agent = Agent.load(str(path))
        self.loop = asyncio.new_event_loop()
        self.latencies_ms: list[float] = []

    def parse(self, text: str) -> tuple[str, float, dict]:
        started = time.perf_counter()
        parsed = self.loop.run_until_complete(self.agent.parse_message(text))
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        return parsed["intent"]["name"], float(parsed["intent"].get("confidence") or 0.0), parsed


def train_nlu(config: Path, out: Path, epochs: int | None = None) -> tuple[Path, float]:
    """Train an NLU-only model with ``config`` (epochs overridden if given); (model, seconds)."""
    if epochs is not None:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        for component in data["pipeline"]:
            if "epochs" in component:
                component["epochs"] = epochs
        config = out / f"{config.stem}.yml"
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, RASA_CACHE_DIRECTORY=str(out / "cache"))
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            str(ROOT / "data" / "nlu"),
            "--out",
            str(out),
            "--fixed-model-name",
            config.stem,
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return out / f"{config.stem}.tar.gz", time.perf_counter() - started


class Keywords:
    """The keyword baseline: an intent's telling words, and yes / no / person word lists."""

    YES = (
        "好了",
        "可以",
        "解决",
        "成功",
        "正常",
        "恢复",
        "找到",
        "行了",
        "ok",
        "yes",
        "是的",
        "对",
    )
    NO = ("不", "没", "还是", "失败", "no", "依然", "仍然")
    HUMAN = ("人工", "真人", "客服", "human", "agent")

    def __init__(self, train: Sequence[tuple[str, str]]) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.load_userdict(str(ROOT / "data" / "dictionary" / "dy_terms.txt"))
        self.cut = lambda text: [w for w in jieba.lcut(normalize(text)) if w.strip()]
        counts: dict[str, Counter] = defaultdict(Counter)
        for text, intent in train:
            for word in set(self.cut(text)):
                counts[word][intent] += 1
        self.words: dict[str, str] = {}
        for word, by_intent in counts.items():
            intent, hits = by_intent.most_common(1)[0]
            if hits >= 2 and hits / sum(by_intent.values()) >= 0.6:
                self.words[word] = intent

    def parse(self, text: str) -> tuple[str, float]:
        votes = Counter(self.words[w] for w in self.cut(text) if w in self.words)
        if not votes:
            return "out_of_scope", 0.0
        intent, hits = votes.most_common(1)[0]
        return intent, hits / sum(votes.values())

    def read_answer(self, answer: Answer) -> str:
        text = normalize(answer.text)
        if any(w in text for w in self.HUMAN):
            return "human"
        if any(w in text for w in self.NO):
            return "failed"
        if any(w in text for w in self.YES):
            return "worked"
        return "other"


def ours(model: RasaModel) -> Pipeline:
    from playbook.registry import PlaybookRegistry

    registry = PlaybookRegistry()

    def read_answer(answer: Answer) -> str:
        intent, confidence, _parsed = model.parse(answer.text)
        playbook = registry.get(answer.playbook)
        step = playbook.step(answer.step) if playbook else None
        found = registry.for_intent(intent)
        judgement = read_reply(
            answer.text,
            StepContext(answer.question, step.answers if step else {}),
            intent=intent,
            confidence=confidence,
            starts_other_playbook=bool(found) and found[0].id != answer.playbook,
        )
        return judgement.verdict.value

    return Pipeline("ours", lambda text: model.parse(text)[:2], read_answer)


def literal(name: str, model: RasaModel) -> Pipeline:
    """A model's intents taken literally for replies: affirm = worked, deny = failed."""

    def read_answer(answer: Answer) -> str:
        return BUTTON_VERDICTS.get(model.parse(answer.text)[0], Verdict.OTHER).value

    return Pipeline(name, lambda text: model.parse(text)[:2], read_answer)


# --- figures ----------------------------------------------------------------------------------


@dataclass
class IntentFigures:
    in_scope_accuracy: float
    out_of_scope_recall: float
    accuracy: float
    macro_f1: float
    report: dict
    errors: list[tuple[str, str, str, float]]
    labels: list[str]
    matrix: list[list[int]]


def intent_figures(pipeline: Pipeline, test: Sequence[tuple[str, str]]) -> IntentFigures:
    from sklearn.metrics import classification_report, confusion_matrix, f1_score

    gold, predicted, errors = [], [], []
    for text, intent in test:
        got, confidence = pipeline.parse(text)
        # the fallback and out_of_scope lead to the same answer: not understood, no playbook
        got = "out_of_scope" if got in OUT_OF_SCOPE else got
        gold.append(intent)
        predicted.append(got)
        if got != intent:
            errors.append((text, intent, got, confidence))
    in_scope = [(g, p) for g, p in zip(gold, predicted, strict=False) if g != "out_of_scope"]
    oos = [(g, p) for g, p in zip(gold, predicted, strict=False) if g == "out_of_scope"]
    labels = sorted(set(gold) | set(predicted))
    return IntentFigures(
        in_scope_accuracy=sum(g == p for g, p in in_scope) / max(1, len(in_scope)),
        out_of_scope_recall=sum(g == p for g, p in oos) / max(1, len(oos)),
        accuracy=sum(g == p for g, p in zip(gold, predicted, strict=False)) / max(1, len(gold)),
        macro_f1=f1_score(
            gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0
        ),
        report=classification_report(
            gold, predicted, labels=sorted(set(gold)), output_dict=True, zero_division=0
        ),
        errors=errors,
        labels=labels,
        matrix=confusion_matrix(gold, predicted, labels=labels).tolist(),
    )


@dataclass
class AnswerFigures:
    total: int
    correct: int
    wrong_direction: int
    by_set: dict[str, tuple[int, int, int]]  # set -> (total, correct, wrong direction)
    errors: list[tuple[Answer, str]]


def wrong_way(label: str, got: str) -> bool:
    """A "no" (or a request for a person) taken as solved, or a "yes" taken as failed."""
    return (got == "worked" and label in ("failed", "human")) or (
        got == "failed" and label == "worked"
    )


def answer_figures(pipeline: Pipeline, answers: Sequence[Answer]) -> AnswerFigures:
    correct = wrong = 0
    by_set: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    errors = []
    for answer in answers:
        got = pipeline.read_answer(answer)
        counts = by_set[answer.source]
        counts[0] += 1
        if got == answer.label:
            correct += 1
            counts[1] += 1
        else:
            errors.append((answer, got))
            if wrong_way(answer.label, got):
                wrong += 1
                counts[2] += 1
    return AnswerFigures(
        len(answers), correct, wrong, {k: tuple(v) for k, v in by_set.items()}, errors
    )


def cross_validation(folds: int, out: Path, epochs: int | None) -> dict:
    """Rasa's own k-fold cross-validation of config.yml on data/nlu (intent report)."""
    config = ROOT / "config.yml"
    if epochs is not None:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        for component in data["pipeline"]:
            if "epochs" in component:
                component["epochs"] = epochs
        config = out / "config_cv.yml"
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, RASA_CACHE_DIRECTORY=str(out / "cache"))
    subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "test",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            str(ROOT / "data" / "nlu"),
            "--cross-validation",
            "--folds",
            str(folds),
            "--out",
            str(out / "cv"),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads((out / "cv" / "intent_report.json").read_text(encoding="utf-8"))


def confusion_png(figures: IntentFigures, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(6, len(figures.labels) * 0.55)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(figures.matrix, cmap="Blues")
    ax.set_xticks(range(len(figures.labels)), figures.labels, rotation=70, ha="right", fontsize=8)
    ax.set_yticks(range(len(figures.labels)), figures.labels, fontsize=8)
    for i, row in enumerate(figures.matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(
                    j,
                    i,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > max(map(max, figures.matrix)) / 2 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("labelled")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


# --- the report -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 folds, 10 epochs for the learned baselines (CI)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args(argv)
    logging.getLogger("rasa").setLevel(logging.ERROR)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)
    out = args.out
    (out / "eval").mkdir(parents=True, exist_ok=True)
    if not MODEL.is_file():
        print("models/dy.tar.gz is missing: run make train first", file=sys.stderr)
        return 1
    folds, epochs = (2, 10) if args.quick else (5, None)

    train = nlu_examples(sorted((ROOT / "data" / "nlu").glob("*.yml")))
    test = nlu_examples(TEST_SPLITS)
    copies = near_copies(test, train)
    copy_texts = {text for text, _ in copies}
    test = [(text, intent) for text, intent in test if text not in copy_texts]
    answers = answer_sets()
    print(
        f"training examples {len(train)}, held-out messages {len(test)} "
        f"({len(copies)} near-copies of training examples left out), step answers {len(answers)}"
    )

    pipelines: list[Pipeline] = []
    ours_model = RasaModel(MODEL)
    pipelines.append(ours(ours_model))
    with tempfile.TemporaryDirectory(prefix="dy-eval-") as tmp:
        baseline_path, baseline_seconds = train_nlu(BASELINE_CONFIG, Path(tmp), epochs)
        baseline_model = RasaModel(baseline_path)
        baseline = literal("rasa init + jieba", baseline_model)
        baseline.train_seconds = baseline_seconds
        pipelines.append(baseline)
        keywords = Keywords(train)
        started = time.perf_counter()
        keyword_pipeline = Pipeline(
            "keywords",
            keywords.parse,
            keywords.read_answer,
            train_seconds=time.perf_counter() - started,
        )
        pipelines.append(keyword_pipeline)
        ours_train = Path(tmp) / "ours"
        ours_train.mkdir()
        _, pipelines[0].train_seconds = train_nlu(ROOT / "config.yml", ours_train, epochs)
        cv = cross_validation(folds, Path(tmp), epochs)

        rows = []
        for pipeline in pipelines:
            model = {"ours": ours_model, "rasa init + jieba": baseline_model}.get(pipeline.name)
            if model is not None:
                model.latencies_ms.clear()
            intents = intent_figures(pipeline, test)
            latencies = list(model.latencies_ms) if model is not None else []
            replies = answer_figures(pipeline, answers)
            rows.append((pipeline, intents, replies, latencies))
            slug = re.sub(r"[^a-z0-9]+", "-", pipeline.name).strip("-")
            confusion_png(intents, out / "eval" / f"confusion-{slug}.png", pipeline.name)
            (out / "eval" / f"misread-{slug}.md").write_text(
                misread_markdown(pipeline.name, intents, replies), encoding="utf-8"
            )

    report = render(rows, cv, folds, train, test, copies, answers, args.quick)
    (out / "eval.md").write_text(report, encoding="utf-8")
    print(report)
    print(f"written: {out / 'eval.md'}, {out / 'eval'}/")
    return 0


def misread_markdown(name: str, intents: IntentFigures, replies: AnswerFigures) -> str:
    lines = [
        f"# {name}: misread messages",
        "",
        "## Intents (held-out messages)",
        "",
        "| message | labelled | predicted | confidence |",
        "|---|---|---|---|",
    ]
    lines += [f"| {cell(t)} | {g} | {p} | {c:.2f} |" for t, g, p, c in intents.errors]
    lines += [
        "",
        "## Step answers",
        "",
        "| set | step | reply | labelled | read as | wrong way |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {a.source} | {a.playbook}/{a.step} | {cell(a.text)} | {a.label} | {got} | "
        f"{'**yes**' if wrong_way(a.label, got) else ''} |"
        for a, got in replies.errors
    ]
    return "\n".join(lines) + "\n"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows, cv: dict, folds: int, train, test, copies, answers, quick: bool) -> str:
    lines = [
        "# Evaluation (`make eval`)",
        "",
        f"{'Quick run (CI): 2 folds, 10 epochs for the learned baselines. ' if quick else ''}"
        f"{len(train)} training examples (data/nlu); {len(test)} held-out messages "
        f"(tests/nlu/*.yml; {len(copies)} near-copies of "
        f"training examples left out); {len(answers)} labelled replies to step questions "
        f"(tests/answers/).",
        "",
        "| pipeline | in-scope accuracy | out-of-scope recall | macro-F1 | step answers correct "
        "| wrong direction | parse p50 / p95 (ms) | NLU training (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pipeline, intents, replies, latencies in rows:
        lat = (
            f"{percentile(latencies, 0.5):.1f} / {percentile(latencies, 0.95):.1f}"
            if latencies
            else "< 0.1"
        )
        trained = (
            f"{pipeline.train_seconds:.0f}"
            if pipeline.train_seconds and pipeline.train_seconds > 1
            else "< 1"
        )
        lines.append(
            f"| {pipeline.name} | {intents.in_scope_accuracy:.3f} | "
            f"{intents.out_of_scope_recall:.3f} | {intents.macro_f1:.3f} | "
            f"{replies.correct / max(1, replies.total):.3f} ({replies.correct}/{replies.total}) | "
            f"{replies.wrong_direction} | {lat} | {trained} |"
        )
    lines += [
        "",
        "Step answers per labelled set (correct / total, wrong direction):",
        "",
        "| pipeline | " + " | ".join(sorted(rows[0][2].by_set)) + " |",
        "|---|" + "---|" * len(rows[0][2].by_set),
    ]
    for pipeline, _intents, replies, _lat in rows:
        cells = [
            f"{c / t:.3f} ({c}/{t}), {w}"
            for t, c, w in (replies.by_set[k] for k in sorted(replies.by_set))
        ]
        lines.append(f"| {pipeline.name} | " + " | ".join(cells) + " |")
    ours_intents = rows[0][1]
    lines += [
        "",
        "## Ours, per intent (held-out messages)",
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for intent, row in sorted(ours_intents.report.items()):
        if isinstance(row, dict) and "support" in row and not intent.endswith("avg"):
            lines.append(
                f"| {intent} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1-score']:.3f} | {int(row['support'])} |"
            )
    lines += [
        "",
        f"## Ours, {folds}-fold cross-validation on data/nlu (Rasa's `--cross-validation`)",
        "",
        "| intent | precision | recall | F1 |",
        "|---|---|---|---|",
    ]
    for intent, row in sorted(cv.items()):
        if isinstance(row, dict) and "f1-score" in row:
            lines.append(
                f"| {intent} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1-score']:.3f} |"
            )
    if "accuracy" in cv:
        lines.append(f"\nCross-validation accuracy {cv['accuracy']:.3f}.")
    lines += [
        "",
        "Confusion matrices: results/eval/confusion-*.png; every misread message: "
        "results/eval/misread-*.md.",
    ]
    if copies:
        lines += ["", "Near-copies left out of the held-out messages:", ""]
        lines += [f"- {cell(t)}  ≈  {cell(o)}" for t, o in copies]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
