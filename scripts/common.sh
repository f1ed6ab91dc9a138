# Shared settings for the scripts in this folder (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
RASA="$VENV/bin/rasa"
MODEL="$ROOT/models/dy.tar.gz"
export RASA_CACHE_DIRECTORY="$ROOT/.rasa/cache"
export RASA_TELEMETRY_ENABLED=false
export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export DY_HOST="${DY_HOST:-127.0.0.1}"
export RASA_PORT="${RASA_PORT:-5005}"
export ACTION_PORT="${ACTION_PORT:-5055}"
export WEB_PORT="${WEB_PORT:-8000}"
export MAIL_SMTP_PORT="${MAIL_SMTP_PORT:-2525}"  # the support mailbox's SMTP intake (0: none)

# endpoints.yml names the action server at 127.0.0.1:5055; another ACTION_PORT gets a copy.
endpoints_file() {
  if [ "$ACTION_PORT" = "5055" ]; then echo "endpoints.yml"; return; fi
  mkdir -p var
  sed "s#127.0.0.1:5055#127.0.0.1:$ACTION_PORT#" endpoints.yml > var/endpoints.yml
  echo "var/endpoints.yml"
}

# The widget sessions' secret (DY_SESSION_SECRET), which the web server and Rasa share: from
# the environment, or made once and kept (mode 0600) in var/session_secret.
export_session_secret() {
  [ -z "${DY_SESSION_SECRET:-}" ] || return 0
  mkdir -p var
  if [ ! -s var/session_secret ]; then
    (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > var/session_secret)
  fi
  chmod 600 var/session_secret
  DY_SESSION_SECRET="$(cat var/session_secret)"
  export DY_SESSION_SECRET
}

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mError:\033[0m %s\n' "$*" >&2; exit 1; }
