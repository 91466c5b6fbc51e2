#pragma once
// The manifest's writers and readers at the command line (the facts: study/manifest.hpp): the MPI
// facts only the app can know, the "manifest" object of kappa solve's JSON output, and the
// `key: value` lines of kappa report --manifest.

#include <string>

#include "core/loader/plugin_registry.hpp"
#include "cli.hpp"
#include "study/fingerprint.hpp"
#include "study/manifest.hpp"

namespace kappa::cli {

// MPI_Get_library_version (callable before MPI_Init), on one line.
std::string mpi_library_version();

// kappa solve's session: one rank on this host, the data file (or synthetic spec) it read.
ManifestEntries solve_manifest(int argc, char** argv, const std::string& start_time, const PluginRegistry& registry,
                               const DataOptions& data);

// kappa study's session on rank 0: `hosts` one per rank, the data of the fingerprints of kind
// data; `resumed` the results file a --resume continues (empty: none), whose manifest's sessions
// become the earlier sessions (a file without one: recorded as unrecorded).
ManifestEntries study_manifest(int argc, char** argv, const std::string& start_time, const PluginRegistry& registry,
                               const std::vector<Fingerprint>& fingerprints, const std::vector<std::string>& hosts,
                               const std::string& resumed);

// `json` (an object, "{\n ...") with "manifest": {with_end_time(manifest)} as its first member.
std::string with_manifest(const std::string& json, const ManifestEntries& manifest);

// The manifest of a results file (.h5) or of a kappa solve JSON output (.json). Throws
// InputError naming the file when it cannot be read or has no manifest.
ManifestEntries read_any_manifest(const std::string& file);

// `key: value`, one line each (a value's line breaks shown as "\n").
std::string manifest_text(const ManifestEntries& manifest);

}  // namespace kappa::cli
