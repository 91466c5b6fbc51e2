# kappa_add_plugin(<name> SOURCES <files...>)
#
# Builds one optimizer plugin: a shared library named libkappa_plugin_<name>.so that links the
# kappa headers (and libkappa) and is placed in the build tree's plugin directory, where `kappa`
# looks by default. Used for the in-tree plugins and, through the installed package, by
# out-of-tree plugins.
function(kappa_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
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
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED KAPPA_BUILD_PLUGIN_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${KAPPA_BUILD_PLUGIN_DIR}")
  endif()
endfunction()
