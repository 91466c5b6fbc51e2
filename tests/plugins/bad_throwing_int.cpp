// A plugin whose registration function throws something that is not a std::exception.
#include <kappa/plugin.hpp>

KAPPA_PLUGIN(registrar) {
  (void)registrar;
  throw 42;
}
