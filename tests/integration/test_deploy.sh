#!/usr/bin/env bash
# tests/integration/test_deploy.sh SRC_DIR BUILD_DIR - what deploy/ and
# `cmake --install` ship:
# - the Prometheus alert rules pass `promtool check rules` and their unit
#   tests (synod-rules.test.yml), the example scrape config `promtool
#   check config`;
# - `cmake --install` into a temporary prefix lands every file a node, an
#   operator and a broker's build need (listed), a program builds against
#   the installed library through its pkg-config file and runs, and the
#   installed systemd unit (ExecStart at the installed daemon) passes
#   `systemd-analyze verify` and asks for readiness notifications.
set -euo pipefail
src="$1"
build="$2"
dir="$src/deploy/prometheus"
command -v promtool >/dev/null || { echo "promtool missing (deploy/install-deps.sh installs prometheus)"; exit 1; }
promtool check rules "$dir/synod-rules.yml"
promtool test rules "$dir/synod-rules.test.yml"
promtool check config "$dir/prometheus.yml"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
missing=0
for f in bin/synod bin/synodctl bin/synod-sim bin/synod-bench \
         include/synod/client.h include/synod/broker.h include/synod/group.h \
         include/synod/synod.pb-c.h lib/libsynod.a lib/pkgconfig/synod.pc \
         lib/systemd/system/synod.service etc/synod/synod.conf \
         share/doc/synod/README.md share/doc/synod/operations.md \
         share/doc/synod/synod.conf.example share/doc/synod/prometheus/synod-rules.yml; do
  if [ ! -e "$prefix/$f" ]; then
    echo "install: $f missing"
    missing=1
  fi
done
# The man pages, when the build made them (help2man; the `man` target).
if [ -f "$build/man/synod.1" ]; then
  for f in share/man/man1/synod.1 share/man/man1/synodctl.1; do
    [ -e "$prefix/$f" ] || { echo "install: $f missing"; missing=1; }
  done
fi
[ "$missing" = 0 ]
echo "install: $(find "$prefix" -type f | wc -l) files under the prefix"

cat > "$tmp/use.c" <<'C'
#include <stdio.h>
#include <synod/broker.h>
#include <synod/client.h>
int main(void)
{
	struct synod_client_config cfg = {0};
	struct synod_client *c;
	uv_loop_t loop;
	uv_loop_init(&loop);
	cfg.bootstrap = "127.0.0.1:1";
	if (synod_client_new(&loop, &cfg, &c) != SYNOD_OK)
		return 1;
	synod_client_close(c);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	printf("%s\n", synod_error_name(SYNOD_ENOT_CONTROLLER));
	return 0;
}
C
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
san=""
if grep -q '^SYNOD_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  san="-fsanitize=address,undefined" # the library was built with them
fi
# shellcheck disable=SC2046
cc -Wall -Werror $san -o "$tmp/use" "$tmp/use.c" $(pkg-config --cflags --libs synod)
[ "$("$tmp/use")" = NOT_CONTROLLER ]
echo "install: a program builds and runs against the installed library"

command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing (deploy/install-deps.sh installs systemd)"; exit 1; }
unit="$prefix/lib/systemd/system/synod.service"
grep -q "^ExecStart=$prefix/bin/synod " "$unit"
grep -q '^Type=notify$' "$unit"
out="$(systemd-analyze verify "$unit" 2>&1 || true)"
if [ -n "$out" ]; then
  echo "systemd-analyze verify: $out"
  exit 1
fi
echo "deploy: rules, scrape config, install tree and unit are valid"
