#!/bin/sh
# tests/fuzz/run.sh [SECONDS_PER_TARGET] [BUILD_DIR] [TARGET...]
#
# Builds the libFuzzer targets with clang (-DSYNOD_FUZZ=ON) in their own
# build directory (default build-fuzz), runs every file kept in
# tests/fuzz/crashers/<target>/ through its target (regression check),
# then fuzzes each target in turn for SECONDS_PER_TARGET (default 20),
# one at a time under nice, starting from the seeds in
# tests/fuzz/corpus/<target>/ plus what earlier runs found
# (BUILD_DIR/fuzz-work/corpus/<target>/, not checked in). Prints per
# target the executions and libFuzzer's final coverage (cov: edges, ft:
# features). Exits 1 when a crasher fails again or a target crashes (the
# input is in BUILD_DIR/fuzz-work/artifacts/<target>/; minimize it with
# `BUILD_DIR/fuzz/fuzz_<target> -minimize_crash=1 -runs=10000 FILE` and
# keep it in tests/fuzz/crashers/<target>/ once fixed). See
# docs/fuzzing.md.
set -u

secs=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${2:-$src/build-fuzz}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
targets=${*:-frame request records snapshot config view group kafka segment}
work=$build/fuzz-work

nice -n 10 cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNOD_FUZZ=ON >/dev/null || exit 1
nice -n 10 cmake --build "$build" -j"${SYNOD_JOBS:-1}" --target fuzz_all >/dev/null || {
	echo "fuzz build failed: cmake --build $build --target fuzz_all" >&2
	exit 1
}

failed=0

# Regression: every kept crasher must now pass.
for t in $targets; do
	d=$here/crashers/$t
	[ -d "$d" ] || continue
	for f in "$d"/*; do
		[ -f "$f" ] || continue
		if ! "$build/fuzz/fuzz_$t" "$f" >"$work.log" 2>&1; then
			echo "REGRESSION $t: $f fails again:" >&2
			tail -30 "$work.log" >&2
			failed=1
		fi
	done
done
rm -f "$work.log"
[ "$failed" = 0 ] && echo "crashers: all pass"

printf '%-9s %12s %8s %8s %7s  %s\n' target executions cov ft exec/s result
for t in $targets; do
	mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
	log=$work/$t.log
	nice -n 10 "$build/fuzz/fuzz_$t" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/$t/" \
		"$work/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		head -1)
	final=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED).*cov:' \
		"$log" | tail -1)
	cov=$(echo "$final" | awk '{for (i = 1; i < NF; i++)
		if ($i == "cov:") { print $(i + 1); exit }}')
	ft=$(echo "$final" | awk '{for (i = 1; i < NF; i++)
		if ($i == "ft:") { print $(i + 1); exit }}')
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | head -1)
	if [ "$rc" = 0 ]; then
		res=ok
	else
		res="CRASH (rc $rc): $(ls "$work/artifacts/$t" | head -3 |
			tr '\n' ' ')"
		failed=1
	fi
	printf '%-9s %12s %8s %8s %7s  %s\n' "$t" "${execs:-?}" "${cov:-?}" \
		"${ft:-?}" "${eps:-?}" "$res"
	if [ "$rc" != 0 ]; then
		grep -E 'ERROR|invariant|runtime error|SUMMARY' "$log" |
			head -5 >&2
	fi
done
exit $failed
