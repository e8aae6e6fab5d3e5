# EmpPluginHelpers.cmake - emp_add_plugin(), used by the in-tree plugins and, once installed
# (lib/cmake/EmpPlugin), by out-of-tree plugins through find_package(EmpPlugin).
#
#   emp_add_plugin(<name> SOURCES <file>... [LIBS <lib>...]
#                  [OUTPUT_DIRECTORY <dir>] [INSTALL_DIR <dir>] [NO_INSTALL])
#
# Builds <name>.so (no "lib" prefix: the host loads <plugin_dir>/<name>.so) as a MODULE with
# hidden visibility (only the EMP_PLUGIN_EXPORT entry symbol is exported) and -Wl,-z,defs (every
# symbol the plugin uses must come from a library it links, never from the host). LIBS are
# linked privately (for example PkgConfig::CJSON).
# OUTPUT_DIRECTORY defaults to ${CMAKE_BINARY_DIR}/plugins. Installed, unless NO_INSTALL, into
# INSTALL_DIR (default ${EMP_PLUGIN_INSTALL_DIR}, else lib/emp-worker/plugins, relative to the
# install prefix) with mode 0644: the host refuses plugin files writable by group or others.
include_guard(GLOBAL)

function(emp_add_plugin name)
  cmake_parse_arguments(P "NO_INSTALL" "OUTPUT_DIRECTORY;INSTALL_DIR" "SOURCES;LIBS" ${ARGN})
  if(NOT P_SOURCES)
    message(FATAL_ERROR "emp_add_plugin(${name}): no SOURCES")
  endif()
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "emp_add_plugin(${name}): unknown arguments ${P_UNPARSED_ARGUMENTS}")
  endif()
  if(TARGET emp_plugin_sdk)        # inside the emp-worker tree
    set(_sdk emp_plugin_sdk)
  elseif(TARGET EmpPlugin::sdk)    # out of tree, after find_package(EmpPlugin)
    set(_sdk EmpPlugin::sdk)
  else()
    message(FATAL_ERROR "emp_add_plugin(${name}): call find_package(EmpPlugin) first")
  endif()
  if(NOT P_OUTPUT_DIRECTORY)
    set(P_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/plugins")
  endif()
  if(NOT P_INSTALL_DIR)
    if(EMP_PLUGIN_INSTALL_DIR)
      set(P_INSTALL_DIR "${EMP_PLUGIN_INSTALL_DIR}")
    else()
      set(P_INSTALL_DIR "lib/emp-worker/plugins")
    endif()
  endif()

  add_library(${name} MODULE ${P_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "" OUTPUT_NAME ${name}
                        LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIRECTORY}"
                        C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
                        POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${name} PRIVATE ${_sdk} ${P_LIBS})
  target_link_options(${name} PRIVATE "LINKER:-z,defs")
  if(NOT P_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION "${P_INSTALL_DIR}"
            PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
endfunction()
