#define BOOST_TEST_MODULE monitor
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <kappa/error.hpp>
#include <kappa/monitor.hpp>
#include "core/experiment/run_monitor.hpp"

using namespace kappa;

namespace {

RunMonitor make_monitor(const RunControls& controls) { return RunMonitor(controls, {}, {}); }

const Vec point(3, arma::fill::zeros);

}  // namespace

BOOST_AUTO_TEST_CASE(gradient_tolerance_is_relative_to_the_initial_gradient) {
  RunControls controls;
  controls.grad_tol = 1e-3;
  RunMonitor monitor = make_monitor(controls);
  BOOST_TEST(!monitor.report(0, 1.0, 10.0, point));
  BOOST_TEST(!monitor.report(1, 0.5, 0.0101, point));  // 1.01e-3 * |g0|: not yet
  BOOST_TEST(monitor.report(2, 0.4, 0.0100, point));   // exactly 1e-3 * |g0|
  BOOST_TEST(monitor.status() == Status::converged_gradient);
  BOOST_TEST(monitor.iterations() == 2);
}

BOOST_AUTO_TEST_CASE(loss_change_tolerance) {
  RunControls controls;
  controls.grad_tol = 0;
  controls.loss_tol = 1e-6;
  RunMonitor monitor = make_monitor(controls);
  BOOST_TEST(!monitor.report(0, 1.0, 1.0, point));
  BOOST_TEST(!monitor.report(1, 0.5, 1.0, point));
  BOOST_TEST(monitor.report(2, 0.5 - 1e-7, 1.0, point));  // change 1e-7 <= 1e-6 * 0.5
  BOOST_TEST(monitor.status() == Status::converged_loss);
}

BOOST_AUTO_TEST_CASE(max_iterations) {
  RunControls controls;
  controls.max_iterations = 5;
  RunMonitor monitor = make_monitor(controls);
  long iteration = 0;
  while (!monitor.report(iteration, 1.0 / (iteration + 1), 1.0, point)) ++iteration;
  BOOST_TEST(iteration == 5);
  BOOST_TEST(monitor.status() == Status::max_iterations);
}

BOOST_AUTO_TEST_CASE(time_limit) {
  RunControls controls;
  controls.time_limit = 0.02;
  controls.max_iterations = 1000000000;
  RunMonitor monitor = make_monitor(controls);
  long iteration = 0;
  while (!monitor.report(iteration, 1.0, 1.0, point)) {
    ++iteration;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  BOOST_TEST(monitor.status() == Status::time_limit);
  BOOST_TEST(monitor.seconds() >= 0.02);
}

BOOST_AUTO_TEST_CASE(non_finite_loss_or_gradient_is_divergence) {
  for (const real bad : {std::numeric_limits<real>::quiet_NaN(), std::numeric_limits<real>::infinity()}) {
    RunMonitor loss_monitor = make_monitor(RunControls{});
    BOOST_TEST(!loss_monitor.report(0, 1.0, 1.0, point));
    BOOST_TEST(loss_monitor.report(1, bad, 1.0, point));
    BOOST_TEST(loss_monitor.status() == Status::diverged);
    RunMonitor gradient_monitor = make_monitor(RunControls{});
    BOOST_TEST(gradient_monitor.report(0, 1.0, bad, point));
    BOOST_TEST(gradient_monitor.status() == Status::diverged);
  }
}

BOOST_AUTO_TEST_CASE(exploding_loss_is_divergence) {
  RunControls controls;
  controls.divergence_factor = 1e10;
  RunMonitor monitor = make_monitor(controls);
  BOOST_TEST(!monitor.report(0, 2.0, 1.0, point));
  BOOST_TEST(!monitor.report(1, 2e10, 1.0, point));  // exactly the factor: still allowed
  BOOST_TEST(monitor.report(2, 2.1e10, 1.0, point));
  BOOST_TEST(monitor.status() == Status::diverged);
  BOOST_TEST(monitor.message().find("factor") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(first_reason_stands_and_fail_keeps_its_message) {
  RunMonitor monitor = make_monitor(RunControls{});
  monitor.report(0, 1.0, 1.0, point);
  monitor.fail("line search failed");
  monitor.fail("second reason");
  BOOST_TEST(monitor.status() == Status::failed);
  BOOST_TEST(monitor.message() == "line search failed");
  BOOST_TEST(monitor.report(1, 0.5, 0.5, point));  // already stopped
}

BOOST_AUTO_TEST_CASE(close_marks_a_run_that_returned_without_a_rule) {
  RunMonitor silent = make_monitor(RunControls{});
  silent.close(point);
  BOOST_TEST(silent.status() == Status::failed);
  RunMonitor early = make_monitor(RunControls{});
  early.report(0, 1.0, 1.0, point);
  early.report(1, 0.5, 0.5, point);
  early.close(point);
  BOOST_TEST(early.status() == Status::failed);
  BOOST_TEST(early.trace().back().iteration == 1);
}

BOOST_AUTO_TEST_CASE(finish_applies_the_rules) {
  RunMonitor converged = make_monitor(RunControls{});
  converged.report(0, 1.0, 1.0, point);
  converged.finish(1, 0.0, 0.0, point, "unused");
  BOOST_TEST(converged.status() == Status::converged_gradient);
  RunMonitor unfinished = make_monitor(RunControls{});
  unfinished.report(0, 1.0, 1.0, point);
  unfinished.finish(1, 0.5, 0.5, point, "gave up early");
  BOOST_TEST(unfinished.status() == Status::failed);
  BOOST_TEST(unfinished.message() == "gave up early");
}

BOOST_AUTO_TEST_CASE(trace_is_log_spaced_and_keeps_first_and_last) {
  RunControls controls;
  controls.max_iterations = 100000;
  controls.grad_tol = 0;
  controls.trace_points_per_decade = 10;
  long relative_error_calls = 0;
  RunMonitor monitor(controls, [&](const Vec&) { ++relative_error_calls; return 0.5; }, [] { return 2.0; });
  long iteration = 0;
  while (!monitor.report(iteration, 1.0, 1.0, point)) ++iteration;
  const auto& trace = monitor.trace();
  BOOST_TEST(trace.front().iteration == 0);
  BOOST_TEST(trace.back().iteration == 100000);
  // About 10 points per decade over 5 decades (fewer in the first, where ceil(k * 10^0.1) = k + 1
  // gives every integer up to 4, then rounding merges some).
  BOOST_TEST(trace.size() >= 45u);
  BOOST_TEST(trace.size() <= 80u);
  for (std::size_t i = 1; i < trace.size(); ++i) {
    BOOST_TEST(trace[i].iteration > trace[i - 1].iteration);
    // Consecutive points at most a factor 10^(1/10) apart (beyond the first few integers).
    if (trace[i - 1].iteration >= 10) BOOST_TEST(trace[i].iteration <= std::ceil(trace[i - 1].iteration * std::pow(10.0, 0.1)));
  }
  BOOST_TEST(relative_error_calls == static_cast<long>(trace.size()));  // computed only at trace points
  BOOST_TEST(trace.back().relative_weight_error == 0.5);
  BOOST_TEST(trace.back().data_passes == 2.0);
}

BOOST_AUTO_TEST_CASE(invalid_controls_are_refused_by_name) {
  auto refused = [](RunControls controls, const std::string& name) {
    try {
      controls.validate();
    } catch (const InputError& error) {
      return std::string(error.what()).find(name) != std::string::npos;
    }
    return false;
  };
  RunControls zero_iterations;
  zero_iterations.max_iterations = 0;
  BOOST_TEST(refused(zero_iterations, "max_iterations"));
  RunControls negative_tolerance;
  negative_tolerance.grad_tol = -1;
  BOOST_TEST(refused(negative_tolerance, "grad_tol"));
  RunControls negative_loss_tolerance;
  negative_loss_tolerance.loss_tol = -1e-3;
  BOOST_TEST(refused(negative_loss_tolerance, "loss_tol"));
  RunControls negative_time;
  negative_time.time_limit = -1;
  BOOST_TEST(refused(negative_time, "time_limit"));
  RunControls nan_tolerance;
  nan_tolerance.grad_tol = std::numeric_limits<real>::quiet_NaN();
  BOOST_TEST(refused(nan_tolerance, "grad_tol"));
}

// An exactly zero gradient is the minimizer (of the convex problems kappa solves): converged,
// whatever grad_tol, also with grad_tol = 0 ("off"), where it used to run on (and CG then
// failed on the zero direction, L-BFGS with "the gradient is exactly zero").
BOOST_AUTO_TEST_CASE(zero_gradient_is_converged_whatever_grad_tol) {
  for (const real grad_tol : {0.0, 1e-10, 0.5}) {
    BOOST_TEST_CONTEXT("grad_tol " << grad_tol) {
      RunControls controls;
      controls.grad_tol = grad_tol;
      RunMonitor later = make_monitor(controls);
      BOOST_TEST(!later.report(0, 1.0, 1.0, point));
      BOOST_TEST(later.report(1, 0.25, 0.0, point));
      BOOST_TEST(later.status() == Status::converged_gradient);
      BOOST_TEST(later.iterations() == 1);
      BOOST_TEST(later.message().empty());
      RunMonitor at_start = make_monitor(controls);  // e.g. y = 0: w = 0 is the minimizer
      BOOST_TEST(at_start.report(0, 0.0, 0.0, point));
      BOOST_TEST(at_start.status() == Status::converged_gradient);
      BOOST_TEST(at_start.iterations() == 0);
    }
  }
  // finish() with a zero gradient picks the same status, not its failure message.
  RunControls off;
  off.grad_tol = 0;
  RunMonitor finished = make_monitor(off);
  finished.report(0, 1.0, 1.0, point);
  finished.finish(1, 0.0, 0.0, point, "the gradient is exactly zero");
  BOOST_TEST(finished.status() == Status::converged_gradient);
  BOOST_TEST(finished.message().empty());
  // A tiny but nonzero gradient with grad_tol = 0 does not stop the run.
  RunMonitor tiny = make_monitor(off);
  BOOST_TEST(!tiny.report(0, 1.0, 1.0, point));
  BOOST_TEST(!tiny.report(1, 0.5, std::numeric_limits<real>::denorm_min(), point));
}

// grad_tol >= 1 stops every run at iteration 0 (|g_0| <= grad_tol |g_0|) as "converged".
BOOST_AUTO_TEST_CASE(grad_tol_of_one_or_more_is_refused_by_name) {
  for (const real grad_tol : {1.0, 2.0, std::numeric_limits<real>::infinity()}) {
    RunControls controls;
    controls.grad_tol = grad_tol;
    BOOST_TEST_CONTEXT("grad_tol " << grad_tol) {
      bool refused = false;
      try {
        controls.validate();
      } catch (const InputError& error) {
        refused = std::string(error.what()).find("grad_tol") != std::string::npos;
      }
      BOOST_TEST(refused);
      BOOST_CHECK_THROW(make_monitor(controls), InputError);
    }
  }
  RunControls just_below;
  just_below.grad_tol = 0.999;
  BOOST_CHECK_NO_THROW(just_below.validate());
}

BOOST_AUTO_TEST_CASE(nothing_reported_means_nan_final_values) {
  RunMonitor monitor = make_monitor(RunControls{});
  BOOST_TEST(!monitor.reported());
  BOOST_TEST(std::isnan(monitor.final_grad_norm()));
  BOOST_TEST(std::isnan(monitor.final_loss()));
  monitor.fail("gave up before starting");
  BOOST_TEST(std::isnan(monitor.final_grad_norm()));
  monitor.report(0, 2.0, 3.0, point);  // already stopped: not recorded
  BOOST_TEST(std::isnan(monitor.final_grad_norm()));
  RunMonitor started = make_monitor(RunControls{});
  started.report(0, 2.0, 3.0, point);
  BOOST_TEST(started.reported());
  BOOST_TEST(started.final_grad_norm() == 3.0);
  BOOST_TEST(started.final_loss() == 2.0);
}

// close() after a stop keeps the status and message, and makes the last reported iteration the
// last trace point (iteration 7 is not a trace point: 0, 1, .., 6, 8, 11, ...).
BOOST_AUTO_TEST_CASE(close_after_a_stop_keeps_the_status_and_traces_the_last_report) {
  RunControls controls;
  controls.grad_tol = 0;
  RunMonitor monitor = make_monitor(controls);
  for (long k = 0; k <= 7; ++k) BOOST_TEST(!monitor.report(k, 1.0 / (k + 1), 1.0, point));
  BOOST_TEST(monitor.trace().back().iteration == 6);
  monitor.fail("line search failed");
  monitor.close(point);
  BOOST_TEST(monitor.status() == Status::failed);
  BOOST_TEST(monitor.message() == "line search failed");
  BOOST_TEST(monitor.trace().back().iteration == 7);
  BOOST_TEST(monitor.trace().back().loss == 1.0 / 8);
  monitor.close(point);  // idempotent
  BOOST_TEST(monitor.trace().size() == 7u);  // 0, 1, 2, 3, 4, 6 and 7
}

// The weights of the stopping report are kept (a copy), and only those.
BOOST_AUTO_TEST_CASE(stopping_weights_are_those_of_the_stopping_report) {
  RunControls controls;
  controls.max_iterations = 2;
  std::vector<Vec> seen;
  RunMonitor monitor(controls, [&](const Vec& w) { seen.push_back(w); return 0.0; }, {});
  Vec w{1.0, 2.0, 3.0};
  BOOST_TEST(!monitor.report(0, 1.0, 1.0, w));
  BOOST_TEST(!monitor.stopping_weights().has_value());
  w += 1.0;
  BOOST_TEST(!monitor.report(1, 0.5, 0.5, w));
  BOOST_TEST(!monitor.stopping_weights().has_value());
  w += 1.0;
  BOOST_TEST(monitor.report(2, 0.25, 0.25, w));
  BOOST_TEST(monitor.status() == Status::max_iterations);
  const Vec expected{3.0, 4.0, 5.0};
  w.fill(-7.0);  // the optimizer changes w after being stopped
  BOOST_TEST_REQUIRE(monitor.stopping_weights().has_value());
  BOOST_TEST(arma::approx_equal(*monitor.stopping_weights(), expected, "absdiff", 0.0));
  monitor.close(w);
  BOOST_TEST(arma::approx_equal(seen.back(), expected, "absdiff", 0.0));  // traced at the stop

  // fail() carries no weights; finish() that ends the run as failed keeps those it was given.
  RunMonitor failed = make_monitor(RunControls{});
  failed.report(0, 1.0, 1.0, point);
  failed.fail("gave up");
  BOOST_TEST(!failed.stopping_weights().has_value());
  RunMonitor unfinished = make_monitor(RunControls{});
  unfinished.report(0, 1.0, 1.0, point);
  const Vec last{9.0, 8.0, 7.0};
  unfinished.finish(1, 0.5, 0.5, last, "gave up early");
  BOOST_TEST(unfinished.status() == Status::failed);
  BOOST_TEST_REQUIRE(unfinished.stopping_weights().has_value());
  BOOST_TEST(arma::approx_equal(*unfinished.stopping_weights(), last, "absdiff", 0.0));
}
