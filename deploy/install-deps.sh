#!/usr/bin/env bash
# Installs every build and test dependency of Synod from Debian packages.
# Idempotent; runs as root or through sudo. libraft comes from the backports
# suite of the Debian mirror this machine already uses (the 0.15 in the main
# suite of Debian 12 has known raft safety bugs and must never be used).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: must run as root (or have sudo)" >&2; exit 1
  fi
fi

. /etc/os-release
codename="${VERSION_CODENAME:-bookworm}"

# Find the URI of the main Debian archive already configured (not the security one).
find_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas: pick a URIs line whose stanza lists the plain codename suite.
    awk -v c="$codename" '
      /^[[:space:]]*$/ { if (u != "" && s ~ ("(^| )" c "( |$)")) { print u; exit } u=""; s=""; next }
      /^URIs:/ { u=$2 }
      /^Suites:/ { $1=""; s=$0 " " }
      END { if (u != "" && s ~ ("(^| )" c "( |$)")) print u }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v c="$codename" '$1=="deb" { for (i=2;i<=NF;i++) if ($i !~ /^\[/) { if ($(i+1)==c) print $i; break } }' "$f"
  done
}

mirror="$(find_mirror | grep -v -- '-security' | head -n 1 || true)"
if [ -z "$mirror" ]; then
  echo "install-deps: could not find the Debian mirror for $codename in apt sources" >&2
  exit 1
fi

bp_list=/etc/apt/sources.list.d/synod-backports.list
bp_line="deb $mirror ${codename}-backports main"
if ! grep -rqs -- "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "install-deps: enabling ${codename}-backports from $mirror"
  echo "$bp_line" | $SUDO tee "$bp_list" >/dev/null
  need_update=1
fi

stamp=/var/lib/apt/periodic/synod-update-stamp
if [ -n "${need_update:-}" ] || [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
  # Other configured repositories may be unreachable; that must not stop us.
  $SUDO apt-get update -q || echo "install-deps: apt-get update reported errors (continuing)" >&2
  $SUDO mkdir -p "$(dirname "$stamp")" && $SUDO touch "$stamp"
fi

pkgs=(build-essential cmake pkg-config git clang-format
      libuv1-dev libsqlite3-dev libcmocka-dev libprotobuf-c-dev protobuf-c-compiler
      libjansson-dev libssl-dev openssl libhttp-parser-dev libinih-dev liblz4-dev sqlite3 procps python3
      iproute2 nftables e2fsprogs clang libclang-rt-14-dev prometheus curl
      chromium systemd kcat python3-kafka python3-confluent-kafka
      dpkg-dev fakeroot help2man debootstrap)
# Node.js for the dashboard's browser test (tests/dashboard): the machine's
# own when it has one, else Debian's.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
  pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

ver="$(pkg-config --modversion raft 2>/dev/null || echo 0)"
if ! dpkg --compare-versions "$ver" ge 0.22; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    -t "${codename}-backports" libraft-dev
  ver="$(pkg-config --modversion raft)"
fi
if ! dpkg --compare-versions "$ver" ge 0.22; then
  echo "install-deps: libraft $ver is too old (need >= 0.22 from ${codename}-backports)" >&2
  exit 1
fi
# playwright-core for tests/dashboard, pinned by its package-lock.json (it
# drives Debian's chromium; no browser is downloaded).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dash="$here/../tests/dashboard"
if [ -f "$dash/package-lock.json" ] && [ ! -d "$dash/node_modules/playwright-core" ]; then
  (cd "$dash" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: ok (libraft $ver, libuv $(pkg-config --modversion libuv), sqlite $(pkg-config --modversion sqlite3))"
