"""``python -m scripts.ready URL``: exit 0 when URL answers 200 within 2 s (a container's
health check in deploy/compose.yml; the images carry no curl)."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    try:
        with urllib.request.urlopen(argv[1], timeout=2) as answer:
            return 0 if answer.status == 200 else 1
    except (OSError, urllib.error.URLError, IndexError):
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
