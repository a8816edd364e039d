#!/usr/bin/env bash
# Install dependencies, build, and run every test: unit, raft_fixture and
# multi-process integration tests (ctest), then the unit and integration
# tests again with ASan+UBSan builds of the tests and the daemon, then a
# clang-format check. The include-dependency check (tools/check-deps.py)
# runs first: it needs no build. Exit status 0 only if all pass.
#   SYNOD_SKIP_DEPS=1   do not run deploy/install-deps.sh
#   SYNOD_SKIP_ASAN=1   skip the sanitizer build
#   SYNOD_SKIP_FUZZ=1   skip the short libFuzzer pass (tests/fuzz/run.sh)
#   SYNOD_SKIP_CHAOS=1  skip the short chaos pass (tests/chaos/run; it
#                       skips itself when not root)
# Long fuzz and chaos runs are separate commands: docs/fuzzing.md,
# docs/reliability.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${SYNOD_SKIP_DEPS:-0}" != 1 ]; then
  bash deploy/install-deps.sh
fi

jobs="$(nproc 2>/dev/null || echo 2)"

echo "== include dependencies (tools/check-deps.py)"
python3 tools/check-deps.py

echo "== build (warnings are errors)"
cmake -S . -B build -DSYNOD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

echo "== tests"
(cd build && ctest --output-on-failure --timeout 600)

if [ "${SYNOD_SKIP_ASAN:-0}" != 1 ]; then
  echo "== unit and integration tests under ASan + UBSan (daemons too)"
  cmake -S . -B build-asan -DSYNOD_SANITIZE=ON -DSYNOD_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan -j"$jobs" --target synod synodctl test_store test_fixture test_lifecycle test_topics_store \
    test_codec test_placement test_election test_quorum test_limits test_brokers test_broker_view test_broker_meta test_topics test_broker_sync test_scale \
    test_transitions test_workgate test_fakectl test_accept_nomem test_groups_store test_reconcile test_assignor test_raftio test_raftio_uv test_tls test_acl test_principal test_http test_http_api test_store_query test_json_answers test_kafka_codec test_log \
    test_group_lib test_groups test_broker_lib test_groups_sim synod-sim synod-bench test_logcheck synod_faultio
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS="suppressions=$PWD/../tests/lsan.supp" \
    ctest -L 'unit|integration' --output-on-failure --timeout 600)
fi

if [ "${SYNOD_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzzing: kept crashers, then 8 s on every target (tests/fuzz/run.sh)"
  SYNOD_JOBS="$jobs" bash tests/fuzz/run.sh 8
fi

if [ "${SYNOD_SKIP_CHAOS:-0}" != 1 ]; then
  # Two seeds of one minute: the daemon's own snapshot settings on
  # tmpfs data dirs with the IO faults (--io-faults: seed 187 has a start
  # refused on an unreadable log, two failing log writes and a torn one on
  # the leader), and the harness's low snapshot threshold (snapshot
  # installs under faults; controller/raftio.c keeps libraft's
  # takeSnapshotCb crash away, docs/reliability.md 5.2 and 5.7) on loop
  # devices, with slow-disk faults (a machine without loop devices runs
  # it on plain directories and says so).
  for run in "187|tmpfs|--io-faults|" "16|loop||--snapshot-threshold 64 --snapshot-trailing 32"; do
    seed=${run%%|*}
    rest=${run#*|}
    disk=${rest%%|*}
    rest=${rest#*|}
    more=${rest%%|*}
    flags=${rest#*|}
    echo "== chaos: seed $seed, one minute of faults, $disk disks (tests/chaos/run)"
    set +e
    tests/chaos/run --seed "$seed" --minutes 1 --disk-kind "$disk" $more \
      --synod-flags "$flags" \
      --out "build/chaos/ci-seed$seed" | tail -n 25
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" -eq 77 ]; then
      echo "chaos: skipped (needs root and network namespaces)"
      break
    elif [ "$rc" -ne 0 ]; then
      echo "chaos: violations or harness failure (build/chaos/ci-seed$seed)"
      exit 1
    fi
  done
fi

echo "== clang-format"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
if command -v clang-format >/dev/null; then
  # shellcheck disable=SC2086
  clang-format --dry-run -Werror $files
  echo "formatted"
fi
echo "== all tests passed"
