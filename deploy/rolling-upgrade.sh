#!/usr/bin/env bash
# deploy/rolling-upgrade.sh [OLD_REV] - a rolling upgrade from OLD_REV's
# build (default HEAD~1, the previous commit) to this tree's
# (docs/operations.md "Rolling restart and upgrade"):
#
# - a 3-node quorum (deploy/cluster.sh) starts from OLD_REV's daemon,
#   built here in a scratch checkout, and takes writes;
# - each node in turn, the active controller last, is stopped and started
#   again from this tree's build ($SYNOD_BUILD_DIR, default build/) on its
#   own data, and must be a voter again, caught up, before the next;
# - meanwhile a writer sets a config key once every 50 ms through this
#   tree's synodctl, retrying each write for up to 10 s: every write must
#   be acknowledged (the quorum serves throughout; a retry only covers an
#   election), and every value written before the upgrade must read back
#   after it, from every node.
#
# Prints the writes made, the longest a write took (the election gap) and
# PASS, or why not. Separate from the CI run: it builds OLD_REV (a few
# minutes). A record or store change that an older build cannot apply
# shows here as an old node that stops (exit 1, "a log entry this build
# cannot apply") while others run the new build.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
old_rev=${1:-HEAD~1}
new=${SYNOD_BUILD_DIR:-$src/build}
work=$(mktemp -d /tmp/synod-upgrade.XXXXXX)
writer=""
keep=0

cleanup() {
	[ -n "$writer" ] && kill "$writer" 2>/dev/null || true
	SYNOD_CLUSTER_DIR="$work/cluster" "$src/deploy/cluster.sh" stop \
		>/dev/null 2>&1 || true
	if [ "$keep" = 1 ]; then
		echo "rolling-upgrade: logs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
fail() { echo "rolling-upgrade: FAIL: $*"; keep=1; exit 1; }

[ -x "$new/synod" ] && [ -x "$new/synodctl" ] ||
	fail "no build in $new (cmake --build build)"
rev=$(git -C "$src" rev-parse --short "$old_rev")
echo "== the old build: $old_rev ($rev), in $work/old"
git -C "$src" archive "$rev" | tar -x -C "$work" --one-top-level=old
cmake -S "$work/old" -B "$work/old/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	>/dev/null
cmake --build "$work/old/build" -j"${SYNOD_JOBS:-$(nproc)}" \
	--target synod synodctl >/dev/null
echo "old: $("$work/old/build/synod" --version)"
echo "new: $("$new/synod" --version) ($(git -C "$src" rev-parse --short HEAD)$(git -C "$src" diff --quiet || echo +changes))"

# A slot of ports of its own, every one free (tests/ports.sh).
source "$src/tests/ports.sh"
synod_reserve_ports || fail "no free ports"
base=$SYNOD_BASE_PORT
export SYNOD_CLUSTER_DIR="$work/cluster"
export SYNOD_FLAGS="--election-timeout-ms 300 --heartbeat-timeout-ms 50"
cluster() { "$src/deploy/cluster.sh" "$@"; }
SYNOD_BUILD_DIR="$work/old/build" cluster start 3 >/dev/null
boot=$(cluster bootstrap)
ctl() { "$new/synodctl" -b "$boot" --timeout-ms 2000 "$@"; }

# Writes before the upgrade.
for i in $(seq 1 20); do
	for _ in $(seq 1 50); do
		ctl config set "retention.ms=$((86400000 + i))" >/dev/null 2>&1 &&
			break
		sleep 0.2
	done
done
before=$(ctl config get retention.ms)
[ "$before" = 86400020 ] || fail "writes before the upgrade: last value $before"

# The writer: num.partitions = 1, 2, 3, ... each write retried up to 10 s.
cat >"$work/writer.sh" <<EOF
#!/usr/bin/env bash
n=0
while :; do
	n=\$((n + 1))
	t0=\$(date +%s%N)
	ok=0
	while [ \$(( (\$(date +%s%N) - t0) / 1000000 )) -lt 10000 ]; do
		if "$new/synodctl" -b "$boot" --timeout-ms 1000 config set \
			num.partitions=\$n >/dev/null 2>&1; then ok=1; break; fi
		sleep 0.05
	done
	echo "\$n \$ok \$(( (\$(date +%s%N) - t0) / 1000000 ))" >>"$work/writes"
	[ \$ok = 1 ] || exit 1
	sleep 0.05
done
EOF
chmod +x "$work/writer.sh"
"$work/writer.sh" &
writer=$!

caught_up() { # node id
	ctl --json quorum status 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
n = [x for x in s["nodes"] if x["id"] == int(sys.argv[1])]
sys.exit(0 if n and n[0].get("voter") and n[0].get("reachable") and
         n[0].get("lag", 1) == 0 and s.get("leader_id") else 1)' "$1"
}
leader=$(ctl --json quorum status | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
order=""
for i in 1 2 3; do [ "$i" = "$leader" ] || order="$order $i"; done
order="$order $leader"
echo "== replacing nodes one at a time:$order (node $leader leads: last)"
sleep 1
for i in $order; do
	SYNOD_BUILD_DIR="$new" cluster restart "$i" >/dev/null
	ok=0
	for _ in $(seq 1 150); do
		if caught_up "$i"; then ok=1; break; fi
		kill -0 "$writer" 2>/dev/null || fail "a write was not acknowledged within 10 s (see $work/writes)"
		sleep 0.2
	done
	[ "$ok" = 1 ] || fail "node $i did not rejoin on the new build"
	echo "node $i: new build, a voter, caught up ($(wc -l <"$work/writes") writes so far)"
	sleep 1
done
sleep 1
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
writer=""
n=$(wc -l <"$work/writes")
bad=$(awk '$2 != 1' "$work/writes" | wc -l)
worst=$(awk 'BEGIN {m = 0} $3 > m {m = $3} END {print m}' "$work/writes")
[ "$bad" = 0 ] || fail "$bad writes not acknowledged"
[ "$n" -gt 20 ] || fail "only $n writes"
last=$(awk 'END {print $1}' "$work/writes")
for i in 1 2 3; do
	v=$("$new/synodctl" -b "127.0.0.1:$((base + 100 + i))" --timeout-ms 3000 \
		config get retention.ms)
	[ "$v" = 86400020 ] || fail "node $i reads $v for a value written before the upgrade"
done
v=$(ctl config get num.partitions)
[ "$v" -ge "$((last - 1))" ] || fail "num.partitions reads $v after write $last"
for i in 1 2 3; do
	if grep -q "cannot apply" "$work/cluster/node-$i.log"; then
		fail "node $i: $(grep -m1 "cannot apply" "$work/cluster/node-$i.log")"
	fi
done
echo "rolling-upgrade: $n writes acknowledged during the upgrade, the longest in $worst ms; values written before it read back from every node"
echo "rolling-upgrade: PASS ($rev -> $(git -C "$src" rev-parse --short HEAD))"
