# tests/ports.sh - sourced by the shell tests and deploy/rolling-upgrade.sh
# (bash). synod_reserve_ports exports SYNOD_BASE_PORT: a slot of
# tests/local_cluster.py's (ports base + 1 .. base + 499, every one free
# now) whose lock this shell holds on a descriptor it leaves open. The
# daemons it starts inherit the descriptor, so the slot stays reserved
# while any of them lives, and no other test, of this ctest run or
# another, is given it. Returns 1 when no slot is free.
synod_reserve_ports() {
	local here n first i s fd base lock
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	n=$(python3 "$here/local_cluster.py" slots) || return 1
	first=$((RANDOM % n))
	for ((i = 0; i < n; i++)); do
		s=$(((first + i) % n))
		lock=$(python3 "$here/local_cluster.py" lock "$s") || return 1
		exec {fd}>>"$lock"
		if flock -n "$fd" && base=$(python3 "$here/local_cluster.py" slot "$s"); then
			export SYNOD_BASE_PORT=$base
			return 0
		fi
		exec {fd}>&-
	done
	echo "no free slot of ports for a local quorum (tests/local_cluster.py)" >&2
	return 1
}
