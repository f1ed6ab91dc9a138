"""Build the Chinese spaCy pipeline used by Rasa's SpacyNLP component.

A blank ``zh`` pipeline (character segmentation) with an ``entity_ruler`` whose patterns
come from the NLU data: every ``feature`` synonym (and its canonical value) becomes a
``feature`` pattern, every entry of the ``urgency`` lookup an ``urgency`` pattern and every
entry of the ``business`` lookup (requests handled elsewhere) a ``business`` pattern.
Matching is case-insensitive (``LOWER``), so "Live" and "live" both match.

Usage: python scripts/build_spacy_model.py [--nlu data/nlu] [--out build/spacy_zh]
Rebuilds only when the NLU data is newer than the saved pipeline (``--force`` to rebuild).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from playbook.sourcefile import PROJECT_ROOT as ROOT

ENTITY_LABELS = ("feature", "urgency", "business")
#: Lookup tables whose entries become patterns of the entity of the same name.
LOOKUP_LABELS = ("urgency", "business")


def collect_patterns(nlu_path: Path) -> list:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(nlu_path))
    phrases = {label: set() for label in ENTITY_LABELS}
    # Synonyms map surface forms to canonical values; the rating synonyms (五星 -> 5) are
    # the only ones with numeric values, every other one names a feature.
    for synonym, canonical in data.entity_synonyms.items():
        if not canonical.isdigit():
            phrases["feature"].update({synonym, canonical})
    for table in data.lookup_tables:
        if table.get("name") in LOOKUP_LABELS:
            elements = table.get("elements")
            if isinstance(elements, str):
                elements = [line.lstrip("- ").strip() for line in elements.splitlines()]
            phrases[table["name"]].update(e for e in elements or [] if e)
    patterns = []
    for label, values in phrases.items():
        for value in sorted(values, key=len, reverse=True):
            patterns.append({"label": label, "pattern": value})
    return patterns


def build(nlu_path: Path, out: Path) -> int:
    import spacy

    patterns = collect_patterns(nlu_path)
    if not patterns:
        print(f"no feature synonyms or urgency lookup found in {nlu_path}", file=sys.stderr)
        return 1
    nlp = spacy.blank("zh")  # character segmentation: patterns match inside any word
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(patterns)
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    (out / "patterns.json").write_text(
        json.dumps(patterns, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    counts = {label: sum(1 for p in patterns if p["label"] == label) for label in ENTITY_LABELS}
    print(
        f"spaCy pipeline written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
        f" ({counts['feature']} feature, {counts['urgency']} urgency, "
        f"{counts['business']} business "
        f"patterns)"
    )
    return 0


def is_stale(nlu_path: Path, out: Path) -> bool:
    marker = out / "meta.json"
    if not marker.exists():
        return True
    built = marker.stat().st_mtime
    files = [nlu_path] if nlu_path.is_file() else list(nlu_path.rglob("*.yml"))
    return any(f.stat().st_mtime > built for f in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nlu", type=Path, default=ROOT / "data" / "nlu")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "spacy_zh")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    if not args.force and not is_stale(args.nlu, args.out):
        print(f"spaCy pipeline up to date: {args.out}")
        return 0
    return build(args.nlu, args.out)


if __name__ == "__main__":
    sys.exit(main())
