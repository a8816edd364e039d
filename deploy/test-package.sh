#!/bin/sh
# deploy/test-package.sh [ROOT_DIR] - install the Debian packages of this
# tree (deploy/build-deb.sh) into a fresh Debian 12 root made here with
# debootstrap, and check them as an operator would (docs/operations.md
# "Installing"):
#
# - apt installs synod, synod-tools and libsynod-dev with their declared
#   dependencies (libraft0 from bookworm-backports, the rest from main);
# - the synod user and group exist, /etc/synod/synod.conf is a conffile
#   readable by the group only, the unit is installed and not enabled;
# - `systemd-analyze verify` passes on the installed unit;
# - three nodes started from the installed binary with installed-style
#   config files (copies of /etc/synod/synod.conf with the SET ME keys set,
#   loopback ports, a data dir each, TLS with deploy/gen-certs.sh's
#   certificates) form a quorum: the installed synodctl
#   sees a leader and three voters, and a config written through one node
#   is read back through another;
# - a library program builds against the installed libsynod-dev
#   (pkg-config) and runs.
#
# Needs root, network access to deb.debian.org and a few minutes (too slow
# for every CI run; test_deploy checks the install tree there). Cleans up
# on every exit path; ROOT_DIR (default a temporary directory) is removed.
# SYNOD_KEEP_ROOT=1 keeps it.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "test-package: needs root (debootstrap, chroot)"; exit 1; }
command -v debootstrap >/dev/null || { echo "test-package: debootstrap missing (deploy/install-deps.sh)"; exit 1; }
mirror=${SYNOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=${1:-$(mktemp -d /tmp/synod-root.XXXXXX)}
build=${SYNOD_DEB_BUILD_DIR:-$src/build-deb}
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for m in proc sys dev/pts dev; do
		umount -l "$root/$m" 2>/dev/null || true
	done
	if [ "${SYNOD_KEEP_ROOT:-0}" != 1 ]; then
		rm -rf "$root"
	else
		echo "test-package: root kept in $root"
	fi
}
trap cleanup EXIT INT TERM

step() { echo "== $*"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

step "packages (deploy/build-deb.sh)"
debs=$("$src/deploy/build-deb.sh" "$build" 2>/dev/null)
echo "$debs"

step "a fresh Debian 12 root (debootstrap --variant=minbase bookworm)"
chmod 0755 "$root" # mktemp's 0700 would lock the synod user out of /
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
	tail -20 "$root.debootstrap.log"; exit 1; }
rm -f "$root.debootstrap.log"
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $mirror bookworm-backports main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/tmp/debs"
for d in $debs; do cp "$d" "$root/tmp/debs/"; done

step "apt installs the packages and their dependencies"
in_root apt-get -o APT::Sandbox::User=root update -q >/dev/null
# libraft0 >= 0.22 is only in backports: apt takes it from there when
# asked; the rest resolves from main.
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root install -y -q -t bookworm-backports libraft0 >/dev/null'
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root install -y -q /tmp/debs/*.deb systemd build-essential pkg-config >/dev/null'
in_root dpkg -s synod synod-tools libsynod-dev | grep -E '^(Package|Status|Version):'

step "user, conffile, unit"
in_root getent passwd synod >/dev/null || { echo "no synod user"; exit 1; }
in_root getent group synod >/dev/null || { echo "no synod group"; exit 1; }
grep -qx /etc/synod/synod.conf "$root/var/lib/dpkg/info/synod.conffiles"
[ "$(in_root stat -c '%U:%G %a' /etc/synod/synod.conf)" = "root:synod 640" ]
[ "$(in_root stat -c '%U:%G %a' /var/lib/synod)" = "synod:synod 700" ]
unit=/usr/lib/systemd/system/synod.service
[ -f "$root$unit" ]
grep -q '^ExecStart=/usr/bin/synod --config /etc/synod/synod.conf$' "$root$unit"
if [ -e "$root/etc/systemd/system/multi-user.target.wants/synod.service" ]; then
	echo "the unit is enabled by the package"; exit 1
fi
in_root man -w synod >/dev/null 2>&1 || [ -f "$root/usr/share/man/man1/synod.1.gz" ] || [ -f "$root/usr/share/man/man1/synod.1" ]
out=$(in_root systemd-analyze verify "$unit" 2>&1 || true)
if [ -n "$out" ]; then
	echo "systemd-analyze verify: $out"; exit 1
fi
echo "ok: synod user and group, conffile root:synod 0640, state dir, unit verified and disabled"

step "a node refuses the package's config until it is set"
if in_root /usr/bin/synod --config /etc/synod/synod.conf >"$root/tmp/refuse.log" 2>&1; then
	echo "the unedited config started a node"; exit 1
fi
head -3 "$root/tmp/refuse.log"

step "three nodes from the installed binary and installed-style configs"
base=$((20000 + $$ % 20000))
voters=""
for i in 1 2 3; do
	voters="$voters${voters:+,}$i@127.0.0.1:$((base + i))/127.0.0.1:$((base + 100 + i))"
done
cid=$(in_root /usr/bin/synod --new-cluster-id)
# TLS as the package's config asks (deploy/gen-certs.sh: a CA, the
# nodes' certificates, an admin identity in super_users).
"$src/deploy/gen-certs.sh" "$root/etc/synod/tls" 3 0 >/dev/null
in_root chown -R synod:synod /etc/synod/tls
for i in 1 2 3; do
	conf="$root/etc/synod/node$i.conf"
	sed -e "s|^# SET ME: node_id = .*|node_id = $i|" \
	    -e "s|^# SET ME: cluster_id = .*|cluster_id = $cid|" \
	    -e "s|^# SET ME: raft_address = .*|raft_address = 127.0.0.1:$((base + i))|" \
	    -e "s|^# SET ME: client_address = .*|client_address = 127.0.0.1:$((base + 100 + i))|" \
	    -e "s|^# SET ME: voters = .*|voters = $voters|" \
	    -e "s|^data_dir = .*|data_dir = /var/lib/synod/node$i|" \
	    -e "s|^tls_cert_file = .*|tls_cert_file = /etc/synod/tls/node-$i.pem|" \
	    -e "s|^tls_key_file = .*|tls_key_file = /etc/synod/tls/node-$i.key|" \
	    "$root/etc/synod/synod.conf" >"$conf"
	in_root chown root:synod "/etc/synod/node$i.conf"
	in_root chmod 0640 "/etc/synod/node$i.conf"
	grep -q "^# SET ME:" "$conf" && { echo "node$i.conf: keys left unset"; exit 1; }
	in_root install -d -o synod -g synod -m 0700 "/var/lib/synod/node$i"
	chroot --userspec=synod:synod "$root" /usr/bin/env -i PATH=/usr/bin:/bin \
		/usr/bin/synod --config "/etc/synod/node$i.conf" \
		>"$root/tmp/node$i.log" 2>&1 &
	pids="$pids $!"
done
boot="127.0.0.1:$((base + 101)),127.0.0.1:$((base + 102)),127.0.0.1:$((base + 103))"
ctl() { in_root /usr/bin/synodctl --ca /etc/synod/tls/ca.pem \
	--cert /etc/synod/tls/admin.pem --key /etc/synod/tls/admin.key "$@"; }
ok=0
for _ in $(seq 1 100); do
	if st=$(ctl -b "$boot" --timeout-ms 1000 --json quorum status 2>/dev/null) &&
	   echo "$st" | grep -q '"leader_id": [1-3]' &&
	   [ "$(echo "$st" | grep -c '"voter": true')" = 3 ]; then
		ok=1; break
	fi
	sleep 0.2
done
if [ "$ok" != 1 ]; then
	echo "no quorum of three:"
	for l in "$root"/tmp/node*.log; do echo "-- $l"; tail -n 5 "$l"; done
	exit 1
fi
ctl -b "$boot" quorum status
ctl -b "127.0.0.1:$((base + 101))" config set num.partitions=7 >/dev/null
[ "$(ctl -b "127.0.0.1:$((base + 103))" config get num.partitions)" = 7 ]
echo "ok: three installed nodes (TLS), one leader, a config written and read back"

step "a program against the installed library"
cat >"$root/tmp/use.c" <<'C'
#include <stdio.h>
#include <synod/client.h>
int main(void)
{
	printf("%s\n", synod_error_name(SYNOD_ENOT_CONTROLLER));
	return 0;
}
C
in_root sh -c 'cc -Wall -Werror -o /tmp/use /tmp/use.c $(pkg-config --cflags --libs synod)'
[ "$(in_root /tmp/use)" = NOT_CONTROLLER ]
echo "ok: libsynod-dev builds and links"
echo "test-package: PASS"
