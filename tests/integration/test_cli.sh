#!/usr/bin/env bash
# CLI smoke test: deploy/cluster.sh and synodctl against a real 3-node
# quorum, as an operator uses them (output, --json, exit codes). Waits use
# deadlines, never fixed sleeps. Usage: test_cli.sh BUILD_DIR
set -euo pipefail
build="$(cd "${1:?build dir}" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SYNOD_BUILD_DIR="$build"
export SYNOD_CLUSTER_DIR="$(mktemp -d /tmp/synod-cli-XXXXXX)"
# A slot of ports of our own, below the ephemeral range (tests/ports.sh).
source "$root/tests/ports.sh"
synod_reserve_ports
export SYNOD_FLAGS="--election-timeout-ms 300"
# The quorum and synod-sim go with this script even when ctest SIGKILLs it
# at its timeout and no trap runs (deploy/cluster.sh).
export SYNOD_STOP_WITH=$$
ctl="$build/synodctl"
pass=0 fail=0

simpid=
cleanup() {
  local san
  if [ -n "$simpid" ]; then kill -9 "$simpid" 2>/dev/null || true; fi
  "$root/deploy/cluster.sh" stop >/dev/null 2>&1 || true
  if [ "$fail" -ne 0 ]; then tail -n 20 "$SYNOD_CLUSTER_DIR"/node-*.log >&2 || true; fi
  # A sanitizer build's report in any daemon's log fails the test.
  san=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" \
    "$SYNOD_CLUSTER_DIR"/*.log 2>/dev/null || true)
  rm -rf "$SYNOD_CLUSTER_DIR"
  if [ -n "$san" ]; then
    echo "FAIL: sanitizer reports in $san" >&2
    exit 1
  fi
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_code() { # expected command...
  local want=$1; shift
  set +e; "$@" >/tmp/cli.$$ 2>&1; local got=$?; set -e
  if [ "$got" -eq "$want" ]; then ok; else bad "'$*' exited $got, want $want: $(cat /tmp/cli.$$)"; fi
}
wait_for() { # seconds command...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

"$root/deploy/cluster.sh" start 3 >/dev/null
SYNOD_BOOTSTRAP="$("$root/deploy/cluster.sh" bootstrap)"
export SYNOD_BOOTSTRAP
cid="$(grep CLUSTER_ID "$SYNOD_CLUSTER_DIR/cluster.env" | cut -d= -f2)"

wait_for 20 "$ctl" --timeout-ms 1000 quorum status && ok || bad "no leader"
st="$("$ctl" --json quorum status)"
[ "$(echo "$st" | json 'd["cluster_id"]')" = "$cid" ] && ok || bad "cluster id"
[ "$(echo "$st" | json 'len(d["nodes"])')" = 3 ] && ok || bad "3 nodes"
[ "$(echo "$st" | json 'sum(n["reachable"] for n in d["nodes"])')" = 3 ] && ok || bad "all reachable"
"$ctl" quorum status | grep -q "^Leader:" && ok || bad "table output"

# configs: set, get, list, delete, validation, exit codes
expect_code 0 "$ctl" config set retention.ms=86400000 num.partitions=6
expect_code 0 "$ctl" config set --topic orders cleanup.policy=compact,delete
[ "$("$ctl" config get --topic orders cleanup.policy)" = "compact,delete" ] && ok || bad "get topic"
[ "$("$ctl" --json config get --topic payments retention.ms | json 'd["value"]')" = 86400000 ] && ok || bad "inherited"
[ "$("$ctl" --json config list | json 'len(d["configs"])')" = 3 ] && ok || bad "list"
expect_code 1 "$ctl" config set retention.ms=forever
expect_code 1 "$ctl" config set --topic orders num.partitions=3
expect_code 1 "$ctl" config set --topic "bad name" retention.ms=1
expect_code 0 "$ctl" config set --validate-only segment.bytes=1048576
expect_code 1 "$ctl" config get segment.bytes.nope
expect_code 0 "$ctl" config delete num.partitions
expect_code 1 "$ctl" config delete num.partitions
expect_code 2 "$ctl" config set novalue
expect_code 2 "$ctl" frobnicate
expect_code 0 "$ctl" config keys
# wrong cluster id and unreachable cluster
expect_code 1 "$ctl" --cluster-id not-this-one config list
expect_code 3 "$ctl" --bootstrap 127.0.0.1:1 --timeout-ms 500 config list
expect_code 0 "$ctl" --cluster-id "$cid" config list

# kill -9 the leader: writes go on, status shows the dead node
leader="$("$ctl" --json quorum status | json 'd["leader_id"]')"
"$root/deploy/cluster.sh" kill "$leader" >/dev/null
wait_for 20 "$ctl" --timeout-ms 1000 config set retention.ms=1000 && ok || bad "write after leader kill"
st="$("$ctl" --json quorum status)"
[ "$(echo "$st" | json "[n['reachable'] for n in d['nodes'] if n['id']==$leader][0]")" = False ] && ok || bad "dead node shown unreachable"
[ "$("$ctl" config get retention.ms)" = 1000 ] && ok || bad "value after failover"
"$root/deploy/cluster.sh" restart "$leader" >/dev/null
wait_for 20 sh -c "'$ctl' --json quorum status | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(n[\"reachable\"] and n[\"lag\"]==0 for n in d[\"nodes\"]) else 1)'" && ok || bad "restarted node caught up"
# every replica's state digest equal at the same metadata version
digests_agree() {
  "$ctl" --json quorum status --digest | python3 -c '
import json, sys
n = json.load(sys.stdin)["nodes"]
v = {(x.get("metadata_version"), x.get("state_digest")) for x in n}
sys.exit(0 if len(n) == 3 and len(v) == 1 and None not in list(v)[0] else 1)'
}
wait_for 20 digests_agree && ok || bad "state digests differ: $("$ctl" --json quorum status --digest)"
"$ctl" quorum status --digest | grep -q "state digest [0-9a-f]\{16\} at metadata version" && ok || bad "digest in table output"

# transfer leadership
leader="$("$ctl" --json quorum status | json 'd["leader_id"]')"
target=$(( leader % 3 + 1 ))
expect_code 0 "$ctl" quorum transfer-leader "$target"
wait_for 10 sh -c "'$ctl' --json quorum status | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"leader_id\"]==$target else 1)'" && ok || bad "transfer to $target"
expect_code 1 "$ctl" quorum remove-voter 9
expect_code 2 "$ctl" quorum add-voter x y z

# A voter that never starts: while its catch-up runs, another change is
# BUSY and the answer says which change and what it waits for; the add
# then fails with a reason (libraft gives a catch-up up after a 5 s
# round), and the leader logs both ends. Node 9 stays a non-voter until
# removed.
nowhere="127.0.0.1:$((SYNOD_BASE_PORT + 190))"
"$ctl" --timeout-ms 30000 quorum add-voter 9 "$nowhere" "$nowhere" >/tmp/cli-add.$$ 2>&1 &
addpid=$!
# Each probe is a real remove-voter 9: NOT_FOUND until the spare is in,
# BUSY while it catches up; one that succeeds ends the probing.
busy_seen= last9=
for _ in $(seq 1 100); do
  set +e; last9=$("$ctl" quorum remove-voter 9 2>&1); rc9=$?; set -e
  if grep -q "BUSY: a quorum change is in progress: add-voter 9, started .* ago; node 9 is catching up before it votes (round 1 of 10)" <<<"$last9"; then
    busy_seen=1; break
  fi
  [ "$rc9" -ne 0 ] || break
  sleep 0.1
done
[ -n "$busy_seen" ] && ok || bad "BUSY names the change in progress: $last9"
set +e; wait "$addpid"; addrc=$?; set -e
[ "$addrc" -eq 1 ] && grep -q "did not catch up with the log in time" /tmp/cli-add.$$ && ok || bad "add of a node that never starts: exit $addrc: $(cat /tmp/cli-add.$$)"
grep -q "quorum change started: add-voter 9" "$SYNOD_CLUSTER_DIR"/node-*.log && ok || bad "change start logged"
grep -q "quorum change add-voter 9: in as a spare" "$SYNOD_CLUSTER_DIR"/node-*.log && ok || bad "spare step logged"
grep -q "quorum change add-voter 9 ended after [0-9.]* s: it did not catch up" "$SYNOD_CLUSTER_DIR"/node-*.log && ok || bad "change end logged"
expect_code 0 "$ctl" quorum remove-voter 9
rm -f /tmp/cli-add.$$

# brokers: empty list works
[ "$("$ctl" --json broker list | json 'len(d["brokers"])')" = 0 ] && ok || bad "broker list"
expect_code 1 "$ctl" broker describe 5
expect_code 1 "$ctl" broker unregister 5

# topics and partitions, with three simulated brokers (one per rack)
"$build/synod-sim" --brokers 3 --first-id 1 --racks 3 >"$SYNOD_CLUSTER_DIR/sim.log" 2>&1 &
simpid=$!
echo "$simpid" >"$SYNOD_CLUSTER_DIR/sim.pid"
active3() { "$ctl" --json broker list | python3 -c 'import json,sys; sys.exit(0 if sum(b["state"]=="active" for b in json.load(sys.stdin)["brokers"])==3 else 1)'; }
wait_for 20 active3 && ok || bad "3 simulated brokers active"
expect_code 0 "$ctl" topic create cli-t --partitions 4 --replication-factor 3 --config retention.ms=60000
out="$("$ctl" --json topic create cli-v --partitions 2 --replication-factor 2 --validate-only)" || true
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["topic"]=="cli-v" and d["error"] is None and len(d["topic_id"])==36 and d["validate_only"] is True else 1)' && ok || bad "create --json: $out"
expect_code 1 "$ctl" topic describe cli-v
expect_code 1 "$ctl" topic create cli-t --partitions 1 --replication-factor 1
[ "$("$ctl" --json topic create cli-x --partitions 1 --replication-factor 4 | json 'd["error"]')" = INVALID_REPLICATION_FACTOR ] && ok || bad "rf 4"
expect_code 1 "$ctl" topic create cli-x --partitions 0 --replication-factor 1
expect_code 1 "$ctl" topic create .. --partitions 1 --replication-factor 1
expect_code 2 "$ctl" topic create cli-x --partitions many
desc="$("$ctl" --json topic describe cli-t)" || true
echo "$desc" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["topic"] == "cli-t" and len(d["topic_id"]) == 36, d
assert d["configs"] == {"retention.ms": "60000"}, d["configs"]
assert d["partition_count"] == 4 and [p["partition"] for p in d["partitions"]] == [0, 1, 2, 3]
for p in d["partitions"]:
    assert set(p) == {"partition", "leader", "leader_epoch", "partition_epoch", "replicas", "isr"}, p
    assert sorted(p["replicas"]) == [1, 2, 3] and p["isr"] == p["replicas"], p
    assert p["leader"] == p["replicas"][0] and p["leader_epoch"] == 0 and p["partition_epoch"] == 0, p
' && ok || bad "describe --json: $desc"
"$ctl" topic describe cli-t | grep -q "^  Partition: 3 " && ok || bad "describe table"
expect_code 0 "$ctl" topic add-partitions cli-t --total 6
expect_code 1 "$ctl" topic add-partitions cli-t --total 5
[ "$("$ctl" --json topic list | json '[t["partition_count"] for t in d["topics"] if t["topic"]=="cli-t"][0]')" = 6 ] && ok || bad "list"
[ "$("$ctl" --json partition list | json 'sum(p["topic"]=="cli-t" for p in d["partitions"])')" = 6 ] && ok || bad "partition list"
[ "$("$ctl" --json partition list --offline | json 'len(d["partitions"])')" = 0 ] && ok || bad "no offline partitions"
[ "$("$ctl" --json partition elect-leaders --preferred --topic cli-t | json 'd["elected"]')" = 0 ] && ok || bad "preferred leaders already"
expect_code 1 "$ctl" topic describe no-such-topic
expect_code 0 "$ctl" topic delete cli-t
[ "$("$ctl" --json topic describe cli-t | json 'd["error"]')" = UNKNOWN_TOPIC ] && ok || bad "deleted"
expect_code 1 "$ctl" topic delete cli-t
# SIGTERM: the simulated brokers shut down in a controlled way (exit 0)
kill -TERM "$simpid"
set +e; wait "$simpid"; rc=$?; set -e
simpid=
rm -f "$SYNOD_CLUSTER_DIR/sim.pid"
[ "$rc" -eq 0 ] && ok || bad "synod-sim exited $rc: $(tail -n 5 "$SYNOD_CLUSTER_DIR/sim.log")"

"$root/deploy/cluster.sh" stop >/dev/null && ok || bad "stop"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
