#pragma once
// The framework-owned monitor. Every optimizer reports to it once per iteration; it alone
// decides when a run stops and why, so the stopping rules mean the same for every plugin.
//
// An iteration is one update of the weights. Iteration 0 is the starting point; optimizers
// report it before their first update. An epoch is n samples' worth of work: the problem's
// data_passes() (rows touched / n), so one full-batch gradient is one epoch, and a minibatch
// of b rows is b/n of one.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "kappa/types.hpp"

namespace kappa {

// Exactly one of these ends every run.
enum class Status {
  converged_gradient,  // |grad f(w_k)| <= grad_tol * max(|grad f(w_0)|, tiny), or |grad f(w_k)| = 0
  converged_loss,      // |f(w_{k-1}) - f(w_k)| <= loss_tol * max(|f(w_k)|, tiny), both reported
  max_iterations,      // k reached max_iterations
  max_epochs,          // the work since the start reached max_epochs data passes
  time_limit,          // wall time exceeded time_limit seconds
  diverged,            // loss or gradient not finite, or f(w_k) > divergence_factor * max(f(w_0), tiny)
  failed,              // the optimizer gave up or threw; the message says why
};

std::string to_string(Status status);
inline std::ostream& operator<<(std::ostream& out, Status status) { return out << to_string(status); }

// The settings of one run that are not the optimizer's own parameters: when to stop, how to
// trace, and the seed of every random choice the optimizer makes (minibatch order, ...).
struct RunControls {
  long max_iterations = 1000;
  double max_epochs = 0.0;         // data passes after the report of iteration 0 (set-up such as
                                   // lr=auto's Lanczos steps is not charged); 0 means none
  real grad_tol = 1e-10;           // relative to the initial gradient norm, in [0, 1); 0 disables
                                   // (a gradient that is exactly zero always converges)
  real loss_tol = 0.0;             // relative change between iterations; 0 disables
  double time_limit = 0.0;         // seconds of wall time; 0 means none
  real divergence_factor = 1e10;   // loss growth over the initial loss that counts as divergence
  int trace_points_per_decade = 10;
  std::uint64_t seed = 0;          // same seed, same run, bit for bit

  // Throws InputError naming the control for out-of-range values. grad_tol must be < 1: a
  // tolerance >= 1 would stop every run at iteration 0 as "converged".
  void validate() const;
};

// A point of the convergence trace. The trace keeps iteration 0, then iterations spaced
// logarithmically (about trace_points_per_decade per decade), and always the last one.
struct TracePoint {
  long iteration = 0;
  double seconds = 0.0;
  double data_passes = 0.0;
  real loss = 0.0;
  real grad_norm = 0.0;
  real relative_weight_error = arma::datum::nan;  // NaN when no reference was given
};

class Monitor {
 public:
  // `relative_error(w)` computes |P w - w*| / |w*| for a solver-space w; it is called only at
  // trace points. `data_passes()` reports the problem's work counter.
  Monitor(const RunControls& controls, std::function<real(const Vec&)> relative_error,
          std::function<double()> data_passes);

  // Reports the state after iteration `iteration` (0 = the starting point). Returns true when
  // the run must stop; the optimizer then returns with w as reported.
  bool report(long iteration, real loss, real grad_norm, const Vec& w);

  // For optimizers that do not evaluate the full objective at every iteration (minibatch
  // methods): whether iteration `iteration` must be reported, because it is a trace point or a
  // budget (iterations, epochs, time) is reached. Reporting only those iterations gives the
  // same trace and the same budget stops as reporting all of them; the tolerance rules are
  // checked at those iterations only (grad_tol at the first trace point after it holds;
  // loss_tol on a consecutive pair, the iteration before each trace point being due too).
  bool report_due(long iteration) const;

  // The optimizer cannot go on (line search failed, unsupported problem, ...).
  void fail(const std::string& message);

  // For an optimizer that returns on its own (e.g. an exact method that is done): records the
  // final state and picks the status from the rules above; if no rule holds, the run failed
  // with `message`.
  void finish(long iteration, real loss, real grad_norm, const Vec& w, const std::string& message);

  // Called by the framework after minimize() returns (or throws), whether or not the run
  // already stopped: makes sure the last reported state is the last trace point, and marks a
  // run that returned without stopping as failed. The status of a stopped run is kept.
  void close(const Vec& w);

  bool stopped() const { return stopped_; }
  Status status() const { return status_; }
  const std::string& message() const { return message_; }
  // Whether any iteration was reported. Before that, final_loss() and final_grad_norm() are NaN.
  bool reported() const { return started_; }
  long iterations() const { return last_.iteration; }
  real final_loss() const { return started_ ? last_.loss : arma::datum::nan; }
  real final_grad_norm() const { return started_ ? last_.grad_norm : arma::datum::nan; }
  double seconds() const;
  const std::vector<TracePoint>& trace() const { return trace_; }
  const RunControls& controls() const { return controls_; }
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
  std::vector<TracePoint> trace_;
  TracePoint first_;
  TracePoint last_;
  long next_trace_iteration_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  Status status_ = Status::failed;
  std::string message_;
  std::optional<Vec> stopping_weights_;
};

}  // namespace kappa
