#pragma once
// The framework's monitor of one run: it applies the stopping rules of RunControls (every
// status of kappa/monitor.hpp means the same for every plugin), records the trace, keeps the
// clock, and measures the full objective for minibatch methods without charging the
// optimizer. Optimizers see it only as a kappa::Monitor; close() and the trace are the
// framework's (Experiment::run, tests).

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include "kappa/monitor.hpp"
#include "kappa/problem.hpp"

namespace kappa {

// How far a run has got, readable from another thread while it runs: a task process sends it
// with its heartbeats (apps/task_process.hpp), so that a task whose process dies still records
// the last iteration it reported. Relaxed atomics: the values are a progress report, not a
// result, and may be one report apart.
struct RunProgress {
  struct Snapshot {
    bool running = false;  // the optimizer's run has begun (the problem is built)
    long iteration = -1;   // -1: nothing reported yet
    double data_passes = 0;
    double loss = arma::datum::nan;
    double grad_norm = arma::datum::nan;
  };
  std::atomic<bool> running{false};
  std::atomic<long> iteration{-1};
  std::atomic<double> data_passes{0};
  std::atomic<double> loss{arma::datum::nan};
  std::atomic<double> grad_norm{arma::datum::nan};

  Snapshot snapshot() const {
    return {running.load(std::memory_order_relaxed), iteration.load(std::memory_order_relaxed), data_passes.load(std::memory_order_relaxed),
            loss.load(std::memory_order_relaxed), grad_norm.load(std::memory_order_relaxed)};
  }
  void reset() {
    running.store(false, std::memory_order_relaxed);
    iteration.store(-1, std::memory_order_relaxed);
    data_passes.store(0, std::memory_order_relaxed);
    loss.store(arma::datum::nan, std::memory_order_relaxed);
    grad_norm.store(arma::datum::nan, std::memory_order_relaxed);
  }
};

class RunMonitor final : public Monitor {
 public:
  // `relative_error(w)` computes |P w - w*| / |w*| for a solver-space w; it is called only at
  // trace points. `data_passes()` reports the problem's work counter.
  RunMonitor(const RunControls& controls, std::function<real(const Vec&)> relative_error,
             std::function<double()> data_passes);

  bool report(long iteration, real loss, real grad_norm, const Vec& w) override;
  bool report_objective(long iteration, const Problem& problem, const Vec& w) override;
  bool report_due(long iteration) const override;
  void fail(const std::string& message) override;
  void finish(long iteration, real loss, real grad_norm, const Vec& w, const std::string& message) override;
  void stop_by_rule(long iteration, real loss, real grad_norm, const Vec& w, const std::string& message) override;
  void finish_at_precision(long iteration, real loss, real grad_norm, const Vec& w, const std::string& evidence) override;
  real last_reported_loss() const override { return final_loss(); }
  bool stopped() const override { return stopped_; }
  const RunControls& controls() const override { return controls_; }

  // Called by the framework after minimize() returns (or throws), whether or not the run
  // already stopped: makes sure the last reported state is the last trace point, and marks a
  // run that returned without stopping as failed. The status of a stopped run is kept.
  void close(const Vec& w);

  // The run's clock: seconds since the run began. By default the wall time since construction;
  // a lockstep group gives each run its own share (core/experiment/lockstep.hpp).
  void set_clock(std::function<double()> seconds) { clock_ = std::move(seconds); }

  // Every report is copied to `progress` (null: none), which must outlive the run.
  void observe(RunProgress* progress) {
    progress_ = progress;
    if (progress_) progress_->running.store(true, std::memory_order_relaxed);
  }

  // After close(), for a run that ended failed or on a budget (max-iterations, max-epochs,
  // time-limit): evaluates the true gradient at the result w (not counted as work) and its
  // rounding floor: the problem's estimate of that gradient's own rounding error, with, in
  // quadrature, the gradient change that rounding w to double causes (|H (u w o s)|, s random
  // signs: one Hessian-vector product); when |grad f(w)| is within kPrecisionFactor times the
  // floor, the computed gradient is rounding noise, no
  // method can go further from it, and the status becomes converged-precision (the message
  // keeps what ended the run). A converged or diverged run, or a problem without an estimate
  // (l1), is left as it is.
  void judge_precision(const Problem& problem, const Vec& w);
  static constexpr real kPrecisionFactor = 4;

  Status status() const { return status_; }
  const std::string& message() const { return message_; }
  // Whether any iteration was reported. Before that, final_loss() and final_grad_norm() are NaN.
  bool reported() const { return started_; }
  long iterations() const { return last_.iteration; }
  // The work counter at the report of iteration 0 (set-up such as lr=auto's Lanczos steps and
  // the evaluation of w_0), from which max_epochs counts; the whole count when nothing was reported.
  double setup_passes() const { return started_ ? first_.data_passes : data_passes_ ? data_passes_() : 0.0; }
  real final_loss() const { return started_ ? last_.loss : arma::datum::nan; }
  real final_grad_norm() const { return started_ ? last_.grad_norm : arma::datum::nan; }
  double seconds() const;
  const std::vector<TracePoint>& trace() const { return trace_; }
  // The weights of the report (or finish) that stopped the run, copied once at that moment:
  // the result of the run even if the optimizer changes w afterwards. Empty when the run was
  // not stopped by a report (not stopped, or stopped by fail()).
  const std::optional<Vec>& stopping_weights() const { return stopping_weights_; }

 private:
  void stop(Status status, std::string message);
  void record(const TracePoint& point, const Vec& w);
  bool check_rules(const TracePoint& point);

  RunControls controls_;
  std::function<real(const Vec&)> relative_error_;
  std::function<double()> data_passes_;
  std::chrono::steady_clock::time_point start_;
  std::function<double()> clock_;  // empty: the wall time since start_
  std::vector<TracePoint> trace_;
  TracePoint first_;
  TracePoint last_;
  long next_trace_iteration_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  Status status_ = Status::failed;
  std::string message_;
  std::optional<Vec> stopping_weights_;
  Vec objective_gradient_;  // scratch of report_objective
  RunProgress* progress_ = nullptr;
};

}  // namespace kappa
