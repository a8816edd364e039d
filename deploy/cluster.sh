#!/usr/bin/env bash
# Run a local Synod quorum on loopback for development and tests.
#
#   deploy/cluster.sh start [N] [--tls]
#                                   start N nodes (default 3; 1-7); --tls:
#                                   TLS with client certificates on the
#                                   client port (certificates made by
#                                   deploy/gen-certs.sh in DIR/certs)
#   deploy/cluster.sh stop          SIGTERM every node, wait for them
#   deploy/cluster.sh status        pids and `synodctl quorum status`
#   deploy/cluster.sh kill ID       kill -9 node ID
#   deploy/cluster.sh restart ID    start node ID again (same data)
#   deploy/cluster.sh bootstrap     print the bootstrap string
#
# State lives under $SYNOD_CLUSTER_DIR (default ./.cluster): one directory
# per node (data), node-ID.pid, node-ID.log and cluster.env. Ports: raft
# 127.0.0.1:$((BASE+ID)), clients 127.0.0.1:$((BASE+100+ID)), HTTP
# (/healthz /readyz /metrics) 127.0.0.1:$((BASE+200+ID)), Kafka protocol
# 127.0.0.1:$((BASE+300+ID)), BASE from
# $SYNOD_BASE_PORT (default 17000). Extra daemon flags: $SYNOD_FLAGS.
# With --tls, start prints export lines for an admin identity
# (SYNOD_CA, SYNOD_CERT, SYNOD_KEY) that synodctl and the tools read.
# Binaries come from $SYNOD_BUILD_DIR (default ./build).
# With $SYNOD_STOP_WITH set to a pid, start and restart leave one watcher
# that, once that process has gone, stops the nodes and kills every
# process named by another *.pid file in the directory that runs a
# program of $SYNOD_BUILD_DIR (a test's synod-sim). Tests set their own
# pid: ctest ends a test at its timeout with SIGKILL, and then no cleanup
# trap of theirs runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
dir="${SYNOD_CLUSTER_DIR:-./.cluster}"
bin="${SYNOD_BUILD_DIR:-$root/build}"
base="${SYNOD_BASE_PORT:-17000}"

die() { echo "cluster.sh: $*" >&2; exit 1; }

load_env() {
  [ -f "$dir/cluster.env" ] || die "no cluster in $dir (run: $0 start)"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
}

bootstrap_string() {
  local s="" i
  for i in $(seq 1 "$N"); do s="${s:+$s,}127.0.0.1:$((base + 100 + i))"; done
  echo "$s"
}

tls_flags() {
  [ "${TLS:-0}" = 1 ] || return 0
  echo "--tls-cert-file $dir/certs/node-$1.pem --tls-key-file $dir/certs/node-$1.key --tls-ca-file $dir/certs/ca.pem --super-users admin"
}

# The Kafka port has no TLS yet (docs/kafka.md): plaintext clusters only.
kafka_flags() {
  [ "${TLS:-0}" = 1 ] && return 0
  echo "--kafka-address 127.0.0.1:$((base + 300 + $1))"
}

tls_env() {
  [ "${TLS:-0}" = 1 ] || return 0
  export SYNOD_CA="$dir/certs/ca.pem" SYNOD_CERT="$dir/certs/admin.pem" SYNOD_KEY="$dir/certs/admin.key"
}

alive() { [ -f "$dir/node-$1.pid" ] && kill -0 "$(cat "$dir/node-$1.pid")" 2>/dev/null; }

start_node() {
  local id=$1
  alive "$id" && { echo "node $id already running (pid $(cat "$dir/node-$id.pid"))"; return 0; }
  mkdir -p "$dir/node-$id"
  # shellcheck disable=SC2086
  nohup "$bin/synod" --node-id "$id" --cluster-id "$CLUSTER_ID" \
    --raft-address "127.0.0.1:$((base + id))" \
    --client-address "127.0.0.1:$((base + 100 + id))" \
    --http-address "127.0.0.1:$((base + 200 + id))" \
    --data-dir "$dir/node-$id" --voters "$VOTERS" $(tls_flags "$id") $(kafka_flags "$id") ${SYNOD_FLAGS:-} \
    >>"$dir/node-$id.log" 2>&1 </dev/null &
  echo $! >"$dir/node-$id.pid"
  echo "node $id started (pid $!, clients 127.0.0.1:$((base + 100 + id)), http 127.0.0.1:$((base + 200 + id)), kafka 127.0.0.1:$((base + 300 + id)))"
}

stop_with() {
  local pid="${SYNOD_STOP_WITH:-}"
  [ -n "$pid" ] || return 0
  [ -f "$dir/watcher.pid" ] && kill -0 "$(cat "$dir/watcher.pid")" 2>/dev/null && return 0
  (
    set +e
    while kill -0 "$pid" 2>/dev/null; do sleep 1; done
    [ -f "$dir/cluster.env" ] || exit 0
    SYNOD_STOP_WITH= "$here/cluster.sh" stop
    # Only a process still running one of $bin's programs (not another
    # that has its pid since; a test removes the file of a process it
    # ended itself).
    b="$(cd "$bin" 2>/dev/null && pwd -P)" && [ -n "$b" ] || exit 0
    for f in "$dir"/*.pid; do
      case "$f" in */node-*.pid | */watcher.pid) continue ;; esac
      p="$(cat "$f")"
      case "$(readlink "/proc/$p/exe")" in "$b"/*) kill -KILL "$p" ;; esac
      rm -f "$f"
    done
    rm -f "$dir/watcher.pid"
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watcher.pid"
}

cmd="${1:-}"
case "$cmd" in
  start)
    want_tls=0
    args=()
    for a in "${@:2}"; do
      if [ "$a" = --tls ]; then want_tls=1; else args+=("$a"); fi
    done
    set -- start "${args[@]}"
    N="${2:-3}"
    [[ "$N" =~ ^[1-7]$ ]] || die "start: N must be 1..7"
    [ -x "$bin/synod" ] || die "no $bin/synod: build first (cmake -S . -B build && cmake --build build)"
    mkdir -p "$dir"
    if [ -f "$dir/cluster.env" ]; then
      want="$N"
      load_env
      if [ -n "${2:-}" ] && [ "$want" != "$N" ]; then
        die "start: $dir holds a $N-node cluster, not $want (stop it and remove $dir for a new one)"
      fi
    else
      CLUSTER_ID="$("$bin/synod" --new-cluster-id)"
      VOTERS=""
      for i in $(seq 1 "$N"); do
        VOTERS="${VOTERS:+$VOTERS,}$i@127.0.0.1:$((base + i))/127.0.0.1:$((base + 100 + i))"
      done
      TLS=$want_tls
      if [ "$TLS" = 1 ]; then
        "$here/gen-certs.sh" "$dir/certs" "$N" 3 >/dev/null || die "gen-certs.sh failed"
      fi
      printf 'N=%s\nCLUSTER_ID=%s\nVOTERS=%s\nbase=%s\nTLS=%s\n' "$N" "$CLUSTER_ID" "$VOTERS" "$base" "$TLS" >"$dir/cluster.env"
    fi
    [ "$want_tls" = 1 ] && [ "${TLS:-0}" != 1 ] && die "start: $dir holds a plaintext cluster (stop it and remove $dir for a TLS one)"
    for i in $(seq 1 "$N"); do start_node "$i"; done
    stop_with
    echo "cluster $CLUSTER_ID"
    echo "export SYNOD_BOOTSTRAP=$(bootstrap_string)"
    if [ "${TLS:-0}" = 1 ]; then
      echo "export SYNOD_CA=$(cd "$dir/certs" && pwd)/ca.pem"
      echo "export SYNOD_CERT=$(cd "$dir/certs" && pwd)/admin.pem"
      echo "export SYNOD_KEY=$(cd "$dir/certs" && pwd)/admin.key"
    fi
    ;;
  stop)
    load_env
    for f in "$dir"/node-*.pid; do
      [ -f "$f" ] || continue
      pid="$(cat "$f")"
      kill -TERM "$pid" 2>/dev/null || true
    done
    for f in "$dir"/node-*.pid; do
      [ -f "$f" ] || continue
      pid="$(cat "$f")"
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { echo "pid $pid did not stop; killing"; kill -KILL "$pid" 2>/dev/null || true; }
      rm -f "$f"
    done
    echo "stopped"
    ;;
  status)
    load_env
    for i in $(seq 1 "$N"); do
      if alive "$i"; then echo "node $i: running (pid $(cat "$dir/node-$i.pid"))"; else echo "node $i: down"; fi
    done
    tls_env
    SYNOD_BOOTSTRAP="$(bootstrap_string)" "$bin/synodctl" quorum status || true
    ;;
  kill)
    load_env
    id="${2:?kill ID}"
    alive "$id" || die "node $id is not running"
    kill -KILL "$(cat "$dir/node-$id.pid")"
    rm -f "$dir/node-$id.pid"
    echo "node $id killed"
    ;;
  restart)
    load_env
    id="${2:?restart ID}"
    if alive "$id"; then
      pid="$(cat "$dir/node-$id.pid")"; kill -TERM "$pid"
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    start_node "$id"
    stop_with
    ;;
  bootstrap)
    load_env
    bootstrap_string
    ;;
  *)
    sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$cmd" ] || exit 2
    ;;
esac
