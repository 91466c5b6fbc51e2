# kappa_add_plugin(<name> SOURCES <files...> [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds one optimizer plugin: a shared library named libkappa_plugin_<name>.so (the only file
# names the plugin loader looks at) that links kappa::sdk (and nothing else of kappa), with every symbol hidden except the
# two that KAPPA_PLUGIN exports. One implementation serves kappa's own build (plugins/, tests/)
# and the installed CMake package (find_package(kappa), which installs this file next to
# kappaConfig.cmake), so an out-of-tree plugin is built exactly like a shipped one.
#
#   OUTPUT_DIRECTORY  where the library is built. Default: KAPPA_BUILD_PLUGIN_DIR, which kappa's
#                     own build sets to <build>/plugins (where an uninstalled `kappa` looks);
#                     in a user's project, <build>/plugins too: pass it to --plugin-dir.
#   NO_INSTALL        no install rule. Otherwise `cmake --install` puts the library in
#                     <prefix>/${KAPPA_INSTALL_PLUGIN_DIR} (lib/kappa/plugins), where kappa
#                     finds it by itself when <prefix> is kappa's own.
function(kappa_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT name MATCHES "^[A-Za-z0-9_]+$")
    message(FATAL_ERROR "kappa_add_plugin(${name}): the name must consist of letters, digits and '_'")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "kappa_add_plugin(${name}): SOURCES is required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kappa_add_plugin(${name}): unknown arguments '${ARG_UNPARSED_ARGUMENTS}'")
  endif()
  set(target kappa_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE kappa::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    SUFFIX ".so"
    OUTPUT_NAME "kappa_plugin_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)

  set(output_dir "${ARG_OUTPUT_DIRECTORY}")
  if(NOT output_dir)
    set(output_dir "${KAPPA_BUILD_PLUGIN_DIR}")
  endif()
  if(NOT output_dir)
    set(output_dir "${CMAKE_BINARY_DIR}/plugins")
  endif()
  set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${output_dir}")

  if(NOT ARG_NO_INSTALL)
    set(install_dir "${KAPPA_INSTALL_PLUGIN_DIR}")
    if(NOT install_dir)
      set(install_dir "lib/kappa/plugins")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${install_dir}")
    # libkappa is two levels up in kappa's layout (<libdir>/kappa/plugins -> <libdir>), which
    # keeps an installed kappa relocatable; the installed package adds its library directory
    # for plugins installed elsewhere.
    set(rpath "$ORIGIN/../..")
    if(DEFINED KAPPA_LIBRARY_DIR)
      list(APPEND rpath "${KAPPA_LIBRARY_DIR}")
    endif()
    set_target_properties(${target} PROPERTIES INSTALL_RPATH "${rpath}")
  endif()
endfunction()
