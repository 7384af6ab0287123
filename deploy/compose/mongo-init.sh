#!/bin/bash
# The mongo-init service in deploy/compose.yaml. On its first start the mongo container runs a
# temporary mongod on its loopback only (to create the root user), so this waits until mongod
# answers on the network, for three minutes at most, then runs mongo-init.js.
set -euo pipefail

url="mongodb://mongo:27017/admin?directConnection=true"
for _ in $(seq 90); do
    if mongosh --quiet --norc "$url" --eval 'db.hello().ok' >/dev/null 2>&1; then
        exec mongosh --quiet --norc "$url" /opt/cardstream/mongo-init.js
    fi
    sleep 2
done
echo "mongo-init: mongo:27017 did not answer within three minutes" >&2
exit 1
