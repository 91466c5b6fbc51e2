#pragma once
// The reproducibility manifest of a results file (`kappa study`) or of a `kappa solve` JSON
// output: what made it, as an ordered list of (key, value) texts. The facts are collected here
// once (manifest_entries: this build, the libraries it runs on, the plugins and data, the command
// line and the session's times); the MPI facts, which this library cannot know (no MPI below
// apps/), come from the caller. The writers are thin: write_manifest (an HDF5 group `manifest`,
// one string attribute per key in creation order) here, the JSON object in apps/. docs/study.md
// lists the keys.

#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "core/loader/plugin_registry.hpp"

namespace kappa {

using ManifestEntries = std::vector<std::pair<std::string, std::string>>;

// What only the caller knows about the session.
struct ManifestSession {
  std::string command_line;  // command_line_text()
  std::string start_time;    // utc_time_text() when the session started
  std::string mpi_library;   // MPI_Get_library_version; empty: not known
  int ranks = 1;
  std::vector<std::string> hosts;  // the host of each rank; empty: this host
  // The data: (file as read, or synthetic spec; its fingerprint, study/fingerprint.hpp), in order.
  std::vector<std::pair<std::string, std::string>> data;
  ManifestEntries earlier_sessions;  // earlier_sessions() of the file a resumed study continues
};

// The manifest of a session without its end_time: build (kappa version, git describe and
// commit, compiler, build type and flags), Armadillo, HDF5 and Boost versions, the BLAS and
// LAPACK libraries the process resolved (their files; OpenBLAS's configuration and thread count
// when the BLAS is OpenBLAS), MPI, ranks and hosts, every plugin library the registry loaded (file,
// content hash = hash_file_bytes, the ABI version it was accepted with, its optimizers), the
// data, the command line, the session count and earlier sessions, and the start time.
ManifestEntries manifest_entries(const ManifestSession& session, const PluginRegistry& registry);

// The entries followed by ("end_time", now): what every writer stores.
ManifestEntries with_end_time(ManifestEntries entries);

// The time now, UTC, ISO 8601 to the second: "2026-12-02T16:55:01Z".
std::string utc_time_text();

// The command line of this process as a shell would take it back (/proc/self/cmdline; arguments
// quoted like Python's shlex.quote); `argc`, `argv` (prefixed with "kappa") when it cannot be read.
std::string command_line_text(int argc, char** argv);

// Writes with_end_time(entries) as the group "manifest" of the open file `file` (attributes in
// creation order). Throws InputError starting with `context` (e.g. "results file 'r.h5'").
void write_manifest(hid_t file, const ManifestEntries& entries, const std::string& context);

// The manifest of a results file. Throws InputError naming the file when it cannot be read or
// has no manifest.
ManifestEntries read_manifest(const std::string& file);

// For a study resumed from a file with manifest `previous` (null: the file has none): the
// earlier sessions to record, those `previous` recorded and `previous`'s own session, each as
// "earlier_session.K.<key>" (K from 1, oldest first) for its start_time, end_time, kappa.git_describe,
// ranks, hosts and command_line; a file without a manifest gives one entry saying so.
ManifestEntries earlier_sessions(const ManifestEntries* previous);

}  // namespace kappa
