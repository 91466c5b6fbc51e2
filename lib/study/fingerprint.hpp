#pragma once
// Fingerprints of what a study's results depend on besides the grid: the content of its data
// files, the plugin libraries its optimizers come from, and the versions of the results format
// and of the task keys. A task key holds a data file's name, not its content: the fingerprints,
// stored in the results file (study/results.hpp), let --resume notice a data file regenerated or
// a plugin rebuilt since the rows were written, and --rerun-changed find the affected tasks.
// Nothing here depends on MPI.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/loader/plugin_registry.hpp"
#include "study/grid.hpp"

namespace kappa {

// A stable 64-bit hash of a byte stream, fed in pieces of any size: the same bytes give the same
// value whatever the pieces, on every machine and build. It reads 8 bytes at a time as a
// little-endian word and mixes each with the 64-bit MurmurHash3 word step (multiply, rotate,
// multiply, then rotate-multiply-add into the state), the tail and the length with its final
// avalanche (fmix64). Not cryptographic: it detects changes, not forgeries.
class StableHasher {
 public:
  void add(const void* bytes, std::size_t count);
  void add(const std::string& text);  // its length, then its bytes: "ab","c" differs from "a","bc"
  std::uint64_t value() const;
  std::string hex() const;  // value() as 16 lower-case hex digits

 private:
  void mix(std::uint64_t word);
  std::uint64_t state_ = 0x6b617070615f6670ULL;  // "kappa_fp"
  std::uint64_t length_ = 0;
  unsigned char tail_[8] = {};
  std::size_t tail_size_ = 0;
};

// The bytes of a file, streamed in 1 MB blocks, as 16 hex digits. InputError when it cannot be read.
std::string hash_file_bytes(const std::string& path);

// The values of the datasets of a data file that problems read with `paths` (for each distinct
// set of paths, in sorted order): each dataset's path and shape, then its values as float64 (the
// values read_hdf5 loads, streamed through visit_hdf5_values, not the file's bytes: HDF5's own
// metadata, timestamps included, do not count, and float32 values count as their float64
// conversions). DataError as read_hdf5 for a missing file or dataset. Takes hdf5_mutex().
std::string hash_data_file(const std::string& file, const std::vector<DatasetPaths>& paths);

enum class FingerprintKind { data, plugin, format };
std::string to_string(FingerprintKind kind);

struct Fingerprint {
  FingerprintKind kind = FingerprintKind::data;
  std::string name;   // data: the file as the tasks read it (or the synthetic spec); plugin: the
                      // library file; format: "kappa"
  std::string value;  // 16 hex digits
  // What depends on it, in the grid's terms, so that the rows it affects can be found however
  // the file is reached: data: the grid's data values (ProblemSpec::data) it holds; plugin: the
  // optimizer names it provides; format: none (it affects every row).
  std::vector<std::string> dependents;
  bool operator==(const Fingerprint& other) const;
};

// The fingerprints of a plan: one per distinct data file of plan.problems (hash_data_file over
// the datasets its problems read; a file that does not exist or cannot be read gets none: its
// tasks fail anyway), one per synthetic spec (the hash of its text and of
// kSyntheticGeneratorVersion: regenerated deterministically), one per plugin library of the
// plan's optimizers (the hash of the library's bytes and KAPPA_PLUGIN_ABI_VERSION), and one of
// kind format (kStudyFormatVersion and kTaskKeyVersion). Reads every data file once: call it on
// the rank that writes the results.
std::vector<Fingerprint> study_fingerprints(const StudyPlan& plan, const PluginRegistry& registry);

// As stored in a results file: one line per fingerprint, "kind<TAB>name<TAB>value" followed by
// "<TAB>dependent" for each dependent. parse_fingerprints throws InputError naming `source`
// for a malformed line.
std::string fingerprints_text(const std::vector<Fingerprint>& fingerprints);
std::vector<Fingerprint> parse_fingerprints(const std::string& text, const std::string& source);

// A difference between the fingerprints a results file was written with (`stored`) and the
// current ones: for each current fingerprint, its dependents that had another value (or none)
// when the results were written.
struct FingerprintChange {
  Fingerprint current;
  std::string stored_value;  // empty: none recorded for these dependents
  std::vector<std::string> dependents;  // those of `current` that changed
};
std::vector<FingerprintChange> fingerprint_changes(const std::vector<Fingerprint>& stored, const std::vector<Fingerprint>& current);

// "data file 'x.h5' has fingerprint 0123... now, 4567... when the results were written".
std::string describe(const FingerprintChange& change);

}  // namespace kappa
