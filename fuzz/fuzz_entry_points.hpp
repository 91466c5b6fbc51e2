#pragma once
// What the fuzz targets (fuzz/*.cpp, clang + libFuzzer) and the regression replay
// (tests/unit/test_fuzz_regressions.cpp, the normal build) feed an input through, so that a
// saved crash input is replayed exactly as it was found. Each function returns normally or
// throws a kappa::Error; anything else (another exception, a crash, a sanitizer report) is a
// bug in kappa's input handling. Header-only so that both builds compile the same code.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/data/dataset.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/loader/plugin_registry.hpp"
#include "study/grid.hpp"

namespace kappa::fuzz {

// Grids with more points than this are parsed but not planned: planning a large grid is slow
// by design (one task description per point), not a bug, and would only show up as timeouts.
constexpr std::uint64_t kMaxPlannedPoints = 256;

// An upper bound of the number of tasks of a parsed grid (zip groups ignored, so it may
// overestimate), saturating at kMaxPlannedPoints + 1.
inline std::uint64_t planned_points_bound(const GridFile& grid) {
  std::uint64_t points = 1;
  for (const GridEntry& entry : grid.entries) {
    std::uint64_t factor = entry.values.size();
    if (entry.key == "zip" || entry.key == "seed") factor = 1;
    if (entry.key == "repeats") {
      try {
        const long long repeats = parse_integer(entry.values.front(), "repeats");
        factor = repeats < 1 ? 1 : static_cast<std::uint64_t>(repeats);
      } catch (const InputError&) {
        factor = 1;  // the planner refuses it
      }
    }
    if (factor > kMaxPlannedPoints || points * factor > kMaxPlannedPoints) return kMaxPlannedPoints + 1;
    points *= factor;
  }
  return points;
}

// `kappa study`'s path from grid text to tasks: parse_grid, then (with plugins loaded, and for
// grids of at most kMaxPlannedPoints points) plan_study, which validates every key and value.
inline void grid_text(const std::string& text, const PluginRegistry* registry) {
  const GridFile grid = parse_grid(text, "fuzz.ini", "/nonexistent-fuzz-dir");
  if (!registry || planned_points_bound(grid) > kMaxPlannedPoints) return;
  const StudyPlan plan = plan_study(grid, *registry);
  // Describing a task is the other half of the planner (done again on every rank).
  if (!plan.tasks.empty()) (void)plan.tasks[plan.tasks.size() - 1];
}

// `kappa solve --data FILE`'s reader.
inline void hdf5_file(const std::string& path) { (void)read_hdf5(path); }

}  // namespace kappa::fuzz
