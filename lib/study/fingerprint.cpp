// Fingerprints of a study's data files, plugins and format (study/fingerprint.hpp).

#include "study/fingerprint.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/plugin.hpp"
#include "core/data/synthetic.hpp"
#include "study/results.hpp"

namespace kappa {
namespace {

constexpr std::uint64_t kC1 = 0x87c37b91114253d5ULL, kC2 = 0x4cf5ad432745937fULL;

std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

std::uint64_t scramble(std::uint64_t k) { return rotl(k * kC1, 31) * kC2; }

std::uint64_t fmix64(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

std::uint64_t little_endian_word(const unsigned char* bytes) {
  std::uint64_t word = 0;
  for (int b = 7; b >= 0; --b) word = (word << 8) | bytes[b];
  return word;
}

}  // namespace

void StableHasher::mix(std::uint64_t word) {
  state_ ^= scramble(word);
  state_ = rotl(state_, 27) * 5 + 0x52dce729;
}

void StableHasher::add(const void* data, std::size_t count) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  length_ += count;
  while (count > 0 && tail_size_ > 0) {  // complete a partial word first
    tail_[tail_size_++] = *bytes++;
    --count;
    if (tail_size_ == 8) {
      mix(little_endian_word(tail_));
      tail_size_ = 0;
    }
  }
  for (; count >= 8; bytes += 8, count -= 8) mix(little_endian_word(bytes));
  std::memcpy(tail_, bytes, count);
  tail_size_ += count;
}

void StableHasher::add(const std::string& text) {
  unsigned char size[8];
  for (int b = 0; b < 8; ++b) size[b] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * b));
  add(size, sizeof size);
  add(text.data(), text.size());
}

std::uint64_t StableHasher::value() const {
  std::uint64_t state = state_;
  if (tail_size_ > 0) {
    unsigned char last[8] = {};
    std::memcpy(last, tail_, tail_size_);
    state ^= scramble(little_endian_word(last));
  }
  return fmix64(state ^ length_);
}

std::string StableHasher::hex() const { return key_text(value()); }

std::string hash_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("file '" + path + "' cannot be read");
  StableHasher hasher;
  std::vector<char> block(std::size_t{1} << 16);  // 64 KiB: a 1 MiB one was zeroed and page-faulted afresh for each plugin file
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    hasher.add(block.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw InputError("file '" + path + "' cannot be read");
  return hasher.hex();
}

std::string hash_data_file(const std::string& file, const std::vector<DatasetPaths>& paths) {
  using PathsTuple = std::tuple<std::string, std::string, std::string, std::string>;
  std::set<PathsTuple> distinct;
  for (const DatasetPaths& p : paths) distinct.emplace(p.X_train, p.y_train, p.X_test, p.y_test);
  StableHasher hasher;
  const std::lock_guard<std::mutex> lock(hdf5_mutex());
  for (const auto& [X_train, y_train, X_test, y_test] : distinct) {
    const DatasetPaths p{X_train, y_train, X_test, y_test};
    std::string current;
    visit_hdf5_values(file, p, [&](const std::string& path, const std::vector<unsigned long long>& shape, const double* values,
                                   std::size_t count) {
      if (path != current) {  // a new dataset: its path and shape first
        current = path;
        std::string header = path;
        for (unsigned long long extent : shape) header += "," + std::to_string(extent);
        hasher.add(header);
      }
      hasher.add(values, count * sizeof(double));  // host byte order: little-endian on every platform kappa builds for
    });
  }
  return hasher.hex();
}

// The one name table of FingerprintKind (the stored `fingerprints` attribute uses these names).
constexpr EnumName<FingerprintKind> kFingerprintKindNames[] = {
    {FingerprintKind::data, "data"}, {FingerprintKind::plugin, "plugin"}, {FingerprintKind::format, "format"}};

std::string to_string(FingerprintKind kind) { return enum_name(kFingerprintKindNames, kind); }

bool Fingerprint::operator==(const Fingerprint& other) const {
  return kind == other.kind && name == other.name && value == other.value && dependents == other.dependents;
}

std::vector<Fingerprint> study_fingerprints(const StudyPlan& plan, const PluginRegistry& registry) {
  std::vector<Fingerprint> fingerprints;
  // Data: the problems of each file (in first-use order), their paths and grid spellings.
  std::vector<std::string> files;
  std::map<std::string, std::pair<std::vector<DatasetPaths>, std::set<std::string>>> of_file;
  std::set<std::string> specs;
  for (const ProblemSpec& problem : plan.problems) {
    if (problem.data_file.empty()) {
      if (specs.insert(problem.data).second)
        fingerprints.push_back({FingerprintKind::data, problem.data,
                                stable_hash("generator_version=" + std::to_string(kSyntheticGeneratorVersion) + ";" +
                                            problem.synthetic),
                                {problem.data}});
      continue;
    }
    auto& entry = of_file[problem.data_file];
    if (entry.first.empty()) files.push_back(problem.data_file);
    entry.first.push_back(problem.paths);
    entry.second.insert(problem.data);
  }
  for (const std::string& file : files) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(file, error)) continue;  // its tasks fail
    const auto& [paths, dependents] = of_file[file];
    try {
      fingerprints.push_back({FingerprintKind::data, file, hash_data_file(file, paths), {dependents.begin(), dependents.end()}});
    } catch (const DataError&) {
      // unreadable as the problems read it: its tasks fail, with this reason
    }
  }
  // Plugins: each library of the grid's optimizers once, with the optimizers it provides.
  std::vector<std::string> libraries;
  std::map<std::string, std::vector<std::string>> of_library;
  for (const PlannedOptimizers::Kind& kind : plan.optimizers.kinds()) {
    const std::string& library = registry.find(kind.name).library;
    auto& names = of_library[library];
    if (names.empty()) libraries.push_back(library);
    names.push_back(kind.name);
  }
  for (const std::string& library : libraries) {
    StableHasher hasher;
    hasher.add("abi=" + std::to_string(KAPPA_PLUGIN_ABI_VERSION) + ";bytes=" + hash_file_bytes(library));
    fingerprints.push_back({FingerprintKind::plugin, library, hasher.hex(), of_library[library]});
  }
  fingerprints.push_back({FingerprintKind::format, "kappa",
                          stable_hash("format_version=" + std::to_string(kStudyFormatVersion) +
                                      ";task_key_version=" + std::to_string(kTaskKeyVersion)),
                          {}});
  return fingerprints;
}

std::string fingerprints_text(const std::vector<Fingerprint>& fingerprints) {
  std::string text;
  for (const Fingerprint& fingerprint : fingerprints) {
    text += std::string(to_string(fingerprint.kind)) + "\t" + fingerprint.name + "\t" + fingerprint.value;
    for (const std::string& dependent : fingerprint.dependents) text += "\t" + dependent;
    text += "\n";
  }
  return text;
}

std::vector<Fingerprint> parse_fingerprints(const std::string& text, const std::string& source) {
  std::vector<Fingerprint> fingerprints;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    for (std::size_t start = 0;;) {
      const std::size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    Fingerprint fingerprint;
    const bool kind_known = !fields.empty() && try_parse_enum(kFingerprintKindNames, fields[0], fingerprint.kind);
    if (fields.size() < 3 || !kind_known || fields[2].size() != 16 ||
        fields[2].find_first_not_of("0123456789abcdef") != std::string::npos)
      throw InputError(source + ": fingerprint line " + std::to_string(number) + " is malformed (expected kind<TAB>name<TAB>value)");
    fingerprint.name = fields[1];
    fingerprint.value = fields[2];
    fingerprint.dependents.assign(fields.begin() + 3, fields.end());
    fingerprints.push_back(std::move(fingerprint));
  }
  return fingerprints;
}

std::vector<FingerprintChange> fingerprint_changes(const std::vector<Fingerprint>& stored, const std::vector<Fingerprint>& current) {
  std::vector<FingerprintChange> changes;
  for (const Fingerprint& now : current) {
    if (now.kind == FingerprintKind::format) {
      const auto then = std::find_if(stored.begin(), stored.end(), [](const Fingerprint& f) { return f.kind == FingerprintKind::format; });
      if (then == stored.end() || then->value != now.value) changes.push_back({now, then == stored.end() ? "" : then->value, {}});
      continue;
    }
    // By dependent: the stored fingerprint of the same kind that names it (a file reached
    // through another path, or a plugin from another directory, is matched by what it serves).
    std::map<std::string, std::vector<std::string>> changed;  // stored value -> dependents
    for (const std::string& dependent : now.dependents) {
      const auto then = std::find_if(stored.begin(), stored.end(), [&](const Fingerprint& f) {
        return f.kind == now.kind && std::find(f.dependents.begin(), f.dependents.end(), dependent) != f.dependents.end();
      });
      const std::string value = then == stored.end() ? "" : then->value;
      if (value != now.value) changed[value].push_back(dependent);
    }
    for (auto& [value, dependents] : changed) changes.push_back({now, value, std::move(dependents)});
  }
  return changes;
}

std::string describe(const FingerprintChange& change) {
  const Fingerprint& now = change.current;
  const bool synthetic = now.kind == FingerprintKind::data && now.name.find("kind=") != std::string::npos;  // a spec, not a file
  const std::string subject = synthetic                             ? "synthetic data"
                              : now.kind == FingerprintKind::data   ? "data file"
                              : now.kind == FingerprintKind::plugin ? "plugin library"
                                                                    : "format";
  const std::string then = change.stored_value.empty() ? "none" : change.stored_value;
  return subject + " '" + now.name + "' has fingerprint " + now.value + " now, " + then + " when the results were written";
}

}  // namespace kappa
