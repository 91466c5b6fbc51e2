// The framework's run monitor (core/experiment/run_monitor.hpp).
#include "core/experiment/run_monitor.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/experiment/framework_access.hpp"

namespace kappa {
namespace {

// Guards the relative tests against a zero initial gradient or loss.
constexpr real tiny = std::numeric_limits<real>::min();

// The gradient cannot be smaller than the change that rounding w itself to double causes: w
// is stored componentwise to u |w_k| (u the unit roundoff), so even w* rounded has a gradient of
// about |H (u w o s)|, s random signs (rounding errors behave as independent, Higham & Mary
// 2019, as in compute_gradient_rounding). Evaluating the gradient at w (the Problem's estimate)
// does not see it: on unscaled positive columns H's entries add coherently and this term
// dominates (a polynomial design: 1e-10 against 1e-12). One Hessian-vector product, not counted
// as work; 0 without a Hessian (l1).
real representation_rounding(const Problem& problem, const Vec& w) {
  if (!problem.has_hessian()) return 0;
  Vec signed_w(w.n_elem);
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;  // a fixed sequence: the judgement is reproducible
  for (arma::uword k = 0; k < w.n_elem; ++k) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    signed_w(k) = (state >> 63) ? w(k) : -w(k);
  }
  Vec product;
  detail::FrameworkAccess::hess_vec_uncounted(problem, w, signed_w * (std::numeric_limits<real>::epsilon() / 2), product);
  const real norm = arma::norm(product);
  return std::isfinite(norm) ? norm : 0;
}

}  // namespace

RunMonitor::RunMonitor(const RunControls& controls, std::function<real(const Vec&)> relative_error,
                       std::function<double()> data_passes)
    : controls_(controls),
      relative_error_(std::move(relative_error)),
      data_passes_(std::move(data_passes)),
      start_(std::chrono::steady_clock::now()) {
  controls_.validate();
}

double RunMonitor::seconds() const {
  if (clock_) return clock_();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void RunMonitor::stop(Status status, std::string message) {
  if (stopped_) return;  // the first reason stands
  stopped_ = true;
  status_ = status;
  message_ = std::move(message);
}

void RunMonitor::record(const TracePoint& point, const Vec& w) {
  if (!trace_.empty() && trace_.back().iteration == point.iteration) trace_.pop_back();
  TracePoint recorded = point;
  if (relative_error_) recorded.relative_weight_error = relative_error_(w);
  trace_.push_back(recorded);
  // Next trace iteration: geometric spacing, 10^(1/points_per_decade), at least one step on.
  const double factor = std::pow(10.0, 1.0 / controls_.trace_points_per_decade);
  next_trace_iteration_ = std::max(point.iteration + 1, static_cast<long>(std::ceil(point.iteration * factor)));
}

bool RunMonitor::check_rules(const TracePoint& point) {
  if (!std::isfinite(point.loss) || !std::isfinite(point.grad_norm)) {
    stop(Status::diverged, "loss or gradient is not finite at iteration " + std::to_string(point.iteration));
  } else if (point.loss > controls_.divergence_factor * std::max<real>(std::fabs(first_.loss), tiny)) {
    std::ostringstream message;
    message << "loss grew by more than a factor " << format_number(controls_.divergence_factor) << " over its initial value at iteration "
            << point.iteration;
    stop(Status::diverged, message.str());
  } else if (point.grad_norm == 0 ||
             (controls_.grad_tol > 0 && point.grad_norm <= controls_.grad_tol * std::max(first_.grad_norm, tiny))) {
    // An exactly zero gradient is the minimizer (of a convex problem) whatever grad_tol, also 0.
    stop(Status::converged_gradient, "");
  } else if (controls_.loss_tol > 0 && point.iteration > 0 && last_.iteration == point.iteration - 1 &&
             std::fabs(last_.loss - point.loss) <= controls_.loss_tol * std::max<real>(std::fabs(point.loss), tiny)) {
    stop(Status::converged_loss, "");
  } else if (point.iteration >= controls_.max_iterations) {
    stop(Status::max_iterations, "");
  } else if (controls_.max_epochs > 0 && point.data_passes - first_.data_passes >= controls_.max_epochs) {
    stop(Status::max_epochs, "");
  } else if (controls_.time_limit > 0 && point.seconds >= controls_.time_limit) {
    stop(Status::time_limit, "");
  }
  return stopped_;
}

bool RunMonitor::report(long iteration, real loss, real grad_norm, const Vec& w) {
  if (stopped_) return true;
  // What no computation produces is a plugin's bug, not a result: a negative norm would read as
  // converged-gradient, an iteration count that goes back would break the trace. (Non-finite
  // values are a result: the run diverged, check_rules.)
  const std::string bad = grad_norm < 0 ? "a negative gradient norm " + format_number(grad_norm)
                          : iteration < 0 ? "a negative iteration number"
                          : started_ && iteration < last_.iteration
                              ? "iteration " + std::to_string(iteration) + " after iteration " + std::to_string(last_.iteration)
                              : "";
  if (!bad.empty()) {
    stop(Status::failed, "the optimizer reported " + bad + " (at iteration " + std::to_string(iteration) +
                             "): a bug in the plugin, not a result");
    return true;
  }
  TracePoint point;
  point.iteration = iteration;
  point.seconds = seconds();
  point.data_passes = data_passes_ ? data_passes_() : 0.0;
  point.loss = loss;
  point.grad_norm = grad_norm;
  if (!started_) {
    started_ = true;
    first_ = point;
  }
  if (progress_) {
    progress_->iteration.store(iteration, std::memory_order_relaxed);
    progress_->data_passes.store(point.data_passes, std::memory_order_relaxed);
    progress_->loss.store(loss, std::memory_order_relaxed);
    progress_->grad_norm.store(grad_norm, std::memory_order_relaxed);
  }
  const bool stop_now = check_rules(point);
  last_ = point;
  if (stop_now) {
    // The result of the run: kept even if the optimizer changes w after being stopped.
    stopping_weights_ = w;
  }
  if (stop_now || iteration == 0 || iteration >= next_trace_iteration_) record(point, w);
  return stop_now;
}

bool RunMonitor::report_due(long iteration) const {
  if (stopped_ || !started_ || iteration == 0 || iteration >= next_trace_iteration_) return true;
  // loss_tol compares consecutive iterations: report the one before each trace point too.
  if (controls_.loss_tol > 0 && iteration + 1 >= next_trace_iteration_) return true;
  if (iteration >= controls_.max_iterations) return true;
  if (controls_.max_epochs > 0 && data_passes_ && data_passes_() - first_.data_passes >= controls_.max_epochs) return true;
  return controls_.time_limit > 0 && seconds() >= controls_.time_limit;
}

bool RunMonitor::report_objective(long iteration, const Problem& problem, const Vec& w) {
  const real loss = detail::FrameworkAccess::loss_grad_uncounted(problem, w, objective_gradient_);
  return report(iteration, loss, arma::norm(objective_gradient_), w);
}

void RunMonitor::fail(const std::string& message) { stop(Status::failed, message); }

void RunMonitor::finish(long iteration, real loss, real grad_norm, const Vec& w, const std::string& message) {
  if (stopped_) return;
  if (!report(iteration, loss, grad_norm, w)) {
    stop(Status::failed, message);
    stopping_weights_ = w;  // this report ended the run too
    record(last_, w);
  }
}

void RunMonitor::finish_at_precision(long iteration, real loss, real grad_norm, const Vec& w, const std::string& evidence) {
  if (stopped_) return;
  if (!report(iteration, loss, grad_norm, w)) {
    stop(Status::converged_precision, evidence);
    stopping_weights_ = w;
    record(last_, w);
  }
}

void RunMonitor::stop_by_rule(long iteration, real loss, real grad_norm, const Vec& w, const std::string& message) {
  if (stopped_) return;
  if (!report(iteration, loss, grad_norm, w)) {  // a RunControls rule that also holds takes precedence
    stop(Status::optimizer_rule, message);
    stopping_weights_ = w;
    record(last_, w);
  }
}

void RunMonitor::judge_precision(const Problem& problem, const Vec& w) {
  const bool judged = status_ == Status::failed || status_ == Status::max_iterations || status_ == Status::max_epochs ||
                      status_ == Status::time_limit;
  if (!started_ || !judged || w.n_elem != problem.dim()) return;
  Vec estimate;
  if (!detail::FrameworkAccess::gradient_rounding(problem, w, estimate)) return;
  Vec gradient;
  const real loss = detail::FrameworkAccess::loss_grad_uncounted(problem, w, gradient);
  const real gradient_norm = arma::norm(gradient);
  const real floor = std::hypot(arma::norm(estimate), representation_rounding(problem, w));
  if (!std::isfinite(loss) || !(gradient_norm <= kPrecisionFactor * floor)) return;
  const std::string ended = status_ == Status::failed ? message_ : to_string(status_) + (message_.empty() ? "" : ": " + message_);
  status_ = Status::converged_precision;
  message_ = "|grad f| = " + format_number(gradient_norm) + " is within the rounding error of the computed gradient (~" +
             format_number(floor) + ")" + (ended.empty() ? "" : "; the run ended by " + ended);
}

void RunMonitor::close(const Vec& w) {
  if (!started_) {
    stop(Status::failed, "the optimizer reported no iteration");
    return;
  }
  stop(Status::failed, "the optimizer returned before any stopping rule was met");  // no-op when stopped
  if (trace_.empty() || trace_.back().iteration != last_.iteration)
    record(last_, stopping_weights_ ? *stopping_weights_ : w);
}

}  // namespace kappa
