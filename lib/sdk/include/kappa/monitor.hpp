#pragma once
// The run monitor's plugin-facing side. Every optimizer reports to it once per iteration; the
// framework alone decides when a run stops and why, so the stopping rules mean the same for every
// plugin.
//
// An iteration is one update of the weights. Iteration 0 is the starting point; optimizers
// report it before their first update. An epoch is n samples' worth of work: the problem's
// data_passes() (rows touched / n), so one full-batch gradient is one epoch, and a minibatch
// of b rows is b/n of one.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "kappa/types.hpp"

namespace kappa {

class Problem;

// Exactly one of these ends every run.
enum class Status {
  converged_gradient,  // |grad f(w_k)| <= grad_tol * max(|grad f(w_0)|, tiny), or |grad f(w_k)| = 0
  converged_loss,      // |f(w_{k-1}) - f(w_k)| <= loss_tol * max(|f(w_k)|, tiny), both reported
  max_iterations,      // k reached max_iterations
  max_epochs,          // the work since the start reached max_epochs data passes
  time_limit,          // wall time exceeded time_limit seconds
  converged_precision, // the run reached the rounding level of its method: its own test at machine
                       // precision (finish_at_precision), or, judged by the framework when a run
                       // ends otherwise, a true gradient within its rounding floor. Like
                       // converged_gradient a statement about the gradient: along the small
                       // singular directions |w - w*| can stay far above what other methods reach
  optimizer_rule,      // the optimizer's own stopping rule ended the run (e.g. torch.optim.LBFGS's
                       // tolerance_change); the message names the rule and its values
  diverged,            // loss or gradient not finite, or f(w_k) > divergence_factor * max(f(w_0), tiny)
  failed,              // the optimizer gave up or threw; the message says why
  crashed,             // set by the framework only, never by a plugin: the process running the
                       // optimizer died (a signal, an exit), or was killed for running past
                       // time_limit plus a grace or for not answering; the message says which,
                       // and the values are those of its last progress report
};

std::string to_string(Status status);
Status parse_status(const std::string& text);  // InputError naming the known statuses
// Every status, in enum order (for tables that count them).
std::vector<Status> all_statuses();
// Whether a status is one of the converged ones (converged-gradient, converged-loss,
// converged-precision).
bool is_converged(Status status);
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

// What an optimizer reports to. The framework owns the concrete monitor (a run's stopping
// rules, trace and clock; core/experiment/run_monitor.hpp) and passes this interface to
// Optimizer::minimize: a plugin can report and end its run, never close or reset it.
class Monitor {
 public:
  virtual ~Monitor() = default;

  // Reports the state after iteration `iteration` (0 = the starting point). Returns true when
  // the run must stop; the optimizer then returns with w as reported.
  virtual bool report(long iteration, real loss, real grad_norm, const Vec& w) = 0;

  // Reports the FULL objective at w, evaluated by the framework and not counted as the
  // optimizer's work: for optimizers that do not evaluate it themselves (minibatch methods).
  // Returns what report() returns.
  virtual bool report_objective(long iteration, const Problem& problem, const Vec& w) = 0;

  // For optimizers that do not evaluate the full objective at every iteration (minibatch
  // methods): whether iteration `iteration` must be reported, because it is a trace point or a
  // budget (iterations, epochs, time) is reached. Reporting only those iterations gives the
  // same trace and the same budget stops as reporting all of them; the tolerance rules are
  // checked at those iterations only (grad_tol at the first trace point after it holds;
  // loss_tol on a consecutive pair, the iteration before each trace point being due too).
  virtual bool report_due(long iteration) const = 0;

  // The optimizer cannot go on (line search failed, unsupported problem, ...).
  virtual void fail(const std::string& message) = 0;

  // For an optimizer that returns on its own (e.g. an exact method that is done): records the
  // final state and picks the status from the rules above; if no rule holds, the run failed
  // with `message`.
  virtual void finish(long iteration, real loss, real grad_norm, const Vec& w, const std::string& message) = 0;

  // The loss of the last report (NaN before the first): e.g. f(w_0) after report_objective(0, ...).
  virtual real last_reported_loss() const = 0;
  // The optimizer's own test shows that it reached the accuracy floating point allows for its
  // method (e.g. a direct solve within its forward-error bound, LSQR's test S1 at machine
  // precision): status converged-precision with `evidence`, the test and its values, as the
  // message, unless a RunControls rule holds at that report (then that rule's status).
  virtual void finish_at_precision(long iteration, real loss, real grad_norm, const Vec& w, const std::string& evidence) = 0;

  // The optimizer's own stopping rule (not one of RunControls) ends the run, as a method whose
  // semantics include such rules does (torch_lbfgs): status optimizer-rule, with `message`
  // naming the rule and its values, e.g. "tolerance_change: g.d = -7.6e-10 > -1e-9 at
  // iteration 383". w is the run's result; iteration, loss and grad_norm are reported first.
  virtual void stop_by_rule(long iteration, real loss, real grad_norm, const Vec& w, const std::string& message) = 0;

  // Whether the run has stopped (a report returned true, or fail/finish was called).
  virtual bool stopped() const = 0;
  virtual const RunControls& controls() const = 0;
};

}  // namespace kappa
