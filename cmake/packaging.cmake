# packaging.cmake - release packages with CPack: a relocatable tarball and a Debian package.
#
#   cpack --config BUILD/CPackConfig.cmake -G TGZ   -> emp-worker-<version>-linux-<arch>.tar.gz
#   cpack --config BUILD/CPackConfig.cmake -G DEB   -> emp-worker_<version>-1_<debarch>.deb
#   scripts/make-release BUILD OUTDIR               -> both, plus emp-job-queue-worker.tar.gz
#                                                      and a .sha256 file for each
#   cmake --build BUILD --target release            -> the same into BUILD/release
#
# Tarball layout (one top-level folder; runs in place: bin/emp-worker finds its plugins in
# ../lib/emp-worker/plugins):
#   bin/emp-worker, lib/emp-worker/plugins/*.so, include/emp-worker/*.h, lib/libemp_testkit.a,
#   lib/pkgconfig/emp-plugin.pc, etc/emp-worker/{worker.conf,conf.d/,env.example},
#   lib/systemd/system/{emp-worker@.service,emp-worker.target},
#   share/emp-worker/scripts/{worker,wgpu,setup_redis_workers}, share/doc/emp-worker/*.md
# The .deb installs the same under /usr, with the configuration in /etc/emp-worker (conffiles).
#
# Configuration files are installed by two components, one per generator (absolute /etc for the
# .deb, relative etc/ in the tarball); both are EXCLUDE_FROM_ALL, so a developer's plain
# `cmake --install` never writes to /etc.

set(_emp_src ${CMAKE_CURRENT_SOURCE_DIR})

# ---- files that only packages install (the core's install rules cover the rest) ----
install(FILES dist/systemd/emp-worker@.service dist/systemd/emp-worker.target
        DESTINATION lib/systemd/system)
install(PROGRAMS scripts/worker scripts/wgpu scripts/setup_redis_workers
        DESTINATION ${CMAKE_INSTALL_DATADIR}/emp-worker/scripts)
foreach(_doc README.md docs/operations.md)
  if(EXISTS ${_emp_src}/${_doc})
    install(FILES ${_doc} DESTINATION ${CMAKE_INSTALL_DOCDIR})
  endif()
endforeach()

# Example configuration. The connectors ship as *.example: a fresh install enables none,
# the operator picks (rename to *.conf, or set WORKER_CONNECTORS).
file(GLOB _emp_confd RELATIVE ${_emp_src}/conf.d ${_emp_src}/conf.d/*)
foreach(_comp_dest "emp_etc_deb;/etc/emp-worker" "emp_etc_tgz;etc/emp-worker")
  list(GET _comp_dest 0 _comp)
  list(GET _comp_dest 1 _dest)
  install(FILES dist/worker.conf DESTINATION ${_dest} COMPONENT ${_comp} EXCLUDE_FROM_ALL)
  install(FILES dist/systemd/emp-worker.env.example DESTINATION ${_dest}
          RENAME env.example COMPONENT ${_comp} EXCLUDE_FROM_ALL)
  foreach(_f ${_emp_confd})
    string(REGEX REPLACE "\\.conf$" ".conf.example" _name ${_f})
    install(FILES conf.d/${_f} DESTINATION ${_dest}/conf.d RENAME ${_name}
            COMPONENT ${_comp} EXCLUDE_FROM_ALL)
  endforeach()
endforeach()

# ---- CPack ----
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(_emp_arch x86_64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(_emp_arch aarch64)
else()
  set(_emp_arch ${CMAKE_SYSTEM_PROCESSOR})
endif()

set(CPACK_PACKAGE_NAME emp-worker)
set(CPACK_PACKAGE_VENDOR "emp-job-queue")
set(CPACK_PACKAGE_CONTACT "emp-worker maintainers <emp-worker@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "GPU worker daemon for emp-job-queue (ComfyUI, A1111 plugins)")
set(CPACK_PACKAGE_DESCRIPTION
    "emp-worker claims emp-job-queue jobs from Redis, one process per GPU, and runs them on the\nlocal ComfyUI / AUTOMATIC1111 through service plugins.")
set(CPACK_GENERATOR "TGZ;DEB")
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_STRIP_FILES OFF)              # keep symbols: crash reports from GPU hosts need them

# Monolithic packages built from components, so that each generator takes its own /etc files.
set(CPACK_ARCHIVE_COMPONENT_INSTALL ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENT_INCLUDE_TOPLEVEL_DIRECTORY ON)   # tarball only (see below)
set(CPACK_PACKAGE_FILE_NAME "emp-worker-${PROJECT_VERSION}-linux-${_emp_arch}")
set(CPACK_ARCHIVE_FILE_NAME "${CPACK_PACKAGE_FILE_NAME}")

# Debian package
set(CPACK_DEBIAN_PACKAGE_NAME emp-worker)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGING_INSTALL_PREFIX /usr)
# The bookworm runtime libraries (checked with apt-cache show); dpkg-shlibdeps adds libc6 and
# anything else the binaries link when it is available (package dpkg-dev).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libhiredis0.14 (>= 0.14.1), libcurl4 (>= 7.88), libwebsockets17 (>= 4.1.6), libcjson1 (>= 1.7.15), libconfig9 (>= 1.5), libsystemd0, adduser")
find_program(_emp_shlibdeps dpkg-shlibdeps)
if(_emp_shlibdeps)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# conffiles: every file under /etc/emp-worker, so dpkg keeps local edits on upgrade.
set(_emp_conffiles "/etc/emp-worker/worker.conf\n/etc/emp-worker/env.example\n")
foreach(_f ${_emp_confd})
  string(REGEX REPLACE "\\.conf$" ".conf.example" _name ${_f})
  string(APPEND _emp_conffiles "/etc/emp-worker/conf.d/${_name}\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/deb/conffiles "${_emp_conffiles}")
foreach(_s postinst prerm postrm)
  configure_file(dist/systemd/deb/${_s} ${CMAKE_CURRENT_BINARY_DIR}/deb/${_s} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_BINARY_DIR}/deb/conffiles ${CMAKE_CURRENT_BINARY_DIR}/deb/postinst
    ${CMAKE_CURRENT_BINARY_DIR}/deb/prerm ${CMAKE_CURRENT_BINARY_DIR}/deb/postrm)

# Each generator installs every component except the other one's configuration.
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_BINARY_DIR}/deb/cpack-project.cmake)
file(WRITE ${CPACK_PROJECT_CONFIG_FILE} [=[
# generated by cmake/packaging.cmake: per-generator component selection
if(CPACK_GENERATOR STREQUAL "DEB")
  list(REMOVE_ITEM CPACK_COMPONENTS_ALL emp_etc_tgz)
  set(CPACK_COMPONENT_INCLUDE_TOPLEVEL_DIRECTORY OFF)   # paths in a .deb start at /
  set(CPACK_INCLUDE_TOPLEVEL_DIRECTORY OFF)
else()
  list(REMOVE_ITEM CPACK_COMPONENTS_ALL emp_etc_deb)
endif()
]=])

include(CPack)

# One-stop release target: builds, packages, copies the tarball to the asset name the existing
# start.sh downloads (emp-job-queue-worker.tar.gz) and writes the .sha256 files.
add_custom_target(release
  COMMAND ${_emp_src}/scripts/make-release ${CMAKE_BINARY_DIR} ${CMAKE_BINARY_DIR}/release
  USES_TERMINAL
  COMMENT "Building release packages into ${CMAKE_BINARY_DIR}/release")
