// A plugin built for another ABI version: the loader must refuse it.
#include <kappa/plugin.hpp>

KAPPA_PLUGIN_EXPORT int kappa_plugin_abi_version() { return KAPPA_PLUGIN_ABI_VERSION + 100; }
KAPPA_PLUGIN_EXPORT void kappa_plugin_register(kappa::PluginRegistrar&) {}
