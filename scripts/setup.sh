#!/usr/bin/env bash
# Create .venv with Python 3.10 and the pinned dependencies, then build the spaCy pipeline.
# Safe to run again: it only reinstalls when pyproject.toml or constraints.txt changed.
set -euo pipefail
source "$(dirname "$0")/common.sh"

find_python() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    command -v python3.10; return
  fi
  local candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python /root/.pyenv/versions/3.10*/bin/python; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  return 1
}

command -v curl >/dev/null 2>&1 || die "curl is needed to check that the servers are up: apt-get install -y curl"

# A .venv from another Python (or a moved checkout) is rebuilt.
if [ -x "$PY" ] && ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  log "removing .venv: it is not a working Python 3.10 environment"
  rm -rf "$VENV"
fi

if [ ! -x "$PY" ]; then
  BASE_PY="$(find_python)" || die "Python 3.10 not found. Rasa 3.6 needs Python 3.10: install it (e.g. 'pyenv install 3.10.13') so that 'python3.10' is on PATH or under ~/.pyenv/versions/, then run this again."
  "$BASE_PY" -c 'import sqlite3, ctypes, lzma, bz2, ssl, zlib' 2>/dev/null || die "$BASE_PY lacks a standard module (sqlite3, ctypes, lzma, bz2, ssl or zlib); rebuild it after 'apt-get install -y libsqlite3-dev libffi-dev liblzma-dev libbz2-dev libssl-dev zlib1g-dev'"
  log "creating .venv with $BASE_PY"
  "$BASE_PY" -m venv "$VENV"
fi

STAMP="$VENV/.installed"
WANT="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  log "installing pinned dependencies (first time takes a few minutes)"
  "$PY" -m pip install --quiet --disable-pip-version-check --upgrade "pip==24.0"
  "$PY" -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
  echo "$WANT" > "$STAMP"
fi

NPM_STAMP=web/node_modules/.installed
NPM_WANT="$(sha256sum web/package-lock.json | cut -c1-16)"
if [ ! -f web/node_modules/socket.io-client/dist/socket.io.min.js ] || [ "$(cat "$NPM_STAMP" 2>/dev/null)" != "$NPM_WANT" ]; then
  command -v npm >/dev/null 2>&1 || die "npm (Node.js) is needed for the browser assets (widget socket.io client, console Mermaid and ECharts): apt-get install -y nodejs npm"
  log "installing the browser assets from npm: socket.io client, Mermaid, ECharts (web/package-lock.json)"
  npm ci --prefix web --no-audit --no-fund --loglevel=error
  echo "$NPM_WANT" > "$NPM_STAMP"
fi

mkdir -p var models .rasa/cache
"$PY" scripts/build_spacy_model.py 2> >(grep -v -e tensorflow -e 'rebuild TensorFlow' -e 'TF-TRT' -e 'AVX2' >&2)
