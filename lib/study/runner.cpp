// Running study tasks on one process (study/runner.hpp).

#include "study/runner.hpp"

#include "kappa/error.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <new>
#include <optional>

#include "study/fingerprint.hpp"

namespace kappa {
namespace {

// The identity of a problem's data within a job, for the name of its shared segment: the spec
// of synthetic data (regenerated deterministically), or the file (device, inode, size and
// modification time, so that a file replaced during the job is not taken for the old one) and
// the datasets read from it.
std::string data_key(const ProblemSpec& problem) {
  StableHasher hasher;
  if (problem.data_file.empty()) {
    hasher.add("synthetic");
    hasher.add(problem.synthetic);
  } else {
    struct stat info {};
    if (::stat(problem.data_file.c_str(), &info) != 0) info = {};  // loading it then fails with the reason
    hasher.add("file");
    hasher.add(problem.data_file);
    for (const unsigned long long value :
         {static_cast<unsigned long long>(info.st_dev), static_cast<unsigned long long>(info.st_ino),
          static_cast<unsigned long long>(info.st_size), static_cast<unsigned long long>(info.st_mtim.tv_sec),
          static_cast<unsigned long long>(info.st_mtim.tv_nsec)})
      hasher.add(&value, sizeof value);
    for (const std::string* path : {&problem.paths.X_train, &problem.paths.y_train, &problem.paths.X_test, &problem.paths.y_test})
      hasher.add(*path);
  }
  return hasher.hex();
}

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

std::shared_ptr<const Experiment> build_experiment(const ProblemSpec& problem, const std::optional<SegmentJob>& shared_job) {
  if (problem.setup.formulation != Formulation::regression)
    return std::make_shared<const Experiment>(load_problem_data(problem), problem.setup);
  // A file is read straight into the layout of the problem (read_hdf5_samples); synthetic data
  // is generated, then transposed into it.
  const SampleLoader load = problem.data_file.empty()
                                ? whole_dataset_loader([&problem] { return load_problem_data(problem); })
                                : SampleLoader([&problem](const SamplePlacement& place) {
                                    const std::lock_guard<std::mutex> lock(hdf5_mutex());  // see study/results.hpp
                                    return read_hdf5_samples(problem.data_file, problem.paths, place);
                                  });
  SharedDataset data = shared_job ? shared_dataset(*shared_job, data_key(problem), load) : private_dataset(load);
  return std::make_shared<const Experiment>(std::move(data.rest), data.samples, problem.setup);
}

TaskRunner::TaskRunner(const StudyPlan& plan, std::size_t cache_bytes, long long rank, std::string host,
                       std::optional<SegmentJob> shared_job)
    : plan_(plan), cache_(cache_bytes), rank_(rank), host_(std::move(host)), shared_job_(std::move(shared_job)) {}

namespace {

// What every row of `task` holds before it runs: its identity, where it ran, and failed.
TaskOutcome begin_outcome(const StudyPlan& plan, const StudyTask& task, long long rank, const std::string& host) {
  TaskOutcome outcome;
  outcome.task = task.index;
  outcome.key = task.key;
  outcome.mpi_rank = rank;
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
  outcome.epochs = last.data_passes;  // set-up included: the last report does not tell it apart
  outcome.setup_epochs = arma::datum::nan;
  outcome.final_loss = last.loss;
  outcome.grad_norm = last.grad_norm;
  outcome.seconds = seconds;
  return outcome;
}

void TaskRunner::record(const StudyTask& task, const PlannedOptimizer& optimizer, const Experiment& experiment,
                        const RunResult& result, TaskOutcome& outcome) {
  const ProblemSpec& problem = plan_.problems.at(task.problem);
  outcome.status = to_string(result.status);
  outcome.message = result.message;
  outcome.iterations = result.iterations;
  outcome.epochs = result.data_passes - result.setup_passes;
  outcome.setup_epochs = result.setup_passes;
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
  // The step size used: an auto one resolved once per problem and parameters on this process.
  const std::string& step = optimizer.theory.step_size;
  if (optimizer.params.as_text().count(step) > 0 && optimizer.params.is_auto(step)) {
    const std::string key = problem.key + "\n" + optimizer.canonical;
    const auto found = auto_steps_.find(key);
    outcome.lr_used = found != auto_steps_.end()
                          ? found->second
                          : auto_steps_.emplace(key, used_step_size(optimizer.params, step, experiment.solver_problem())).first->second;
  } else {
    outcome.lr_used = used_step_size(optimizer.params, step, experiment.solver_problem());
  }
}

std::shared_ptr<const Experiment> TaskRunner::experiment_for(const StudyTask& task, TaskOutcome& outcome) {
  const ProblemSpec& problem = plan_.problems.at(task.problem);
  const ExperimentCache::Entry entry = cache_.get(problem.key, [this, &problem]() -> std::shared_ptr<const Experiment> {
    return build_experiment(problem, shared_job_);
  });
  outcome.setup_seconds = entry.build_seconds;
  if (!entry.experiment) {
    outcome.message = "problem cannot be built: " + entry.error;
    return nullptr;
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
  return entry.experiment;
}

TaskOutcome TaskRunner::run(std::size_t index, RunProgress* progress) {
  const StudyTask task = plan_.tasks.at(index);
  TaskOutcome outcome = begin_outcome(plan_, task, rank_, host_);
  try {
    // Created here (or kept from a recent task), not held per setting by the plan.
    const PlannedOptimizer& optimizer = optimizers_.get(task.optimizer);
    const std::shared_ptr<const Experiment> experiment = experiment_for(task, outcome);
    if (!experiment) return outcome;
    record(task, optimizer, *experiment, experiment->run(optimizer.name, *optimizer.optimizer, task.controls, progress), outcome);
  } catch (...) {
    outcome.status = to_string(Status::failed);
    outcome.message = current_exception_message();
  }
  return outcome;
}

bool TaskRunner::runs_alone(const std::vector<std::size_t>& tasks, const LockstepGroups* groups) {
  return tasks.size() == 1 && (groups == nullptr || !groups->grouped(tasks.front()));
}

std::vector<TaskOutcome> TaskRunner::run_group(const std::vector<std::size_t>& indices, const LockstepGroups* groups) {
  if (runs_alone(indices, groups)) return {run(indices.front())};
  struct Member {
    StudyTask task;
    PlannedOptimizer optimizer;  // a copy: OptimizerInstances keeps only the last one valid
    std::size_t outcome;
    std::size_t slot;
  };
  std::vector<TaskOutcome> outcomes;
  std::vector<Member> members;
  std::shared_ptr<const Experiment> experiment;
  for (std::size_t index : indices) {
    const StudyTask task = plan_.tasks.at(index);
    outcomes.push_back(begin_outcome(plan_, task, rank_, host_));
    TaskOutcome& outcome = outcomes.back();
    try {
      PlannedOptimizer optimizer = optimizers_.get(task.optimizer);
      const std::shared_ptr<const Experiment> built = experiment_for(task, outcome);
      if (!built) continue;
      if (experiment && built != experiment)
        throw Error("lockstep group: task " + std::to_string(index) + " is of another problem than task " + std::to_string(indices.front()));
      experiment = built;
      members.push_back({task, std::move(optimizer), outcomes.size() - 1, groups ? groups->slot(index) : outcomes.size() - 1});
    } catch (...) {
      outcome.status = to_string(Status::failed);
      outcome.message = current_exception_message();
    }
  }
  if (members.empty()) return outcomes;
  std::vector<GroupRun> runs;
  for (const Member& member : members)
    runs.push_back({member.optimizer.name, member.optimizer.optimizer.get(), member.task.controls, nullptr, member.slot});
  try {
    const std::size_t width = groups ? groups->width(indices.front()) : indices.size();
    double shared = 0;
    const std::vector<RunResult> results = experiment->run_group(runs, width, &shared);
    for (std::size_t i = 0; i < members.size(); ++i) {
      TaskOutcome& outcome = outcomes[members[i].outcome];
      record(members[i].task, members[i].optimizer, *experiment, results[i], outcome);
      outcome.lockstep_size = static_cast<long long>(members.size());
      outcome.shared_epochs = shared;
    }
  } catch (...) {
    for (const Member& member : members) {
      outcomes[member.outcome].status = to_string(Status::failed);
      outcomes[member.outcome].message = current_exception_message();
    }
  }
  return outcomes;
}

}  // namespace kappa
