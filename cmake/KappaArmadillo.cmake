# kappa::armadillo: Armadillo as one imported target, made from the variables of CMake's
# FindArmadillo module (which defines no target); call find_package(Armadillo) first.
# libkappa links it publicly (kappa::Vec and kappa::Mat are Armadillo types), so the exported
# kappa::sdk names this target rather than absolute paths, and the installed package
# (kappaConfig.cmake) defines it again from the consumer's own find_dependency(Armadillo).
if(NOT TARGET kappa::armadillo)
  add_library(kappa::armadillo INTERFACE IMPORTED)
  set_target_properties(kappa::armadillo PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${ARMADILLO_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${ARMADILLO_LIBRARIES}")
endif()
