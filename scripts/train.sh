#!/usr/bin/env bash
# Train models/dy.tar.gz. Rasa compares fingerprints and skips training when nothing changed.
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$PY" scripts/build_spacy_model.py
log "training (skipped by Rasa when the data and config match the existing model)"
"$RASA" train --fixed-model-name dy --out models "$@"
# what the model was trained on, so that `make validate` can tell editors when to train again
"$PY" -m editing.fingerprint record
