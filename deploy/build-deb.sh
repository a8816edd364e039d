#!/bin/sh
# deploy/build-deb.sh [BUILD_DIR] - the Debian packages of this tree
# (cmake/package.cmake: synod, synod-tools, libsynod-dev), built with
# CPack's DEB generator in BUILD_DIR (default build-deb), installed to /usr.
# Prints the .deb files (the build's output goes to stderr). Needs what deploy/install-deps.sh installs
# (dpkg-dev for dpkg-shlibdeps, help2man for the man pages).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-deb}
command -v dpkg-shlibdeps >/dev/null || {
	echo "build-deb: dpkg-shlibdeps missing (dpkg-dev; deploy/install-deps.sh)" >&2
	exit 1
}
command -v help2man >/dev/null || {
	echo "build-deb: help2man missing (deploy/install-deps.sh)" >&2
	exit 1
}
# Only what the packages hold is built (not the tests):
# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY keeps cpack from building `all`.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_INSTALL_PREFIX=/usr -DSYNOD_WERROR=ON \
	-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$build" -j"${SYNOD_JOBS:-$(nproc)}" \
	--target synod synodctl synod-sim synod-bench synod_net man >&2
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB >/dev/null)
for deb in "$build"/*.deb; do
	echo "$deb"
done
