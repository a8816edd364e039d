#!/usr/bin/env bash
# tests/integration/test_deploy.sh SRC_DIR BUILD_DIR - what deploy/ ships:
# the Prometheus alert rules pass `promtool check rules` and their unit
# tests (synod-rules.test.yml), the example scrape config `promtool check
# config`; the systemd unit passes `systemd-analyze verify` (with
# ExecStart pointed at this build's binary) and asks for readiness
# notifications, which the daemon sends (controller/main.c, sd_notify).
set -euo pipefail
src="$1"
build="$2"
dir="$src/deploy/prometheus"
command -v promtool >/dev/null || { echo "promtool missing (deploy/install-deps.sh installs prometheus)"; exit 1; }
promtool check rules "$dir/synod-rules.yml"
promtool test rules "$dir/synod-rules.test.yml"
promtool check config "$dir/prometheus.yml"

command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing (deploy/install-deps.sh installs systemd)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/synod|$build/synod|" "$src/deploy/synod.service" > "$tmp/synod.service"
out="$(systemd-analyze verify "$tmp/synod.service" 2>&1 || true)"
if [ -n "$out" ]; then
  echo "systemd-analyze verify: $out"
  exit 1
fi
grep -q '^Type=notify$' "$src/deploy/synod.service"
echo "deploy: rules, scrape config and unit are valid"
