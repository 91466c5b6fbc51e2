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

#include "core/experiment/experiment.hpp"
#include "study/grid.hpp"
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

class TaskRunner {
 public:
  // `rank` and `host` are recorded in every outcome.
  TaskRunner(const StudyPlan& plan, std::size_t cache_bytes, long long rank, std::string host);

  // Runs one task: never throws. A problem that cannot be built, an optimizer that throws,
  // diverges or hits its time limit all become the outcome's status and message. `progress`
  // (may be null) follows the run's reports (a task process sends it with its heartbeats).
  TaskOutcome run(std::size_t task, RunProgress* progress = nullptr);

  const ExperimentCache& cache() const { return cache_; }

 private:
  struct Spectrum {
    bool tried = false;
    std::optional<HessianSpectrum> value;  // empty: the problem has none (l1, ...)
  };

  const StudyPlan& plan_;
  ExperimentCache cache_;
  std::map<std::string, Spectrum> spectra_;  // by problem key: small (one value per dimension)
  OptimizerInstances optimizers_{plan_.optimizers};  // the last few settings it ran
  long long rank_;
  std::string host_;
};

}  // namespace kappa
