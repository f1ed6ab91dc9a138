#!/usr/bin/env bash
# Print the performance figures of the README (see scripts/bench.py for options).
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$PY" scripts/bench.py "$@"
