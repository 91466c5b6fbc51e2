#pragma once
// Running study tasks on one process: an LRU cache of Experiments (data, problem,
// preconditioner and direct solution, built once per process and problem) and a runner that
// turns every task into a TaskOutcome without ever throwing. Nothing here depends on MPI.

#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/data/shared_segment.hpp"
#include "core/experiment/experiment.hpp"
#include "study/grid.hpp"
#include "study/lockstep_groups.hpp"
#include "study/results.hpp"
#include "core/theory/theory.hpp"

namespace kappa {

// Bytes an Experiment holds, estimated from its matrices: the training matrix twice (dataset
// and design), the test matrix twice (dataset and test design), targets, the reference, and
// d^2 for a preconditioner that keeps a dense d x d factor.
std::size_t estimated_bytes(const Experiment& experiment);

// The row of a task whose process died or was killed before it answered (status crashed):
// `message` says how; iterations, epochs, loss and gradient norm are those of `last` (the last
// progress report; iterations -1 when the run had not reported yet), the evaluation NaN.
TaskOutcome crashed_outcome(const StudyPlan& plan, std::size_t task, long long rank, const std::string& host,
                            const std::string& message, const RunProgress::Snapshot& last, double seconds);

class ExperimentCache {
 public:
  struct Entry {
    std::shared_ptr<const Experiment> experiment;  // null when the build failed
    std::string error;                             // why it failed
    double build_seconds = 0;                      // 0 when found in the cache
  };

  // `memory_bound` in bytes. The most recently used Experiment is always kept, even if it
  // alone exceeds the bound; others are evicted least recently used first.
  explicit ExperimentCache(std::size_t memory_bound) : memory_bound_(memory_bound) {}

  // The Experiment of `key`, built with `build` on a miss. A build that throws is remembered as
  // its message (and costs no memory), so a missing file fails each of its tasks at once.
  Entry get(const std::string& key, const std::function<std::shared_ptr<const Experiment>()>& build);

  std::size_t builds() const { return builds_; }
  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Slot {
    std::string key;
    Entry entry;
    std::size_t bytes = 0;
  };
  std::size_t memory_bound_;
  std::list<Slot> entries_;  // most recently used first
  std::size_t bytes_ = 0;
  std::size_t builds_ = 0;
};

// The Experiment of a problem. With `shared_job`, a regression problem's training design is the
// node's one read-only copy for that job (shared_dataset: loaded by the first process of the node
// that needs it, mapped by the others; docs/study.md, "One copy of the data per node");
// without, a private copy of the same layout, so that both give identical results. A
// kernel-system problem is always built from its own copy.
std::shared_ptr<const Experiment> build_experiment(const ProblemSpec& problem, const std::optional<SegmentJob>& shared_job);

class TaskRunner {
 public:
  // `rank` and `host` are recorded in every outcome; `shared_job`: see build_experiment.
  TaskRunner(const StudyPlan& plan, std::size_t cache_bytes, long long rank, std::string host,
             std::optional<SegmentJob> shared_job = std::nullopt);

  // Runs one task: never throws. A problem that cannot be built, an optimizer that throws,
  // diverges or hits its time limit all become the outcome's status and message. `progress`
  // (may be null) follows the run's reports (a task process sends it with its heartbeats).
  TaskOutcome run(std::size_t task, RunProgress* progress = nullptr);

  // Runs the tasks of a lockstep group (study/lockstep_groups.hpp: one problem) together
  // (Experiment::run_group), each into the outcome run() would give up to rounding (seconds
  // are each run's share), each in its slot of `groups` (null: slots 0, 1, ... of a group of
  // exactly these tasks). Never throws. The passes the group made for all of them are each
  // outcome's shared_epochs.
  std::vector<TaskOutcome> run_group(const std::vector<std::size_t>& tasks, const LockstepGroups* groups);
  // Whether `tasks` run by run() rather than run_group(): one task that `groups` (null: none)
  // does not group. A grouped task alone (the rest of its group done before a --resume, or run
  // again after its group's task process died) is a group of one, so its bits are the whole
  // group's: the multi-point kernels sum each run alike whatever its companions, the single-run
  // path in another order.
  static bool runs_alone(const std::vector<std::size_t>& tasks, const LockstepGroups* groups);

  const ExperimentCache& cache() const { return cache_; }

 private:
  // The task's Experiment from the cache (built on a miss), with the outcome's problem columns
  // set; null, with the outcome's message, when the problem cannot be built.
  std::shared_ptr<const Experiment> experiment_for(const StudyTask& task, TaskOutcome& outcome);
  // The outcome's result columns from `result`, and the theory's prediction.
  void record(const StudyTask& task, const PlannedOptimizer& optimizer, const Experiment& experiment, const RunResult& result,
              TaskOutcome& outcome);

  struct Spectrum {
    bool tried = false;
    std::optional<HessianSpectrum> value;  // empty: the problem has none (l1, ...)
  };

  const StudyPlan& plan_;
  ExperimentCache cache_;
  std::map<std::string, Spectrum> spectra_;  // by problem key: small (one value per dimension)
  std::map<std::string, double> auto_steps_;  // lr=auto resolved, by problem key and parameters
  OptimizerInstances optimizers_{plan_.optimizers};  // the last few settings it ran
  long long rank_;
  std::string host_;
  std::optional<SegmentJob> shared_job_;
};

}  // namespace kappa
