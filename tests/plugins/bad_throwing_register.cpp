// A plugin whose registration function throws.
#include <stdexcept>

#include <kappa/plugin.hpp>

KAPPA_PLUGIN(registrar) {
  (void)registrar;
  throw std::runtime_error("broken on purpose");
}
