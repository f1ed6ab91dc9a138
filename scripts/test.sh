#!/usr/bin/env bash
# Run the test suites: lint | types | unit | validate | stories | nlu | eval | integration |
# browser | all (CI). Order as a user cares: lint and types (seconds) -> unit tests -> data
# validation -> train -> test stories -> NLU evaluation -> integration tests on the real servers.
set -euo pipefail
source "$(dirname "$0")/common.sh"
mkdir -p results tests/artifacts var

NLU_MIN_F1="${NLU_MIN_F1:-0.85}"

PACKAGES=(actions channels editing playbook tickets understanding web)

run_lint() {
  log "lint: ruff check, ruff format --check, and the import layers (pyproject.toml)"
  "$VENV/bin/ruff" check "${PACKAGES[@]}" scripts tests
  "$VENV/bin/ruff" format --check "${PACKAGES[@]}" scripts tests
  "$VENV/bin/lint-imports" --no-cache
}

run_types() {
  log "types: mypy (strict on playbook/ and tickets/, see pyproject.toml)"
  "$VENV/bin/mypy" "${PACKAGES[@]}"
}

run_unit() {
  log "unit tests (engine, playbooks, priority policy, ticket store, actions)"
  "$PY" -m pytest -m "not integration and not browser" -q -rs  # -rs: why a test was skipped
}

run_validate() {
  log "validation: playbooks, NLU data, stories, rules, domain, priority policy and Rasa's own data validation, once (file:line: message)"
  "$PY" -m editing.validate 2> >(grep -v -e tensorflow -e 'rebuild TensorFlow' -e TF-TRT -e AVX2 -e Deprecat -e 'from click' >&2)
  log "playbook coverage: every step must be reached by a test story"
  "$PY" -m editing.coverage 2> >(grep -v -e tensorflow -e 'rebuild TensorFlow' -e TF-TRT -e AVX2 -e Deprecat >&2)
}

run_train() {
  bash scripts/train.sh
}

run_stories() {
  log "test stories (rasa test core --fail-on-prediction-errors)"
  "$RASA" test core --model "$MODEL" --stories tests/test_stories.yml \
    --fail-on-prediction-errors --out results/core
  log "test story sentences: the trained model must recognise each as its labelled intent"
  "$PY" -m editing.story_intents 2> >(grep -v -e tensorflow -e 'rebuild TensorFlow' -e TF-TRT -e AVX2 -e Deprecat -e Warning -e '^  ' >&2)
}

run_nlu() {
  log "NLU evaluation on the held-out split tests/nlu/test_nlu.yml"
  "$RASA" test nlu --model "$MODEL" --nlu tests/nlu/test_nlu.yml --out results/nlu > results/nlu.log 2>&1 \
    || { tail -40 results/nlu.log; die "rasa test nlu failed (full log: results/nlu.log)"; }
  "$PY" scripts/nlu_report.py results/nlu/intent_report.json --min-f1 "$NLU_MIN_F1"
}

run_eval() {
  # make eval: the full evaluation; CI runs it on a small fold (2 folds, 10 epochs) so it
  # cannot rot. It prints figures and asserts nothing.
  local quick=""
  if [ "${CI:-}" = "true" ] || [ "${EVAL_QUICK:-}" = "1" ]; then quick="--quick"; fi
  log "evaluation${quick:+ (quick)}: intents, step answers, baselines side by side (results/eval.md)"
  "$PY" scripts/eval.py $quick 2> >(grep -v -e tensorflow -e 'rebuild TensorFlow' -e TF-TRT -e AVX2 -e Deprecat -e Warning -e '^  ' >&2)
}

ensure_browser() {
  # Debian's Chromium and a CJK font (without one, Chinese renders as boxes in screenshots)
  if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -i "noto sans cjk" >/dev/null; then return; fi
  command -v apt-get >/dev/null 2>&1 || die "install Chromium and a CJK font (Debian: chromium fonts-noto-cjk)"
  log "installing Debian's chromium and fonts-noto-cjk for the browser tests"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
}

ensure_dovecot() {
  # Debian's Dovecot for the IMAP poller's test (tests/integration/dovecot.py runs a private
  # instance on a spare loopback port; the machine's own service is never used)
  if [ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ]; then return; fi
  command -v apt-get >/dev/null 2>&1 || die "install Dovecot's IMAP server (Debian: dovecot-imapd)"
  log "installing Debian's dovecot-imapd for the IMAP poller's integration test"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dovecot-imapd >/dev/null
  # the package starts and enables the system service (ports 143 and 993) where it may:
  # stopped and disabled again, the tests do not need it listening
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now dovecot.service >/dev/null 2>&1 || true
  elif [ -s /run/dovecot/master.pid ]; then
    $sudo service dovecot stop >/dev/null 2>&1 || $sudo kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
  fi
}

run_browser() {
  ensure_browser
  log "browser tests (headless Chromium, widget on the real servers; screenshots in tests/artifacts/)"
  "$PY" -m pytest -m browser -q
}

run_integration() {
  ensure_dovecot
  log "integration tests (real action server + Rasa server on free ports, real database)"
  "$PY" -m pytest -m integration -q
}

case "${1:-all}" in
  lint) run_lint ;;
  types) run_types ;;
  unit) run_unit ;;
  validate) run_validate ;;
  stories) run_stories ;;
  nlu) run_nlu ;;
  eval) run_eval ;;
  integration) run_integration ;;
  browser) run_browser ;;
  all)
    run_lint
    run_types
    ensure_browser  # early: a missing package should fail the run before training, not after
    ensure_dovecot
    run_unit
    run_validate
    run_train
    run_stories
    run_nlu
    run_eval
    run_integration
    run_browser
    log "all test suites passed"
    ;;
  *) die "unknown suite '$1' (lint | types | unit | validate | stories | nlu | eval | integration | browser | all)" ;;
esac
