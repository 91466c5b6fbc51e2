// The reproducibility manifest (study/manifest.hpp): its facts, collected once, and its HDF5 group.

#include "study/manifest.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <armadillo>
#include <boost/version.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/data/hdf5_support.hpp"
#include "kappa/error.hpp"
#include "kappa/plugin.hpp"
#include "study/build_info.hpp"
#include "study/fingerprint.hpp"
#include "study/root_attributes.hpp"

namespace kappa {
namespace {

using hdf5::Handle;

// The file of the loaded library that defines `symbol` for this process (the one its calls go
// to), resolved through symbolic links (Debian's alternatives); empty when none defines it.
std::string library_of(const char* symbol) {
  void* address = ::dlsym(RTLD_DEFAULT, symbol);
  Dl_info info{};
  if (!address || ::dladdr(address, &info) == 0 || !info.dli_fname) return "";
  std::error_code error;
  const std::filesystem::path canonical = std::filesystem::canonical(info.dli_fname, error);
  return error ? std::string(info.dli_fname) : canonical.string();
}

void add_blas_facts(ManifestEntries& entries) {
  const std::string blas = library_of("dgemm_");
  entries.emplace_back("blas.library", blas.empty() ? "unknown (no dgemm_ in the process)" : blas);
  // OpenBLAS's own queries, looked up at run time: another BLAS lacks them.
  using Text = char* (*)();
  using Count = int (*)();
  const auto config = reinterpret_cast<Text>(::dlsym(RTLD_DEFAULT, "openblas_get_config"));
  const auto threads = reinterpret_cast<Count>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  const auto core = reinterpret_cast<Text>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (config) {
    entries.emplace_back("blas.vendor", "OpenBLAS");
    entries.emplace_back("blas.config", config());
    if (core) entries.emplace_back("blas.core", core());
    entries.emplace_back("blas.threads", threads ? std::to_string(threads()) : "unknown");
  } else {
    entries.emplace_back("blas.vendor", "unknown (not OpenBLAS: no openblas_get_config)");
    entries.emplace_back("blas.threads", "unknown");
  }
  const std::string lapack = library_of("dgesdd_");
  entries.emplace_back("lapack.library", lapack.empty() ? "unknown (no dgesdd_ in the process)" : lapack);
}

std::string host_of_this_process() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string("?");
}

// A shell word: kept as is when made of safe characters, else single-quoted (Python's shlex.quote).
std::string shell_word(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == std::string::npos)
    return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\"'\"'") : std::string(1, c);
  return quoted + "'";
}

// The keys of a session that an earlier-session record keeps.
constexpr const char* kSessionKeys[] = {"start_time", "end_time", "kappa.git_describe", "mpi.ranks", "hosts", "command_line"};

}  // namespace

std::string utc_time_text() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string command_line_text(int argc, char** argv) {
  std::vector<std::string> words;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  for (std::string word; std::getline(in, word, '\0');) words.push_back(word);
  if (words.empty()) {
    words.push_back("kappa");
    words.insert(words.end(), argv, argv + argc);
  }
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + shell_word(word);
  return text;
}

ManifestEntries manifest_entries(const ManifestSession& session, const PluginRegistry& registry) {
  const BuildInfo& build = build_info();
  ManifestEntries entries{{"kappa.version", build.version},
                          {"kappa.git_describe", build.git_describe},
                          {"kappa.git_commit", build.git_commit},
                          {"build.compiler", build.compiler},
                          {"build.type", build.build_type},
                          {"build.cxx_flags", build.cxx_flags},
                          {"armadillo.version", arma::arma_version::as_string()}};
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  entries.emplace_back("hdf5.version", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release));
  entries.emplace_back("boost.version", std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) + "." +
                                            std::to_string(BOOST_VERSION % 100));
  add_blas_facts(entries);
  entries.emplace_back("mpi.library", session.mpi_library.empty() ? "unknown" : session.mpi_library);
  entries.emplace_back("mpi.ranks", std::to_string(session.ranks));
  std::vector<std::string> hosts;  // distinct, in rank order
  for (const std::string& host : session.hosts.empty() ? std::vector<std::string>{host_of_this_process()} : session.hosts)
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
  std::string host_text;
  for (const std::string& host : hosts) host_text += (host_text.empty() ? "" : ", ") + host;
  entries.emplace_back("hosts", host_text);
  // Every plugin library the registry loaded, in load order, with the optimizers it provides.
  std::vector<std::string> libraries;
  std::map<std::string, std::string> provides;
  for (const LoadedOptimizer& loaded : registry.optimizers()) {
    std::string& names = provides[loaded.library];
    if (names.empty()) libraries.push_back(loaded.library);
    names += (names.empty() ? "" : ", ") + loaded.info.name;
  }
  entries.emplace_back("plugin_count", std::to_string(libraries.size()));
  for (std::size_t i = 0; i < libraries.size(); ++i) {
    const std::string prefix = "plugin." + std::to_string(i + 1) + ".";
    std::string hash;
    try {
      hash = hash_file_bytes(libraries[i]);
    } catch (const InputError&) {
      hash = "unreadable";
    }
    entries.emplace_back(prefix + "file", libraries[i]);
    entries.emplace_back(prefix + "content_hash", hash);
    entries.emplace_back(prefix + "abi", std::to_string(KAPPA_PLUGIN_ABI_VERSION));  // the registry loads no other
    entries.emplace_back(prefix + "optimizers", provides[libraries[i]]);
  }
  entries.emplace_back("data_count", std::to_string(session.data.size()));
  for (std::size_t i = 0; i < session.data.size(); ++i) {
    entries.emplace_back("data." + std::to_string(i + 1) + ".name", session.data[i].first);
    entries.emplace_back("data." + std::to_string(i + 1) + ".fingerprint", session.data[i].second);
  }
  entries.emplace_back("command_line", session.command_line);
  std::set<std::string> earlier;
  bool unrecorded = false;
  for (const auto& [key, value] : session.earlier_sessions) {
    if (key == "earlier_sessions") unrecorded = true;
    else earlier.insert(key.substr(0, key.find('.', std::string("earlier_session.").size())));
  }
  entries.emplace_back("sessions", unrecorded ? "unknown (at least " + std::to_string(earlier.size() + 2) + ")"
                                              : std::to_string(earlier.size() + 1));
  entries.insert(entries.end(), session.earlier_sessions.begin(), session.earlier_sessions.end());
  entries.emplace_back("start_time", session.start_time);
  return entries;
}

ManifestEntries with_end_time(ManifestEntries entries) {
  entries.emplace_back("end_time", utc_time_text());
  return entries;
}

void write_manifest(hid_t file, const ManifestEntries& entries, const std::string& context) {
  const auto fail = [&](const std::string& what) { throw InputError(context + ": cannot write the manifest (" + what + ")"); };
  const Handle properties(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  if (!properties.valid() || H5Pset_attr_creation_order(properties.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
    fail("group properties");
  const Handle group(H5Gcreate2(file, "manifest", H5P_DEFAULT, properties.get(), H5P_DEFAULT), H5Gclose);
  if (!group.valid()) fail("group 'manifest'");
  const Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type.valid() || H5Tset_size(type.get(), H5T_VARIABLE) < 0 || H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0) fail("string type");
  const Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  for (const auto& [key, value] : with_end_time(entries)) {
    const Handle attribute(H5Acreate2(group.get(), key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* text = value.c_str();
    if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), &text) < 0) fail("attribute '" + key + "'");
  }
}

ManifestEntries read_manifest(const std::string& file) {
  try {
    return read_group_attributes(file, "manifest");
  } catch (const InputError& error) {
    const std::string text = error.what();
    if (text.find("has no group") != std::string::npos)
      throw InputError("results file '" + file + "' has no manifest (written by a kappa before the manifest, or not by kappa study)");
    throw;
  }
}

ManifestEntries earlier_sessions(const ManifestEntries* previous) {
  if (!previous) return {{"earlier_sessions", "unrecorded (the file was written without a manifest)"}};
  ManifestEntries earlier;
  std::set<std::string> numbers;
  for (const auto& [key, value] : *previous)
    if (key.rfind("earlier_session", 0) == 0) {  // earlier_session.K.* and earlier_sessions
      earlier.emplace_back(key, value);
      if (key.rfind("earlier_session.", 0) == 0) numbers.insert(key.substr(0, key.find('.', 16)));
    }
  const std::string prefix = "earlier_session." + std::to_string(numbers.size() + 1) + ".";
  for (const char* wanted : kSessionKeys)
    for (const auto& [key, value] : *previous)
      if (key == wanted) earlier.emplace_back(prefix + key, value);
  return earlier;
}

}  // namespace kappa
