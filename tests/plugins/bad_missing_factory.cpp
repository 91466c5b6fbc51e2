// A plugin that exports its ABI version but no registration function.
#include <kappa/plugin.hpp>

KAPPA_PLUGIN_EXPORT int kappa_plugin_abi_version() { return KAPPA_PLUGIN_ABI_VERSION; }
