# cmake/package.cmake - the Debian packages (deploy/build-deb.sh runs
# `cpack -G DEB` in a build configured with CMAKE_INSTALL_PREFIX=/usr).
#
# CPack's DEB generator, not a debian/ directory: the install rules above
# are the one description of what lands where (the same rules
# `cmake --install` and test_deploy use), and CPack turns their components
# into packages; dpkg-shlibdeps (CPACK_DEBIAN_PACKAGE_SHLIBDEPS) computes
# the shared-library dependencies from the binaries themselves, as
# debhelper would. The maintainer scripts are deploy/debian/.
#
#   synod         the daemon, its unit (disabled), /etc/synod/synod.conf
#                 (conffile), docs, man page; creates the synod user
#   synod-tools   synodctl, synod-sim, synod-bench
#   libsynod-dev  the client, broker and consumer library (static), its
#                 headers and pkg-config file
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME synod)
set(CPACK_PACKAGE_VENDOR "Synod")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Synod developers <synod@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "raft-replicated metadata controller for Kafka-style event streaming")
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon tools dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "file:///usr/share/doc/synod/README.md")
# Components may depend on each other's packages at the same version.
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME synod)
set(CPACK_DEBIAN_DAEMON_DESCRIPTION
  "Synod controller node (raft-replicated streaming metadata)\nA quorum of 3 or 5 synod nodes replicates a streaming platform's\nmetadata (brokers, topics, partitions, configs, consumer groups)\nthrough raft. The unit is installed disabled: set /etc/synod/synod.conf\nand enable it (docs/operations.md).")
# libraft from the backports suite: 0.15 in bookworm's main suite has
# safety bugs (dpkg-shlibdeps would accept it).
# procps: /bin/kill of the unit's ExecReload.
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "libraft0 (>= 0.22), adduser, procps")
set(CPACK_DEBIAN_DAEMON_PACKAGE_RECOMMENDS "synod-tools")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
  "${CMAKE_SOURCE_DIR}/deploy/debian/postinst;${CMAKE_SOURCE_DIR}/deploy/debian/prerm;${CMAKE_SOURCE_DIR}/deploy/debian/postrm;${CMAKE_SOURCE_DIR}/deploy/debian/conffiles")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME synod-tools)
set(CPACK_DEBIAN_TOOLS_DESCRIPTION
  "Synod operator and test tools\nsynodctl (the command line of a Synod quorum), synod-sim (simulated\nbrokers and consumers) and synod-bench (benchmarks).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libsynod-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "Synod client, broker and consumer library (development)\nThe static library brokers and consumers link to talk to a Synod\nquorum, its headers (synod/client.h, broker.h, group.h) and pkg-config\nfile (synod.pc).")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libuv1-dev, libprotobuf-c-dev, libssl-dev, pkg-config")

include(CPack)
