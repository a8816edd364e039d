#!/usr/bin/env bash
# Disk faults: a node whose raft log has a bit-flipped closed segment must
# refuse to start, naming the file and what to do, at that start and every
# later one; the other two nodes go on and lose nothing acknowledged; the
# documented way back (remove the voter, start an empty node, add it)
# brings the quorum to three with equal state digests. Then (as root, where
# a tmpfs can be mounted) a full disk on the leader: it hands leadership
# over within seconds and no acknowledged write is lost.
#
# libraft 0.22 sets such a segment aside (renames it corrupt-*) and starts
# without its entries; Synod refuses instead (controller/node.c,
# docs/operations.md 'Damaged data directory'). Waits use deadlines.
# Usage: test_disk.sh BUILD_DIR
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SYNOD_BUILD_DIR="$build"
export SYNOD_CLUSTER_DIR="$(mktemp -d /tmp/synod-disk-XXXXXX)"
export SYNOD_BASE_PORT=$(( 24000 + ($$ % 40) * 200 + 100 ))
export SYNOD_FLAGS="--election-timeout-ms 300"
ctl="$build/synodctl"
dir="$SYNOD_CLUSTER_DIR"
base=$SYNOD_BASE_PORT
pass=0 fail=0
newpid=

mnt=
cleanup() {
  [ -n "$newpid" ] && kill -9 "$newpid" 2>/dev/null || true
  "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  SYNOD_CLUSTER_DIR="$dir.full" "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  SYNOD_CLUSTER_DIR="$dir.snap" "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  rm -rf "$dir.snap"
  [ -n "$mnt" ] && umount "$mnt" 2>/dev/null || true
  rm -rf "$dir.full"
  if [ "$fail" -ne 0 ]; then tail -n 5 "$dir"/node-*.log >&2 || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
wait_for() { # seconds command...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
dead() { ! kill -0 "$1" 2>/dev/null; }

"$root/deploy/cluster.sh" start 3 >/dev/null
export SYNOD_BOOTSTRAP="$("$root/deploy/cluster.sh" bootstrap)"
wait_for 20 "$ctl" --timeout-ms 1000 quorum status || { bad "no leader"; exit 1; }
for i in $(seq 1 40); do "$ctl" config set --topic "t$i" retention.ms="$i" >/dev/null; done

# Node 2 stops cleanly (its open segment is closed), then one bit of its
# newest closed segment flips.
pid2=$(cat "$dir/node-2.pid")
kill -TERM "$pid2"
wait_for 10 dead "$pid2" && ok || bad "node 2 did not stop"
seg=$(ls "$dir/node-2/raft" | grep -E '^[0-9]+-[0-9]+$' | sort | tail -1)
size=$(stat -c %s "$dir/node-2/raft/$seg")
[ "$size" -gt 1000 ] && ok || bad "segment $seg too small ($size bytes)"
python3 - "$dir/node-2/raft/$seg" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x10
open(p, "wb").write(b)
EOF

# It refuses to start, naming the segment and what to do.
"$root/deploy/cluster.sh" restart 2 >/dev/null
pid2=$(cat "$dir/node-2.pid")
wait_for 15 dead "$pid2" && ok || bad "node 2 started with a corrupt segment"
grep -q "ERROR.*corrupt-.*$seg: a raft log segment that could not be read (set aside by raft just now" "$dir/node-2.log" \
  && ok || bad "no clear error: $(tail -n 2 "$dir/node-2.log")"
grep -q "Damaged data directory" "$dir/node-2.log" && ok || bad "no pointer to the docs"

# The other two go on; nothing acknowledged is lost.
wait_for 20 "$ctl" --timeout-ms 1000 config set --topic t41 retention.ms=41 && ok || bad "write with two nodes"
[ "$("$ctl" config get --topic t40 retention.ms)" = 40 ] && ok || bad "acknowledged write lost"

# Every later start refuses too (libraft would now start it empty).
"$root/deploy/cluster.sh" restart 2 >/dev/null
pid2=$(cat "$dir/node-2.pid")
wait_for 15 dead "$pid2" && ok || bad "node 2 started on a second try"
grep -q "set aside by an earlier start" "$dir/node-2.log" && ok || bad "second start: $(tail -n 1 "$dir/node-2.log")"

# The way back: remove voter 2, start an empty node 4, add it.
"$ctl" quorum remove-voter 2 >/dev/null && ok || bad "remove-voter 2"
. "$dir/cluster.env"
others=$(echo "$VOTERS" | tr ',' '\n' | grep -v '^2@' | paste -sd,)
mkdir -p "$dir/node-4"
"$build/synod" --node-id 4 --cluster-id "$CLUSTER_ID" \
  --raft-address "127.0.0.1:$((base + 4))" --client-address "127.0.0.1:$((base + 104))" \
  --data-dir "$dir/node-4" --voters "$others" $SYNOD_FLAGS >>"$dir/node-4.log" 2>&1 &
newpid=$!
disown "$newpid" 2>/dev/null || true
wait_for 20 "$ctl" --timeout-ms 3000 quorum add-voter 4 "127.0.0.1:$((base + 4))" "127.0.0.1:$((base + 104))" \
  && ok || bad "add-voter 4"
export SYNOD_BOOTSTRAP="$SYNOD_BOOTSTRAP,127.0.0.1:$((base + 104))"
digests_agree() {
  "$ctl" --json quorum status --digest | python3 -c '
import json, sys
n = [x for x in json.load(sys.stdin)["nodes"] if x["voter"]]
v = {(x.get("metadata_version"), x.get("state_digest")) for x in n}
sys.exit(0 if len(n) == 3 and len(v) == 1 and None not in list(v)[0] else 1)'
}
wait_for 30 digests_agree && ok || bad "three voters with equal digests: $("$ctl" --json quorum status --digest)"
[ "$("$ctl" config get --topic t41 retention.ms)" = 41 ] && ok || bad "value after re-adding"

# A bit-flipped snapshot: refused at start (its checksum), never served.
# Then raft's metadata files removed: refused (it would forget its vote).
snapshot_flip() {
  local d="$dir.snap" s
  "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  kill -9 "$newpid" 2>/dev/null || true; newpid=
  SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$((base + 40)) \
    SYNOD_FLAGS="--election-timeout-ms 300 --snapshot-threshold 64 --snapshot-trailing 16" \
    "$root/deploy/cluster.sh" start 3 >/dev/null
  local bs; bs="$(SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$((base + 40)) "$root/deploy/cluster.sh" bootstrap)"
  wait_for 20 "$ctl" -b "$bs" --timeout-ms 1000 config set retention.ms=1 || { bad "snapshot: no quorum"; return; }
  for i in $(seq 1 150); do "$ctl" -b "$bs" config set --topic "s$i" retention.ms="$i" >/dev/null; done
  local p2; p2=$(cat "$d/node-2.pid")
  kill -TERM "$p2"; wait_for 10 dead "$p2" || bad "snapshot: node 2 did not stop"
  s=$(cd "$d/node-2/raft" && ls | grep -E '^snapshot-[0-9]+-[0-9]+-[0-9]+$' | awk -F- '{print $3, $0}' | sort -n | tail -1 | cut -d' ' -f2)
  [ -n "$s" ] && ok || { bad "snapshot: none taken"; return; }
  python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0x10; open(p,'wb').write(b)" "$d/node-2/raft/$s"
  SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$((base + 40)) "$root/deploy/cluster.sh" restart 2 >/dev/null
  p2=$(cat "$d/node-2.pid")
  wait_for 15 dead "$p2" && ok || bad "snapshot: node 2 started from a damaged snapshot"
  grep -q "the newest snapshot cannot be restored (snapshot: checksum mismatch" "$d/node-2.log" \
    && ok || bad "snapshot: no clear error: $(tail -n 1 "$d/node-2.log")"
  [ "$("$ctl" -b "$bs" config get --topic s150 retention.ms)" = 150 ] && ok || bad "snapshot: quorum lost a write"
  # Missing raft metadata (term and vote) with a log: refused too.
  local p3; p3=$(cat "$d/node-3.pid")
  kill -TERM "$p3"; wait_for 10 dead "$p3" || bad "metadata: node 3 did not stop"
  rm -f "$d/node-3/raft/metadata1" "$d/node-3/raft/metadata2"
  SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$((base + 40)) "$root/deploy/cluster.sh" restart 3 >/dev/null
  p3=$(cat "$d/node-3.pid")
  wait_for 15 dead "$p3" && ok || bad "metadata: node 3 started without its term and vote"
  grep -q "metadata1 and metadata2 (this node's raft term and vote) are missing" "$d/node-3.log" \
    && ok || bad "metadata: no clear error: $(tail -n 1 "$d/node-3.log")"
  SYNOD_CLUSTER_DIR="$d" "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
}
snapshot_flip

# A full disk on the leader (its data dir on a small tmpfs, then filled).
full_disk() {
  local d="$dir.full" i leader avail
  mkdir -p "$d/node-1"
  mount -t tmpfs -o size=24m tmpfs "$d/node-1" 2>/dev/null || return 77
  mnt="$d/node-1"
  "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  kill -9 "$newpid" 2>/dev/null || true; newpid=
  export SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$((base + 20))
  SYNOD_FLAGS="--election-timeout-ms 300 --segment-size-bytes 4194304" \
    "$root/deploy/cluster.sh" start 3 >/dev/null
  export SYNOD_BOOTSTRAP="$("$root/deploy/cluster.sh" bootstrap)"
  leader_is() { "$ctl" --json quorum status | python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['leader_id']==$1 else 1)"; }
  wait_for 20 "$ctl" --timeout-ms 1000 config set retention.ms=1 || { bad "full disk: no quorum"; return 1; }
  for i in 1 2 3 4 5; do
    "$ctl" quorum transfer-leader 1 >/dev/null 2>&1 || true
    wait_for 3 leader_is 1 && break
  done
  leader_is 1 && ok || { bad "full disk: node 1 did not become leader"; return 1; }
  avail=$(df -k "$d/node-1" | tail -1 | awk '{print $4}')
  dd if=/dev/zero of="$d/node-1/filler" bs=1k count=$((avail - 64)) 2>/dev/null || true
  for i in $(seq 1 30); do
    "$ctl" --timeout-ms 5000 config set --topic "full$i" retention.ms="$i" >/dev/null 2>&1 || bad "full disk: write $i not acknowledged"
  done
  wait_for 10 sh -c "! '$ctl' --json quorum status | python3 -c \"import json,sys; sys.exit(0 if json.load(sys.stdin)['leader_id']==1 else 1)\"" \
    && ok || bad "full disk: node 1 still leads"
  grep -q "handing leadership over: no room for the log" "$d/node-1.log" && ok || bad "full disk: no hand-over logged"
  for i in $(seq 1 30); do
    [ "$("$ctl" config get --topic "full$i" retention.ms)" = "$i" ] || { bad "full disk: write $i lost"; break; }
  done
  ok
}
if [ "$(id -u)" = 0 ]; then
  set +e; full_disk; rc=$?; set -e
  [ "$rc" -eq 77 ] && echo "test_disk: tmpfs mount refused, full-disk part skipped"
else
  echo "test_disk: not root, full-disk part skipped"
fi

echo "test_disk: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
