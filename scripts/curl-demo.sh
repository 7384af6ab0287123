#!/usr/bin/env bash
# The README's walkthrough as a script: create a board, two columns, a card, and move the card.
# Usage: API=http://127.0.0.1:8080 TOKEN=<access token> scripts/curl-demo.sh
# (tests/e2e runs it against a real boards process, so the README stays true.)
set -euo pipefail
: "${API:=http://127.0.0.1:8080}"
: "${TOKEN:?set TOKEN, e.g. TOKEN=\$(scripts/dev-token.sh alice@example.com)}"

uuid() { cat /proc/sys/kernel/random/uuid; }
send() {  # send PATH JSON: POST with the token, fail on any HTTP error, print the answer
  curl -sS --fail-with-body -X POST "$API$1" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$2"
  echo
}

BOARD=$(uuid) TODO=$(uuid) DONE=$(uuid) CARD=$(uuid)
send /api/boards \
  '{"command_id":"'"$(uuid)"'","type":"CreateBoard","payload":{"board_id":"'"$BOARD"'","title":"Launch"}}'
send "/api/boards/$BOARD/commands" \
  '{"command_id":"'"$(uuid)"'","type":"AddColumn","payload":{"column_id":"'"$TODO"'","title":"To do"}}'
send "/api/boards/$BOARD/commands" \
  '{"command_id":"'"$(uuid)"'","type":"AddColumn","payload":{"column_id":"'"$DONE"'","title":"Done"}}'
send "/api/boards/$BOARD/commands" \
  '{"command_id":"'"$(uuid)"'","type":"AddCard","payload":{"card_id":"'"$CARD"'","column_id":"'"$TODO"'","title":"Write the README"}}'
MOVE='{"command_id":"'"$(uuid)"'","type":"MoveCard","payload":{"card_id":"'"$CARD"'","column_id":"'"$DONE"'"}}'
send "/api/boards/$BOARD/commands" "$MOVE"
# The same command again: the same answer, nothing new written.
send "/api/boards/$BOARD/commands" "$MOVE"
