#pragma once
// Rendering a solve report: an aligned table for the terminal, CSV (one tidy row per method,
// for pandas) and JSON (setup, rows and convergence traces). The files record everything
// needed to reproduce the run: data source, loss, ridge, intercept, preconditioner, reference
// method, stopping controls and each optimizer's validated parameters.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/experiment/experiment.hpp"

namespace kappa::cli {

struct SolveRun {
  RunResult result;
  std::map<std::string, std::string> params;  // the validated values as text (Params::as_text)
  // Theory beside measurement (theory.hpp): iterations predicted for this run's method class to
  // reach grad_tol (NaN: no prediction; infinity: does not converge) and the formula used.
  double predicted_iterations = arma::datum::nan;
  bool predicted_is_bound = false;  // a worst-case bound (CG, accelerated): shown as "<=N"
  std::string prediction;
  double lr_used = arma::datum::nan;  // the step size it used (used_step_size)
};

struct SolveReport {
  const Experiment* experiment = nullptr;  // data, setup, preconditioner, reference solution
  RunControls controls;
  std::optional<DatasetPaths> file_paths;  // the datasets read, when the data came from a file
  std::vector<SolveRun> runs;
};

std::string format_table(const SolveReport& report);
std::string format_csv(const SolveReport& report);
std::string format_json(const SolveReport& report);

}  // namespace kappa::cli
