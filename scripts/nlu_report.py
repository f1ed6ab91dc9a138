"""Print per-intent precision / recall / F1 from Rasa's intent_report.json; fail below a bar."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument("--min-f1", type=float, default=0.85,
                        help="fail when the weighted-average F1 is below this")
    args = parser.parse_args()
    report = json.loads(args.report.read_text(encoding="utf-8"))
    print(f"{'intent':<18}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for name, row in sorted(report.items()):
        if not isinstance(row, dict) or "f1-score" not in row or name.endswith("avg"):
            continue
        print(f"{name:<18}{row['precision']:>10.3f}{row['recall']:>8.3f}"
              f"{row['f1-score']:>8.3f}{row['support']:>9}")
    weighted = report["weighted avg"]["f1-score"]
    macro = report["macro avg"]["f1-score"]
    accuracy = report.get("accuracy")
    print(f"{'accuracy':<18}{accuracy if accuracy is not None else float('nan'):>26.3f}")
    print(f"{'macro avg f1':<18}{macro:>26.3f}")
    print(f"{'weighted avg f1':<18}{weighted:>26.3f}")
    if weighted < args.min_f1:
        print(f"NLU weighted F1 {weighted:.3f} is below the bar {args.min_f1}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
