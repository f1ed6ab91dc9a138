#!/usr/bin/env bash
# Chat in the terminal. Starts its own action server unless one already answers.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ -f "$MODEL" ] || die "no trained model at models/dy.tar.gz: run 'make train' first"
mkdir -p var
"$PY" -m tickets.migrate >/dev/null
pid=""
if ! curl -fsS -o /dev/null "http://127.0.0.1:$ACTION_PORT/health" 2>/dev/null; then
  SANIC_HOST=127.0.0.1 "$PY" -m actions.server --port "$ACTION_PORT" >var/action-server.log 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 60); do curl -fsS -o /dev/null "http://127.0.0.1:$ACTION_PORT/health" 2>/dev/null && break; sleep 1; done
fi
"$RASA" shell --model "$MODEL" --endpoints "$(endpoints_file)" --port "${SHELL_PORT:-5006}" "$@"
