// Running study tasks on one process (study/runner.hpp).

#include "study/runner.hpp"

#include <chrono>
#include <cmath>
#include <exception>
#include <new>
#include <optional>

namespace kappa {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The message of the exception being handled, whatever its type.
std::string current_exception_message() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return "out of memory (the problem is too large for this process)";
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "failed with a non-standard exception";
  }
}

}  // namespace

std::size_t estimated_bytes(const Experiment& experiment) {
  // The problem's samples (and a materialized preconditioned copy of them), the test part, the
  // reference, and d x d for a dense preconditioner.
  const Dataset& data = experiment.data();
  const std::size_t n = experiment.problem().num_samples();
  const std::size_t d = experiment.problem().dim();
  const auto* linear = dynamic_cast<const LinearModelProblem*>(&experiment.problem());
  const std::size_t sample_bytes = linear != nullptr && linear->precision() == Precision::float32 ? sizeof(float) : sizeof(real);
  const auto* preconditioned = dynamic_cast<const PreconditionedProblem*>(&experiment.solver_problem());
  const std::size_t copies = preconditioned != nullptr && preconditioned->evaluation() == PreconditionedEvaluation::materialized ? 2 : 1;
  const std::size_t values = 2 * data.X_test.n_elem + 2 * n + data.y_test.n_elem + experiment.reference().w.n_elem +
                             experiment.reference().singular_values.n_elem + d * d;
  return copies * n * d * sample_bytes + values * sizeof(real);
}

ExperimentCache::Entry ExperimentCache::get(const std::string& key, const std::function<std::shared_ptr<const Experiment>()>& build) {
  for (auto slot = entries_.begin(); slot != entries_.end(); ++slot)
    if (slot->key == key) {
      entries_.splice(entries_.begin(), entries_, slot);  // now the most recently used
      Entry entry = entries_.front().entry;
      entry.build_seconds = 0;
      return entry;
    }
  Slot slot;
  slot.key = key;
  const auto start = std::chrono::steady_clock::now();
  ++builds_;
  try {
    slot.entry.experiment = build();
    slot.bytes = estimated_bytes(*slot.entry.experiment);
  } catch (...) {
    slot.entry.experiment.reset();
    slot.entry.error = current_exception_message();
  }
  slot.entry.build_seconds = seconds_since(start);
  bytes_ += slot.bytes;
  entries_.push_front(std::move(slot));
  // Evict least recently used first, never the entry just built.
  while (bytes_ > memory_bound_ && entries_.size() > 1) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
  return entries_.front().entry;
}

TaskRunner::TaskRunner(const StudyPlan& plan, std::size_t cache_bytes, long long rank, std::string host)
    : plan_(plan), cache_(cache_bytes), rank_(rank), host_(std::move(host)) {}

namespace {

// What every row of `task` holds before it runs: its identity, where it ran, and failed.
TaskOutcome begin_outcome(const StudyPlan& plan, const StudyTask& task, long long rank, const std::string& host) {
  TaskOutcome outcome;
  outcome.task = task.index;
  outcome.key = task.key;
  outcome.rank = rank;
  outcome.host = host;
  outcome.method_class = to_string(plan.optimizers.theory(task.optimizer).method);  // what the plugin declared
  outcome.status = to_string(Status::failed);
  return outcome;
}

}  // namespace

TaskOutcome crashed_outcome(const StudyPlan& plan, std::size_t index, long long rank, const std::string& host,
                            const std::string& message, const RunProgress::Snapshot& last, double seconds) {
  TaskOutcome outcome = begin_outcome(plan, plan.tasks.at(index), rank, host);
  outcome.status = to_string(Status::crashed);
  outcome.message = message;
  outcome.iterations = last.iteration;
  outcome.epochs = last.data_passes;
  outcome.final_loss = last.loss;
  outcome.grad_norm = last.grad_norm;
  outcome.seconds = seconds;
  return outcome;
}

TaskOutcome TaskRunner::run(std::size_t index, RunProgress* progress) {
  const StudyTask task = plan_.tasks.at(index);
  const ProblemSpec& problem = plan_.problems.at(task.problem);
  TaskOutcome outcome = begin_outcome(plan_, task, rank_, host_);
  try {
    // Created here (or kept from a recent task), not held per setting by the plan.
    const PlannedOptimizer& optimizer = optimizers_.get(task.optimizer);
    const ExperimentCache::Entry entry = cache_.get(problem.key, [&problem]() -> std::shared_ptr<const Experiment> {
      return std::make_shared<const Experiment>(load_problem_data(problem), problem.setup);
    });
    outcome.setup_seconds = entry.build_seconds;
    if (!entry.experiment) {
      outcome.message = "problem cannot be built: " + entry.error;
      return outcome;
    }
    const Experiment& experiment = *entry.experiment;
    outcome.samples = static_cast<long long>(experiment.problem().num_samples());
    outcome.features = static_cast<long long>(experiment.problem().dim());
    // The condition number of the least-squares system the svd reference solved (l2 regression
    // only: for l1/huber the singular values are those of the last IRLS-weighted system), as
    // kappa solve and diagnose print it: inf when rank-deficient (numerical_rank, dense_solve.hpp).
    const std::optional<NumericalRank>& system_rank = experiment.reference_design().rank;
    if (problem.setup.formulation == Formulation::regression && problem.setup.loss.kind == LossKind::l2 && system_rank &&
        system_rank->rank > 0)
      outcome.condition_number = system_rank->condition;

    const RunResult result = experiment.run(optimizer.name, *optimizer.optimizer, task.controls, progress);
    outcome.status = to_string(result.status);
    outcome.message = result.message;
    outcome.iterations = result.iterations;
    outcome.epochs = result.data_passes;
    outcome.seconds = result.seconds;
    outcome.final_loss = result.evaluation.train_loss;
    outcome.loss_gap = result.evaluation.loss_gap;
    outcome.grad_norm = result.grad_norm;
    outcome.relative_weight_error = result.evaluation.relative_weight_error;
    outcome.relative_weight_error_range = result.evaluation.relative_weight_error_range;
    outcome.weight_norm = result.evaluation.weight_norm;
    outcome.test_mae = result.evaluation.test_mae;
    outcome.test_rmse = result.evaluation.test_rmse;
    outcome.trace = result.trace;

    // THEORY HOOK: the predicted iteration count (theory.hpp) to reduce the error by grad_tol,
    // from the spectrum of the preconditioned Hessian, computed once per problem on this
    // process. NaN where the theory has no prediction (l1, adam, lbfgs, grad_tol = 0, ...).
    const auto predicted = [&]() -> double {
      if (!(task.controls.grad_tol > 0)) return arma::datum::nan;
      const auto& params = optimizer.params.as_text();
      // The class and parameter names its plugin declared (OptimizerInfo::theory).
      const MethodTheory& theory = optimizer.theory;
      if (effective_method_class(theory, params, experiment.problem().num_samples()) == MethodClass::none) return arma::datum::nan;
      auto& spectrum = spectra_[problem.key];
      if (!spectrum.tried) {
        spectrum.tried = true;
        try {
          spectrum.value = hessian_spectrum(experiment.problem(), experiment.preconditioner());
        } catch (...) {
          spectrum.value.reset();  // no Hessian (l1) or another problem kind: no prediction
        }
      }
      if (!spectrum.value) return arma::datum::nan;
      return predict_iterations(theory, params, *spectrum.value, task.controls.grad_tol,
                                experiment.problem().num_samples()).iterations;
    };
    try {
      outcome.predicted_iterations = predicted();
    } catch (...) {
      outcome.predicted_iterations = arma::datum::nan;
    }
  } catch (...) {
    outcome.status = to_string(Status::failed);
    outcome.message = current_exception_message();
  }
  return outcome;
}

}  // namespace kappa
