#!/usr/bin/env bash
# Start the action server, the Rasa server, the web pages and the mail channel in the
# foreground; Ctrl-C stops them all. Listens on 127.0.0.1 unless DY_HOST says otherwise (ports:
# RASA_PORT, ACTION_PORT, WEB_PORT; the SMTP intake always on 127.0.0.1:MAIL_SMTP_PORT).
set -euo pipefail
source "$(dirname "$0")/common.sh"

[ -f "$MODEL" ] || die "no trained model at models/dy.tar.gz: run 'make train' first"
mkdir -p var
ENDPOINTS="$(endpoints_file)"
export_session_secret  # the web server issues widget sessions, Rasa's socket.io verifies them
# where users reach the web pages: the follow-up mails' links (made by the web server)
export DY_PUBLIC_URL="${DY_PUBLIC_URL:-http://localhost:$WEB_PORT}"

# Rasa's HTTP API can read and change every conversation: outside loopback it needs a token.
auth=()
case "$DY_HOST" in
  127.*|localhost|::1) ;;
  *) [ -n "${RASA_AUTH_TOKEN:-}" ] || die "DY_HOST=$DY_HOST exposes Rasa's HTTP API beyond this machine: set RASA_AUTH_TOKEN too"
     auth=(--auth-token "$RASA_AUTH_TOKEN") ;;
esac

port_taken() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
port_taken 127.0.0.1 "$ACTION_PORT" && die "port $ACTION_PORT is already in use (another action server?); stop it or set ACTION_PORT"
port_taken "$DY_HOST" "$WEB_PORT" && die "port $WEB_PORT is already in use; stop it or set WEB_PORT"
port_taken "$DY_HOST" "$RASA_PORT" && die "port $RASA_PORT is already in use (another Rasa?); stop it or set RASA_PORT"
if [ "$MAIL_SMTP_PORT" != "0" ]; then
  port_taken 127.0.0.1 "$MAIL_SMTP_PORT" && die "port $MAIL_SMTP_PORT is already in use; stop it or set MAIL_SMTP_PORT (0: no SMTP intake)"
fi

log "bringing the ticket database to the newest schema (Alembic)"
"$PY" -m tickets.migrate

pids=()
cleanup() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then
    log "stopping servers"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'cleanup; log "stopped"; exit 0' INT TERM
trap cleanup EXIT

wait_for() {  # url name pid seconds
  local url="$1" name="$2" pid="$3" limit="$4" waited=0
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (see the log above)"
    sleep 1; waited=$((waited + 1))
    [ "$waited" -lt "$limit" ] || die "$name did not answer on $url within ${limit}s"
  done
}

log "starting the action server on 127.0.0.1:$ACTION_PORT (only Rasa talks to it)"
SANIC_HOST=127.0.0.1 "$PY" -m actions.server --port "$ACTION_PORT" &
pids+=($!)
log "starting Rasa on $DY_HOST:$RASA_PORT (REST channel and HTTP API)"
"$RASA" run --model "$MODEL" --enable-api "${auth[@]}" --interface "$DY_HOST" --port "$RASA_PORT" \
  --endpoints "$ENDPOINTS" --credentials credentials.yml &
pids+=($!)

log "starting the support widget page on $DY_HOST:$WEB_PORT"
case "$DY_HOST" in 0.0.0.0|127.*|localhost) rasa_local=127.0.0.1 ;; *) rasa_local="$DY_HOST" ;; esac
RASA_URL="${RASA_URL:-http://$rasa_local:$RASA_PORT}" "$PY" -m web --host "$DY_HOST" --port "$WEB_PORT" &
pids+=($!)

log "starting the mail channel (SMTP intake on 127.0.0.1:$MAIL_SMTP_PORT, the desk's mail out)"
RASA_URL="${RASA_URL:-http://$rasa_local:$RASA_PORT}" "$PY" -m channels.mail_server --port "$MAIL_SMTP_PORT" &
pids+=($!)

wait_for "http://127.0.0.1:$ACTION_PORT/health" "the action server" "${pids[0]}" 60
wait_for "http://$DY_HOST:$WEB_PORT/config.js" "the widget page" "${pids[2]}" 60
wait_for "http://$DY_HOST:$RASA_PORT/status" "Rasa" "${pids[1]}" 180

PAGE_HOST="$DY_HOST"; case "$DY_HOST" in 127.0.0.1|::1) PAGE_HOST=localhost ;; esac
cat <<MSG

  Dy 客服助手 is running.
    Support widget    : http://$PAGE_HOST:$WEB_PORT/
    Support console   : http://$PAGE_HOST:$WEB_PORT/console/  (first account: make staff-user NAME=... ROLE=supervisor)
    Rasa REST channel : http://$DY_HOST:$RASA_PORT/webhooks/rest/webhook
                        curl -s -XPOST http://$DY_HOST:$RASA_PORT/webhooks/rest/webhook \\
                             -d '{"sender":"me","message":"网络老是掉线"}'
    Rasa HTTP API     : http://$DY_HOST:$RASA_PORT/  (e.g. /status, /model/parse)
    Support mailbox   : SMTP 127.0.0.1:$MAIL_SMTP_PORT for ${MAIL_ADDRESS:-support@dy.example} (mail becomes tickets)
                        curl -s smtp://127.0.0.1:$MAIL_SMTP_PORT --mail-from me@example.com \\
                             --mail-rcpt ${MAIL_ADDRESS:-support@dy.example} -T tests/fixtures/mail/gbk_plain.eml
                        replies go out through MAIL_RELAY_HOST (unset: they wait in the console's 支持邮箱)
    Action server     : http://127.0.0.1:$ACTION_PORT/health
    Terminal chat     : make shell   (in another terminal)
  Press Ctrl-C to stop all servers.

MSG
wait -n "${pids[@]}" || true
die "a server stopped unexpectedly; stopping the other one"
