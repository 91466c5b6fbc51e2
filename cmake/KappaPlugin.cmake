# kappa_add_plugin(<name> SOURCES <files...> [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds one optimizer plugin: a shared library named libkappa_plugin_<name>.so that links the
# kappa headers (and libkappa) and is placed in the build tree's plugin directory, where `kappa`
# looks by default, and installed into the installed plugin directory. Used for the in-tree
# plugins; an installed CMake package for out-of-tree plugins is to come.
function(kappa_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "kappa_add_plugin(${name}): SOURCES is required")
  endif()
  set(target kappa_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE kappa::kappa)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "kappa_plugin_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED KAPPA_INSTALL_PLUGIN_DIR AND NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION "${KAPPA_INSTALL_PLUGIN_DIR}")
    set_target_properties(${target} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
  endif()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED KAPPA_BUILD_PLUGIN_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${KAPPA_BUILD_PLUGIN_DIR}")
  endif()
endfunction()
