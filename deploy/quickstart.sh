#!/usr/bin/env bash
# Install dependencies, build, start a local 3-node quorum on loopback and
# print its status. Stop it with: deploy/cluster.sh stop
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash deploy/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

export SYNOD_CLUSTER_DIR="${SYNOD_CLUSTER_DIR:-$PWD/.cluster}"
deploy/cluster.sh start 3
SYNOD_BOOTSTRAP="$(deploy/cluster.sh bootstrap)"
export SYNOD_BOOTSTRAP

# Wait (bounded) for an active controller.
deadline=$(( $(date +%s) + 30 ))
until build/synodctl --timeout-ms 1000 quorum status >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "quickstart: no leader after 30 s; logs are in $SYNOD_CLUSTER_DIR" >&2
    exit 1
  fi
  sleep 0.2
done
build/synodctl quorum status
cat <<MSG

The quorum is running (state in $SYNOD_CLUSTER_DIR). Try:
  export SYNOD_BOOTSTRAP=$SYNOD_BOOTSTRAP
  build/synodctl config set retention.ms=86400000
  build/synodctl config list
  deploy/cluster.sh kill 1; build/synodctl quorum status
  deploy/cluster.sh stop
MSG
