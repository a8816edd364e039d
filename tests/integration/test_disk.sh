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
# A slot of ports of our own (tests/ports.sh): this quorum at its base,
# the others at base + 20, + 40 and + 60, all below base + 500.
source "$root/tests/ports.sh"
synod_reserve_ports
export SYNOD_FLAGS="--election-timeout-ms 300"
# Its quorums go with this script even when ctest SIGKILLs it at its
# timeout and no trap runs (deploy/cluster.sh).
export SYNOD_STOP_WITH=$$
ctl="$build/synodctl"
dir="$SYNOD_CLUSTER_DIR"
base=$SYNOD_BASE_PORT
pass=0 fail=0
newpid=

mnt=
cleanup() {
  local san
  [ -n "$newpid" ] && kill -9 "$newpid" 2>/dev/null || true
  "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  SYNOD_CLUSTER_DIR="$dir.full" "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  SYNOD_CLUSTER_DIR="$dir.snap" "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  SYNOD_CLUSTER_DIR="$dir.fault" "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  # A sanitizer build's report in any daemon's log fails the test.
  san=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" \
    "$dir"/node-*.log "$dir".*/node-*.log 2>/dev/null || true)
  if [ "$fail" -ne 0 ]; then tail -n 40 "$dir".fault/node-*.log >&2 2>/dev/null || true; fi
  # SYNOD_TEST_KEEP=DIR keeps the fault cluster's directories to read.
  [ -n "${SYNOD_TEST_KEEP:-}" ] && cp -r "$dir.fault" "$SYNOD_TEST_KEEP" 2>/dev/null || true
  rm -rf "$dir.snap" "$dir.fault" "$dir.fault.ctl"
  [ -n "$mnt" ] && umount "$mnt" 2>/dev/null || true
  rm -rf "$dir.full"
  if [ "$fail" -ne 0 ]; then tail -n 5 "$dir"/node-*.log >&2 || true; fi
  rm -rf "$dir"
  if [ -n "$san" ]; then
    echo "FAIL: sanitizer reports in $san" >&2
    exit 1
  fi
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
  grep -qF "node-2/raft/$s: the newest snapshot cannot be restored (snapshot: checksum mismatch" "$d/node-2.log" \
    && ok || bad "snapshot: no clear error: $(tail -n 1 "$d/node-2.log")"
  [ "$("$ctl" -b "$bs" config get --topic s150 retention.ms)" = 150 ] && ok || bad "snapshot: quorum lost a write"
  # The same snapshot cut to half its size: refused too.
  truncate -s $(( $(stat -c %s "$d/node-2/raft/$s") / 2 )) "$d/node-2/raft/$s"
  : >"$d/node-2.log"
  SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$((base + 40)) "$root/deploy/cluster.sh" restart 2 >/dev/null
  p2=$(cat "$d/node-2.pid")
  wait_for 15 dead "$p2" && ok || bad "snapshot: node 2 started from a cut snapshot"
  grep -qF "node-2/raft/$s: the newest snapshot cannot be restored (snapshot: " "$d/node-2.log" \
    && ok || bad "snapshot: cut: no clear error: $(grep ERROR "$d/node-2.log" | tail -n 1)"
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

# A disk that fails under a running node (tests/chaos/faultio.c, an
# LD_PRELOAD library of the tests', on node 2's raft directory): a write
# torn by a crash, a disk that hangs under the leader, a write that fails
# with EIO under the leader or under a follower during an election, a
# log that finds no room (ENOSPC) under a follower, snapshot writes that
# fail (EIO, ENOSPC), starts from a disk that cannot be read, and a
# flipped bit in an open segment.
failing_disk() {
  local d="$dir.fault" b=$((base + 60)) fc="$dir.fault.ctl" bs p2 t i acked= since
  local lib="$build/tests/libsynod_faultio.so"
  [ -f "$lib" ] || { bad "faults: no $lib"; return; }
  "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  kill -9 "$newpid" 2>/dev/null || true; newpid=
  fenv() {
    # (A sanitizer build of synod: ASan wants its runtime first.)
    env LD_PRELOAD="$lib" SYNOD_FAULTIO_DIR="$d/node-2/raft" SYNOD_FAULTIO_CTL="$fc" \
      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
      SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$b \
      SYNOD_FLAGS="--election-timeout-ms 300 --disk-stall-ms 1000" "$@"
  }
  fenv "$root/deploy/cluster.sh" start 3 >/dev/null
  bs="$(SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$b "$root/deploy/cluster.sh" bootstrap)"
  fctl() { "$ctl" -b "$bs" --timeout-ms 3000 "$@"; }
  leader_is() { fctl --json quorum status | python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['leader_id']==$1 else 1)"; }
  not_leader() { ! leader_is "$1"; }
  lead() { for _ in 1 2 3 4 5; do fctl quorum transfer-leader "$1" >/dev/null 2>&1 || true; wait_for 3 leader_is "$1" && return 0; done; return 1; }
  same() {
    fctl --json quorum status --digest | python3 -c '
import json, sys
n = [x for x in json.load(sys.stdin)["nodes"] if x["voter"]]
v = {(x.get("metadata_version"), x.get("state_digest")) for x in n}
sys.exit(0 if len(n) == 3 and len(v) == 1 and None not in list(v)[0] else 1)'
  }
  restart2() { rm -f "$fc"; fenv "$root/deploy/cluster.sh" restart 2 >/dev/null; p2=$(cat "$d/node-2.pid"); }
  wait_for 20 fctl config set retention.ms=1 || { bad "faults: no quorum"; return; }

  # A write torn by a crash on follower 2 (a batch of five records, more
  # than a sector): it dies mid-write, starts again saying so, and
  # catches up; the write was acknowledged by the other two.
  lead 1 || bad "faults: node 1 did not lead"
  fctl config set retention.ms=3 >/dev/null || bad "torn: a write before"
  wait_for 20 same || bad "torn: node 2 behind before the tear"
  echo torn > "$fc"
  t=$(printf 't%.0s' $(seq 249))
  fctl config set --topic "$t" retention.ms=1 segment.ms=2 retention.bytes=3 \
    delete.retention.ms=4 max.message.bytes=5000 >/dev/null && ok || bad "torn: write not acknowledged"
  p2=$(cat "$d/node-2.pid")
  wait_for 10 dead "$p2" && ok || bad "torn: node 2 did not die mid-write"
  grep -q "faultio: tore a write" "$d/node-2.log" && ok || bad "torn: no write torn"
  restart2
  wait_for 20 same && ok || bad "torn: digests differ: $(fctl --json quorum status --digest)"
  grep -q "a write torn by a crash at byte" "$d/node-2.log" && ok || bad "torn: not said: $(grep -E "faultio|WARN" "$d/node-2.log")"
  [ "$(fctl config get --topic "$t" segment.ms)" = 2 ] && ok || bad "torn: value"

  # A disk that hangs under leader 2: it hands leadership over; writes go
  # on; when the disk comes back its writes complete and it catches up.
  lead 2 || bad "stall: node 2 did not lead"
  echo stall > "$fc"
  for i in $(seq 1 20); do fctl config set --topic "s$i" retention.ms="$i" >/dev/null || bad "stall: write $i"; sleep 0.1; done
  wait_for 10 not_leader 2 && ok || bad "stall: node 2 still leads"
  grep -q "a log write has not completed for" "$d/node-2.log" && ok || bad "stall: not said"
  grep -q "handing leadership over: its log writes do not complete" "$d/node-2.log" && ok || bad "stall: no hand-over"
  rm -f "$fc"
  wait_for 10 grep -q "log writes complete again" "$d/node-2.log" && ok || bad "stall: writes did not resume"
  wait_for 20 same && ok || bad "stall: digests differ"

  # A write that fails (EIO) under leader 2: it stops with a clear error
  # before libraft's broken retry; nothing acknowledged is lost.
  lead 2 || bad "eio: node 2 did not lead"
  echo eio > "$fc"
  for i in $(seq 1 20); do
    fctl config set --topic "e$i" retention.ms="$i" >/dev/null 2>&1 && acked="$acked $i"
    sleep 0.1
  done
  wait_for 15 dead "$p2" && ok || bad "eio: node 2 still runs"
  grep -q "fatal: $d/node-2/raft: a log write failed (write failed: -5; src/uv_append.c:[0-9]*): the disk is failing" "$d/node-2.log" && ok || bad "eio: no clear error: $(tail -n 2 "$d/node-2.log")"
  grep -q "node 2: stopped" "$d/node-2.log" && ok || bad "eio: did not stop cleanly"
  [ "$(echo $acked | wc -w)" -ge 15 ] && ok || bad "eio: only [$acked] acknowledged"
  for i in $acked; do
    [ "$(fctl config get --topic "e$i" retention.ms)" = "$i" ] || { bad "eio: write $i lost"; break; }
  done
  restart2
  wait_for 20 same && ok || bad "eio: digests differ after the restart"

  # A log that finds no room under follower 2 (ENOSPC where its segments
  # were allocated, as thin-provisioned or copy-on-write filesystems can
  # give): it stops, saying the disk is full, and every write is
  # acknowledged by the other two. Started while still full, it refuses,
  # saying so; with room again it starts and catches up.
  lead 1 || bad "enospc: node 1 did not lead"
  echo enospc-segments > "$fc"
  for i in $(seq 1 20); do fctl config set --topic "n$i" retention.ms="$i" >/dev/null || bad "enospc: write $i"; done
  wait_for 15 dead "$p2" && ok || bad "enospc: node 2 still runs"
  grep -q "fatal: $d/node-2/raft: a log write failed (write failed: -28; src/uv_append.c:[0-9]*): no space left on the disk\. Stopping" "$d/node-2.log" \
    && ok || bad "enospc: no clear error: $(grep fatal "$d/node-2.log" | tail -n 1)"
  since=$(stat -c %s "$d/node-2.log")
  fenv "$root/deploy/cluster.sh" restart 2 >/dev/null 2>&1 || true
  p2=$(cat "$d/node-2.pid")
  wait_for 15 dead "$p2" && ok || bad "enospc: node 2 started on a full disk"
  grep -q "not enough space to allocate [0-9]* bytes\. The disk is full: free space on it (or grow its filesystem), then start again (docs/operations.md, 'Full disk')" \
    < <(tail -c +"$((since + 1))" "$d/node-2.log") && ok || bad "enospc: start not refused clearly: $(tail -n 1 "$d/node-2.log")"
  restart2
  wait_for 20 same && ok || bad "enospc: digests differ after the restart"

  # The same under follower 2 when the leader dies: saving the new term
  # fails, and it stops saying so (libraft would refuse every election
  # silently, and two nodes would never elect a leader).
  lead 1 || bad "term: node 1 did not lead"
  echo eio > "$fc"
  kill -9 "$(cat "$d/node-1.pid")"
  wait_for 15 dead "$p2" && ok || bad "term: node 2 still runs"
  grep -q "fatal: $d/node-2/raft: saving the term failed (persist metadata[12]: write: i/o error)" "$d/node-2.log" \
    && ok || bad "term: no clear error: $(grep ERROR "$d/node-2.log" | tail -n 1)"
  restart2
  fenv "$root/deploy/cluster.sh" restart 1 >/dev/null
  wait_for 20 same && ok || bad "term: digests differ after the restarts"

  # Snapshot writes that fail (EIO) on node 2, restarted with a low
  # snapshot threshold: raft's log still works, so it goes on (raft_uv
  # tries the snapshot again every 5 s), but it says so, in its log and
  # its metrics; once the disk heals, a snapshot is written.
  local metrics="127.0.0.1:$((b + 202))/metrics"
  rm -f "$fc"
  fenv env SYNOD_FLAGS="--election-timeout-ms 300 --snapshot-threshold 64 --snapshot-trailing 32 --disk-stall-ms 1000" \
    "$root/deploy/cluster.sh" restart 2 >/dev/null
  p2=$(cat "$d/node-2.pid")
  wait_for 20 same || bad "snap: node 2 behind"
  # (Read whole first: grep -q stopping early would fail curl's write.)
  metric_is() { local m; m=$(curl -s "$metrics") && grep -q "^$1\$" <<<"$m"; }
  snaplog() { grep -q "$1" < <(tail -c +"$((since + 1))" "$d/node-2.log"); }
  # A snapshot fault on node 2 under 80 writes: said (pattern), its metric
  # at 1 and node 2 still up; after the heal said again, the metric at 0,
  # digests equal. Usage: snapshot_fault WORD TAG SAID METRIC HEALED
  snapshot_fault() {
    since=$(stat -c %s "$d/node-2.log")
    echo "$1" > "$fc"
    for i in $(seq 1 80); do fctl config set --topic "$2$i" retention.ms="$i" >/dev/null || bad "$2: write $i"; done
    wait_for 15 snaplog "$3" && ok || bad "$2: not said: $(tail -n 3 "$d/node-2.log")"
    metric_is "$4 1" && ok || bad "$2: metric: $(curl -s "$metrics" | grep "$4")"
    ! dead "$p2" && ok || bad "$2: node 2 stopped"
    rm -f "$fc"
    wait_for 15 snaplog "$5" && ok || bad "$2: not healed: $(tail -n 3 "$d/node-2.log")"
    metric_is "$4 0" && ok || bad "$2: metric after the heal"
    wait_for 20 same && ok || bad "$2: digests differ"
  }
  snapshot_fault eio-snapshots snap \
    "raft: a snapshot could not be written (.* bytes free); raft tries again\." \
    synod_snapshot_write_failing "raft: snapshots are written again"
  # The same with ENOSPC: a disk that fills while a snapshot is written.
  snapshot_fault enospc-snapshots nospc \
    "raft: a snapshot could not be written (.* bytes free); raft tries again\." \
    synod_snapshot_write_failing "raft: snapshots are written again"

  # A snapshot save that does not end on node 2 (its log still writes):
  # it says so after disk_stall_ms, in its log and metrics, and goes on;
  # once the save ends, it says that too (reliability.md 5.13).
  snapshot_fault stall-snapshots hang \
    "raft: this node's own snapshot save has not completed for [0-9]* ms (disk_stall_ms 1000)\. Check the kernel log" \
    synod_snapshot_save_stalled "raft: snapshot saves complete again"
  # ... logging first what raft_uv said of that save (the cause of 5.13
  # is not known).
  snaplog "raft_uv before the stall: [0-9]* ms ago: src/uv_snapshot.c:[0-9]* put snapshot at [0-9]*, keeping 32" \
    && ok || bad "hang: the save's steps not logged: $(grep "before the stall" "$d/node-2.log" | tail -n 2)"

  # The same past snapshot_save_timeout_ms: libraft cannot cancel the
  # save, so node 2 stops for its service manager to restart it (status
  # 3); its worker thread still waits on the disk, so the stop ends at
  # its deadline. Started again, it catches up.
  fenv env SYNOD_FLAGS="--election-timeout-ms 300 --snapshot-threshold 64 --snapshot-trailing 32 --disk-stall-ms 1000 --snapshot-save-timeout-ms 2000" \
    "$root/deploy/cluster.sh" restart 2 >/dev/null 2>&1 || true
  wait_for 20 same || bad "restart: node 2 behind"
  p2=$(cat "$d/node-2.pid")
  # Snapshot writes that keep failing past snapshot_save_timeout_ms are a
  # failing disk, not a save that never ends: raft_uv tries again every
  # 5 s, and node 2 goes on (a restart would not mend the disk; chaos
  # seed 1282 restarted such a node, reliability.md 5.13).
  since=$(stat -c %s "$d/node-2.log")
  echo eio-snapshots > "$fc"
  for i in $(seq 1 80); do fctl config set --topic "e$i" retention.ms="$i" >/dev/null || bad "retrying: write $i"; done
  tried_thrice() { local v; v=$(curl -s "$metrics" | sed -n 's/^synod_snapshot_write_failures_total //p'); [ "${v%.*}" -ge 3 ] 2>/dev/null; }
  wait_for 30 tried_thrice && ok || bad "retrying: no retries: $(curl -s "$metrics" | grep write_failures)"
  ! dead "$p2" && ! snaplog "fatal" && ok || bad "retrying: node 2 stopped: $(grep fatal "$d/node-2.log" | tail -n 1)"
  rm -f "$fc"
  wait_for 15 snaplog "raft: snapshots are written again" && ok || bad "retrying: not healed: $(tail -n 3 "$d/node-2.log")"
  since=$(stat -c %s "$d/node-2.log")
  echo stall-snapshots > "$fc"
  for i in $(seq 1 80); do fctl config set --topic "r$i" retention.ms="$i" >/dev/null || bad "restart: write $i"; done
  wait_for 30 dead "$p2" && ok || bad "restart: node 2 still runs: $(tail -n 2 "$d/node-2.log")"
  snaplog "fatal: $d/node-2/raft: this node's own snapshot save has not completed for [0-9]* ms (snapshot_save_timeout_ms 2000) while log writes complete: libraft can leave one that never ends (docs/reliability.md 5.13)\. This node stops with status 3" \
    && ok || bad "restart: no clear error: $(grep fatal "$d/node-2.log" | tail -n 1)"
  # ... and, just before, raft_uv's steps again: where the save stopped.
  snaplog "raft_uv before the stop: [0-9]* ms ago: src/uv_snapshot.c:[0-9]* put snapshot at [0-9]*, keeping 32" \
    && ok || bad "restart: the save's steps not logged at the stop: $(grep "before the stop" "$d/node-2.log" | tail -n 2)"
  snaplog "the stop did not complete in 15000 ms (libraft is still waiting for its disk); exiting now with status 3" \
    && ok || bad "restart: no stop deadline, or not status 3: $(tail -n 2 "$d/node-2.log")"
  restart2
  wait_for 20 same && ok || bad "restart: digests differ after the restart"

  # An installation of the leader's snapshot whose last step (naming its
  # file) fails on node 2: libraft 0.22.1 drops the error and would leave
  # node 2 deaf to its leader until restarted; it stops instead, saying
  # so, and catches up once started again (reliability.md 5.15). Nodes 1
  # and 3 compact their logs past node 2's while it is down, so it needs
  # the snapshot.
  local n low="--election-timeout-ms 300 --disk-stall-ms 1000 --snapshot-threshold 64 --snapshot-trailing 32"
  kill -TERM "$p2"; wait_for 10 dead "$p2" || bad "install: node 2 did not stop"
  for n in 1 3; do
    fenv env SYNOD_FLAGS="$low" "$root/deploy/cluster.sh" restart $n >/dev/null
    wait_for 20 fctl config set retention.ms=$n >/dev/null || bad "install: no quorum after restarting node $n"
  done
  for i in $(seq 1 200); do fctl config set --topic "i$i" retention.ms="$i" >/dev/null || bad "install: write $i"; done
  echo eio-snapshot-link > "$fc"
  since=$(stat -c %s "$d/node-2.log")
  fenv "$root/deploy/cluster.sh" restart 2 >/dev/null
  p2=$(cat "$d/node-2.pid")
  wait_for 20 dead "$p2" && ok || bad "install: node 2 still runs: $(tail -n 2 "$d/node-2.log")"
  snaplog "fatal: $d/node-2/raft: saving the leader's snapshot failed (I/O error): the disk is failing" \
    && ok || bad "install: no clear error: $(grep -E "fatal|ERROR" "$d/node-2.log" | tail -n 2)"
  snaplog "node 2: stopped" && ok || bad "install: did not stop cleanly"
  ! snaplog "a snapshot could not be written" && ok || bad "install: said raft tries again"
  # Up to libraft's install_snapshot_timeout (30 s): a leader that sent
  # its snapshot to node 2 before it stopped may wait for that send to
  # time out before it sends another (once seen in CI: caught up after
  # 20 s; reliability.md 5.15).
  restart2
  wait_for 45 same && ok || bad "install: digests differ after the restart: $(fctl --json quorum status --digest)"
  [ "$(fctl config get --topic i200 retention.ms)" = 200 ] && ok || bad "install: value"
  for n in 1 3; do
    fenv "$root/deploy/cluster.sh" restart $n >/dev/null
    wait_for 20 same || bad "install: node $n behind after its restart"
  done

  # A disk that cannot be read when node 2 starts: it refuses, saying so
  # and what to do, and the quorum goes on. Stopped cleanly (its log all
  # in closed segments): every read fails (raft's term file is read
  # first), then only the log's (raft reads the closed segments). Then
  # killed (its open segments left): controller/logcheck.c reads them
  # before raft does.
  refused_read() { # what, pattern of the error
    local at; at=$(stat -c %s "$d/node-2.log")
    fenv "$root/deploy/cluster.sh" restart 2 >/dev/null
    p2=$(cat "$d/node-2.pid")
    wait_for 15 dead "$p2" && ok || bad "read: node 2 started from a disk it cannot read ($1)"
    grep -q "$2. The disk cannot be read: this node must not start from it.*'A failing disk'" \
      < <(tail -c +"$((at + 1))" "$d/node-2.log") && ok || bad "read: no clear error ($1): $(tail -n 1 "$d/node-2.log")"
  }
  kill -TERM "$p2"; wait_for 10 dead "$p2" || bad "read: node 2 did not stop"
  echo eio-reads > "$fc"
  refused_read "term" "ERROR node 2: raft: io: read content of metadata1: read: i/o error"
  echo eio-log-reads > "$fc"
  refused_read "closed segment" "ERROR node 2: raft start: I/O error: io: load closed segment [0-9-]*: read file: read: i/o error (in $d/node-2/raft)"
  restart2
  wait_for 20 same || bad "read: node 2 behind"
  kill -9 "$p2"; wait_for 10 dead "$p2" || bad "read: node 2 did not die"
  echo eio-log-reads > "$fc"
  refused_read "open segment" "ERROR node 2: cannot read $d/node-2/raft/open-[0-9]*: Input/output error"
  fctl config set retention.ms=5 >/dev/null && ok || bad "read: the quorum stopped"
  restart2
  wait_for 20 same && ok || bad "read: digests differ after the disk came back"

  # A flipped bit in node 2's open segment: refused (libraft would drop
  # the entries from there on), naming the file and the byte.
  for i in 1 2 3 4 5; do fctl config set --topic "f$i" retention.ms="$i" >/dev/null || bad "flip: write $i"; done
  wait_for 20 same || bad "flip: node 2 behind"
  p2=$(cat "$d/node-2.pid")
  kill -9 "$p2"; wait_for 10 dead "$p2" || bad "flip: node 2 did not die"
  python3 - "$d/node-2/raft" <<'PY'
import os, sys
d = sys.argv[1]
segs = sorted((f for f in os.listdir(d) if f.startswith("open-")), key=lambda f: int(f[5:]))
for f in segs:
    p = os.path.join(d, f)
    b = bytearray(open(p, "rb").read())
    end = len(b.rstrip(b"\0"))
    if end > 64:
        b[end // 2] ^= 0x10
        open(p, "wb").write(b)
        break
else:
    sys.exit("no open segment with entries")
PY
  restart2
  wait_for 15 dead "$p2" && ok || bad "flip: node 2 started from a damaged open segment"
  grep -q "ERROR.*node-2/raft/open-[0-9]*: byte [0-9]*, after [0-9]* intact batches: .*Not a write torn by a crash" "$d/node-2.log" \
    && ok || bad "flip: no clear error: $(tail -n 1 "$d/node-2.log")"
  fctl config set retention.ms=2 >/dev/null && ok || bad "flip: the quorum stopped"
  # The operator's last resort: started anyway, saying what it risks; it
  # catches up from the others once leadership moves (the leader that was
  # up across the restart still counts the entries node 2 dropped as
  # held, and raft never sends them again: operations.md 6.6).
  local at; at=$(stat -c %s "$d/node-2.log")
  env SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$b \
    SYNOD_FLAGS="--election-timeout-ms 300 --accept-damaged-log-tail true" \
    "$root/deploy/cluster.sh" restart 2 >/dev/null
  since2() { grep -q "$1" < <(tail -c +"$((at + 1))" "$d/node-2.log"); }
  wait_for 10 since2 "raft started" && ok || bad "flip: accepted: no start"
  fctl quorum transfer-leader >/dev/null || bad "flip: accepted: transfer"
  wait_for 20 same && ok || bad "flip: accepted: digests differ: $(fctl --json quorum status --digest | tr -d " \n" | cut -c1-900) $(tail -n 5 "$d/node-2.log")"
  since2 "accept_damaged_log_tail is set: starting anyway" && ok || bad "flip: accepted: not said"

  # A closed segment cut short inside its last batch: refused, naming it
  # (libraft's "short read" was reported as a busy address).
  local p3 seg
  p3=$(cat "$d/node-3.pid")
  kill -TERM "$p3"; wait_for 10 dead "$p3" || bad "cut: node 3 did not stop"
  seg=$(ls "$d/node-3/raft" | grep -E '^[0-9]+-[0-9]+$' | sort | tail -1)
  truncate -s $(( $(stat -c %s "$d/node-3/raft/$seg") - 3 )) "$d/node-3/raft/$seg"
  SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$b "$root/deploy/cluster.sh" restart 3 >/dev/null
  p3=$(cat "$d/node-3.pid")
  wait_for 15 dead "$p3" && ok || bad "cut: node 3 started from a cut segment"
  grep -q "load closed segment $seg: .*short read.*This node's log cannot be read" "$d/node-3.log" \
    && ok || bad "cut: no clear error: $(grep ERROR "$d/node-3.log" | tail -n 1)"
  SYNOD_CLUSTER_DIR="$d" SYNOD_BASE_PORT=$b "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
}
failing_disk

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
