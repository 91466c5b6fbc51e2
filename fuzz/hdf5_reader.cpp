// libFuzzer target: bytes written to a file and read with read_hdf5 (fuzz_entry_points.hpp).
// The HDF5 library reads files only, so each input goes to a file of this process
// ($TMPDIR/kappa-fuzz-hdf5-<pid>.h5: parallel jobs do not share one), removed at exit.
// A kappa::Error is the expected answer to a bad file; anything else is reported as a crash.
//
// Random bytes rarely get past HDF5's superblock, so the seed corpus (fuzz/corpus/hdf5) holds
// small valid kappa files and fuzz/hdf5.dict the format's signatures and kappa's dataset names:
// most mutations then land inside a real object header, B-tree or heap.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_entry_points.hpp"
#include "kappa/error.hpp"

namespace {

// In $TMPDIR when set (scripts/fuzz.sh points it into its scratch directory, which also
// collects the file of a process that crashed and so never ran its atexit handler).
const std::string& scratch_file() {
  static const std::string name = [] {
    const char* directory = std::getenv("TMPDIR");
    return std::string(directory && *directory ? directory : "/tmp") + "/kappa-fuzz-hdf5-" + std::to_string(::getpid()) + ".h5";
  }();
  return name;
}

void remove_scratch_file() { std::remove(scratch_file().c_str()); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit(remove_scratch_file);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::FILE* file = std::fopen(scratch_file().c_str(), "wb");
  if (!file) std::abort();  // the harness itself is broken, not kappa
  const bool written = std::fwrite(data, 1, size, file) == size;
  if (std::fclose(file) != 0 || !written) std::abort();
  try {
    kappa::fuzz::hdf5_file(scratch_file());
  } catch (const kappa::Error&) {
    // Rejected file: the answer kappa gives users.
  }
  return 0;
}
