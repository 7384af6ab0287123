#!/bin/bash
# The mongo service's entrypoint in deploy/compose.yaml: mongod as the one member of replica set
# rs0, with access control. A replica set with users needs a key file, which members use to
# authenticate each other; this set has no other member, so the key is made here, once, and kept
# in the config volume instead of being one more secret for the operator to provide.
set -euo pipefail

key=/data/configdb/keyfile
if [[ ! -s $key ]]; then
    # 756 random bytes are 1008 base64 characters; mongod takes 6 to 1024.
    head -c 756 /dev/urandom | base64 -w 0 >"$key"
fi
# mongod refuses a key file that others can read.
chown mongodb:mongodb "$key"
chmod 0400 "$key"

# The image's own entrypoint: creates the root user on the first start, then runs mongod as the
# mongodb user.
exec docker-entrypoint.sh mongod --replSet rs0 --keyFile "$key" --bind_ip_all
