#pragma once
// Rendering a solve report: an aligned table for the terminal, CSV (one tidy row per method,
// for pandas) and JSON (rows plus convergence traces).

#include <string>
#include <vector>

#include <kappa/experiment.hpp>

namespace kappa::cli {

struct SolveReport {
  std::string data_source;
  std::string loss;
  std::string preconditioner;
  Index samples = 0;
  Index dim = 0;
  const Experiment* experiment = nullptr;
  std::vector<RunResult> runs;
};

std::string format_table(const SolveReport& report);
std::string format_csv(const SolveReport& report);
std::string format_json(const SolveReport& report);

}  // namespace kappa::cli
