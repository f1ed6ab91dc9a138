"""Print per-intent precision / recall / F1 from Rasa's intent_report.json; fail below a bar."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Intents that start a playbook, answer a step or open a ticket: a mistake here misleads.
CRITICAL = (
    "network_problem",
    "login_problem",
    "forgot_password",
    "feature_problem",
    "data_loss",
    "affirm",
    "deny",
    "request_human",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument(
        "--min-f1", type=float, default=0.85, help="fail when the weighted-average F1 is below this"
    )
    parser.add_argument(
        "--critical-min-f1",
        type=float,
        default=0.8,
        help="fail when an intent that moves a conversation is below this",
    )
    args = parser.parse_args()
    report = json.loads(args.report.read_text(encoding="utf-8"))
    print(f"{'intent':<18}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for name, row in sorted(report.items()):
        if not isinstance(row, dict) or "f1-score" not in row or name.endswith("avg"):
            continue
        print(
            f"{name:<18}{row['precision']:>10.3f}{row['recall']:>8.3f}"
            f"{row['f1-score']:>8.3f}{row['support']:>9}"
        )
    weighted = report["weighted avg"]["f1-score"]
    macro = report["macro avg"]["f1-score"]
    accuracy = report.get("accuracy")
    print(f"{'accuracy':<18}{accuracy if accuracy is not None else float('nan'):>26.3f}")
    print(f"{'macro avg f1':<18}{macro:>26.3f}")
    print(f"{'weighted avg f1':<18}{weighted:>26.3f}")
    failed = False
    if weighted < args.min_f1:
        print(f"NLU weighted F1 {weighted:.3f} is below the bar {args.min_f1}", file=sys.stderr)
        failed = True
    for name in CRITICAL:
        f1 = report.get(name, {}).get("f1-score", 0.0)
        if f1 < args.critical_min_f1:
            print(
                f"NLU F1 of {name} is {f1:.3f}, below the bar {args.critical_min_f1} for intents "
                f"that start a playbook, answer a step or open a ticket",
                file=sys.stderr,
            )
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
