// Replays the fuzzing inputs (docs/fuzzing.md) in the normal build, through the very entry
// points the libFuzzer targets use (fuzz/fuzz_entry_points.hpp), so that CI checks them without
// clang:
// - fuzz/regressions/<target>/: inputs that once crashed kappa or threw something other than a
//   kappa::Error (or, hdf5-library-*, crashed HDF5 under AddressSanitizer). Each must now be
//   accepted or rejected with a kappa::Error; a crash fails the test by killing it.
// - fuzz/corpus/: the seeds. Their names state the expected answer: a grid named "*bad*" and an
//   HDF5 file named "bad-*" must be rejected (InputError, DataError), every other seed accepted.
#define BOOST_TEST_MODULE fuzz_regressions
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_entry_points.hpp"
#include "kappa/error.hpp"

using namespace kappa;
namespace fs = std::filesystem;

namespace {

const fs::path kFuzzDir = KAPPA_FUZZ_DIR;

// The regular files of a directory, sorted (none when it does not exist: a target may have no
// regressions yet).
std::vector<fs::path> files_in(const fs::path& directory) {
  std::vector<fs::path> files;
  if (!fs::is_directory(directory)) return files;
  for (const auto& item : fs::directory_iterator(directory))
    if (item.is_regular_file()) files.push_back(item.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const PluginRegistry& plugins() {
  static PluginRegistry registry;
  static const bool loaded = (registry.load_directories({KAPPA_TEST_PLUGIN_DIR}), true);
  (void)loaded;
  return registry;
}

enum class Outcome { accepted, kappa_error, other_exception };

// Runs `action`; an exception that is not a kappa::Error is named in the test log.
template <class Action>
Outcome outcome_of(const fs::path& input, Action action) {
  try {
    action();
    return Outcome::accepted;
  } catch (const Error&) {
    return Outcome::kappa_error;
  } catch (const std::exception& error) {
    BOOST_TEST_MESSAGE(input.string() << ": " << typeid(error).name() << ": " << error.what());
  } catch (...) {
    BOOST_TEST_MESSAGE(input.string() << ": a non-standard exception");
  }
  return Outcome::other_exception;
}

void replay_grid(const fs::path& input) {
  const std::string text = contents(input);
  BOOST_TEST_CONTEXT(input.string()) {
    BOOST_TEST((outcome_of(input, [&] { fuzz::grid_text(text, &plugins()); }) != Outcome::other_exception));
  }
}

void replay_hdf5(const fs::path& input) {
  BOOST_TEST_CONTEXT(input.string()) {
    BOOST_TEST((outcome_of(input, [&] { fuzz::hdf5_file(input.string()); }) != Outcome::other_exception));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_fuzz_build_uses_plugins_the_normal_build_has) {
  // Without plugins grid_text stops after parsing, and the replay would check much less.
  for (const char* name : {"gd", "sgd", "adam", "lbfgs", "cg", "direct"}) BOOST_TEST(plugins().find(name).info.name == name);
}

BOOST_AUTO_TEST_CASE(grid_regressions_are_accepted_or_rejected_with_a_kappa_error) {
  for (const fs::path& input : files_in(kFuzzDir / "regressions" / "grid_parser")) replay_grid(input);
}

// Inputs named hdf5-library-* make HDF5 1.10 itself ask for an impossible allocation before it
// validates what it read (docs/fuzzing.md). malloc then returns NULL and HDF5 reports an error;
// AddressSanitizer aborts instead, so under it they are skipped.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

BOOST_AUTO_TEST_CASE(hdf5_regressions_are_accepted_or_rejected_with_a_kappa_error) {
  for (const fs::path& input : files_in(kFuzzDir / "regressions" / "hdf5_reader")) {
    if (kAddressSanitizer && input.filename().string().rfind("hdf5-library-", 0) == 0) continue;
    replay_hdf5(input);
  }
}

BOOST_AUTO_TEST_CASE(grid_seeds_give_their_expected_answer) {
  const std::vector<fs::path> seeds = files_in(kFuzzDir / "corpus" / "grid");
  BOOST_TEST(seeds.size() >= 10u);
  for (const fs::path& seed : seeds) {
    const bool bad = seed.filename().string().find("bad") != std::string::npos;
    const std::string text = contents(seed);
    BOOST_TEST_CONTEXT(seed.string()) {
      if (bad) {
        BOOST_CHECK_THROW(fuzz::grid_text(text, &plugins()), InputError);
      } else {
        // Every good seed is small enough to be planned, and is.
        BOOST_TEST(fuzz::planned_points_bound(parse_grid(text, "seed.ini")) <= fuzz::kMaxPlannedPoints);
        BOOST_CHECK_NO_THROW(fuzz::grid_text(text, &plugins()));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(hdf5_seeds_give_their_expected_answer) {
  const std::vector<fs::path> seeds = files_in(kFuzzDir / "corpus" / "hdf5");
  BOOST_TEST(seeds.size() >= 3u);
  for (const fs::path& seed : seeds) {
    const bool bad = seed.filename().string().rfind("bad-", 0) == 0;
    BOOST_TEST_CONTEXT(seed.string()) {
      BOOST_TEST(fs::file_size(seed) < 20000u);  // small seeds keep the fuzzer fast
      if (bad) {
        BOOST_CHECK_THROW(fuzz::hdf5_file(seed.string()), DataError);
      } else {
        BOOST_CHECK_NO_THROW(fuzz::hdf5_file(seed.string()));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_planning_bound_counts_axes_and_repeats) {
  // 2 optimizers x 3 lr values x 4 repeats; zip and seed do not multiply.
  const GridFile grid = parse_grid("optimizer = gd adam\nlr = 1 2 3\nrepeats = 4\nseed = 7\nzip = a,b c,d\n", "g.ini");
  BOOST_TEST(fuzz::planned_points_bound(grid) == 24u);
  const GridFile huge = parse_grid("repeats = 1000000\n", "g.ini");
  BOOST_TEST(fuzz::planned_points_bound(huge) == fuzz::kMaxPlannedPoints + 1);
}
