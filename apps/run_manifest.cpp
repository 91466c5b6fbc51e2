// The manifest at the command line (run_manifest.hpp).
#include "run_manifest.hpp"

#include <mpi.h>

#include <filesystem>
#include <fstream>
#include <sstream>


namespace kappa::cli {
namespace {

void skip_blanks(const std::string& text, std::size_t& at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '\n' || text[at] == '\t' || text[at] == '\r')) ++at;
}

// The "manifest" object of a kappa solve JSON output: string members only, as with_manifest writes.
ManifestEntries read_json_manifest(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("solve output '" + file + "' cannot be read");
  std::ostringstream contents;
  contents << in.rdbuf();
  const std::string text = contents.str();
  const std::string opening = "\"manifest\":";
  std::size_t at = text.find(opening);
  if (at == std::string::npos) throw InputError("solve output '" + file + "' has no manifest (written by a kappa before the manifest?)");
  at += opening.size();
  skip_blanks(text, at);
  const auto malformed = [&] { return InputError("solve output '" + file + "': its manifest is malformed at byte " + std::to_string(at)); };
  if (at >= text.size() || text[at++] != '{') throw malformed();
  ManifestEntries manifest;
  for (;;) {
    skip_blanks(text, at);
    if (at < text.size() && text[at] == '}') return manifest;
    std::string key, value;
    if (!parse_json_string(text, at, key)) throw malformed();
    skip_blanks(text, at);
    if (at >= text.size() || text[at++] != ':') throw malformed();
    skip_blanks(text, at);
    if (!parse_json_string(text, at, value)) throw malformed();
    manifest.emplace_back(std::move(key), std::move(value));
    skip_blanks(text, at);
    if (at < text.size() && text[at] == ',') ++at;
  }
}

}  // namespace

std::string mpi_library_version() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  if (MPI_Get_library_version(version, &length) != MPI_SUCCESS) return "";
  std::string text(version, static_cast<std::size_t>(std::max(0, length)));
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
  return text;
}

ManifestEntries solve_manifest(int argc, char** argv, const std::string& start_time, const PluginRegistry& registry,
                               const DataOptions& data) {
  ManifestSession session;
  session.command_line = command_line_text(argc, argv);
  session.start_time = start_time;
  session.mpi_library = mpi_library_version();
  if (!data.file.empty()) session.data.emplace_back(data.file, hash_data_file(data.file, {data.paths}));
  else session.data.emplace_back(data.synthetic, stable_hash(data.synthetic));
  return manifest_entries(session, registry);
}

ManifestEntries study_manifest(int argc, char** argv, const std::string& start_time, const PluginRegistry& registry,
                               const std::vector<Fingerprint>& fingerprints, const std::vector<std::string>& hosts,
                               const std::string& resumed) {
  ManifestSession session;
  session.command_line = command_line_text(argc, argv);
  session.start_time = start_time;
  session.mpi_library = mpi_library_version();
  session.ranks = static_cast<int>(hosts.size());
  session.hosts = hosts;
  for (const Fingerprint& fingerprint : fingerprints)
    if (fingerprint.kind == FingerprintKind::data) session.data.emplace_back(fingerprint.name, fingerprint.value);
  if (!resumed.empty()) {
    ManifestEntries previous;
    bool found = true;
    try {
      previous = read_manifest(resumed);
    } catch (const InputError&) {
      found = false;  // written without one (the file itself was checked by StudyResults::load)
    }
    session.earlier_sessions = earlier_sessions(found ? &previous : nullptr);
  }
  return manifest_entries(session, registry);
}

std::string with_manifest(const std::string& json, const ManifestEntries& manifest) {
  if (json.rfind("{\n", 0) != 0) throw Error("with_manifest: not a JSON object");
  std::string object = "{\n  \"manifest\": {";
  bool first = true;
  for (const auto& [key, value] : with_end_time(manifest)) {
    object += std::string(first ? "" : ",") + "\n    " + json_string(key) + ": " + json_string(value);
    first = false;
  }
  return object + "\n  },\n" + json.substr(2);
}

ManifestEntries read_any_manifest(const std::string& file) {
  std::error_code error;
  if (!std::filesystem::exists(file, error)) throw InputError("file '" + file + "' does not exist");
  const std::string extension = std::filesystem::path(file).extension().string();
  return extension == ".json" ? read_json_manifest(file) : read_manifest(file);
}

std::string manifest_text(const ManifestEntries& manifest) {
  std::string text;
  for (const auto& [key, value] : manifest) {
    std::string shown;
    for (char c : value) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
    text += key + ": " + shown + "\n";
  }
  return text;
}

}  // namespace kappa::cli
