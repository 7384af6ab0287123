#!/usr/bin/env bash
# An access token for scripts, by signing in through the one URL exactly as a browser would:
# /auth/login -> the identity provider (the local one approves a login_hint at once) -> the
# callback, asked for JSON. Usage: scripts/dev-token.sh [email] [base url]
# Prints the access token (the command API's); `--read` as third argument prints the read token
# (the read API's and the WebSocket's), `--json` the whole answer (refresh token too).
set -euo pipefail
EMAIL="${1:-alice@example.com}"
# The one URL `make run` prints: CARDSTREAM_PORT moves it, as it moves nginx.
BASE="${2:-${API:-http://127.0.0.1:${CARDSTREAM_PORT:-8080}}}"
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT
answer=$(curl -sS --fail-with-body -L -c "$jar" -b "$jar" -H 'Accept: application/json' \
  "$BASE/auth/login?login_hint=$EMAIL")
if [[ "${3:-}" == "--json" ]]; then
  echo "$answer"
elif [[ "${3:-}" == "--read" ]]; then
  python3 -c 'import json,sys; print(json.load(sys.stdin)["read_token"])' <<<"$answer"
else
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$answer"
fi
