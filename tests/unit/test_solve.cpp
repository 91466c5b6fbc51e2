#define BOOST_TEST_MODULE solve
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

#include <kappa/error.hpp>
#include "core/experiment/experiment.hpp"
#include "core/data/synthetic.hpp"

#include "test_support.hpp"

// Experiment::run turns every way an optimizer can misbehave into exactly one status.

using namespace kappa;

namespace {

Dataset small_data() {
  SpectrumSpec spec;
  spec.n = 30;
  spec.d = 5;
  spec.n_test = 10;
  spec.condition = 5;
  spec.noise = 0.1;  // a residual well above rounding, so that f(w*) can be compared relatively
  return generate(spec);
}

Experiment small_experiment() { return Experiment(small_data(), ExperimentSetup{}); }

class Throwing final : public Optimizer {
 public:
  void minimize(const Problem&, Vec&, Monitor& monitor) const override {
    monitor.report(0, 1.0, 1.0, Vec(5, arma::fill::zeros));
    throw std::runtime_error("exploded on purpose");
  }
};

// Evaluates f and grad f at w and reports them as iteration k: what each fake below does.
bool evaluate_and_report(const Problem& problem, const Vec& w, long k, Monitor& monitor, Vec& gradient) {
  const real loss = problem.loss_grad(w, gradient);
  return monitor.report(k, loss, arma::norm(gradient), w);
}

class WritesNaN final : public Optimizer {
 public:
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    Vec gradient;
    if (evaluate_and_report(problem, w, 0, monitor, gradient)) return;
    w.fill(std::numeric_limits<real>::quiet_NaN());
    evaluate_and_report(problem, w, 1, monitor, gradient);
  }
};

class ReturnsEarly final : public Optimizer {
 public:
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    Vec gradient;
    evaluate_and_report(problem, w, 0, monitor, gradient);
  }
};

// Exact for a quadratic: one Newton step from w, reported through finish().
class NewtonStep final : public Optimizer {
 public:
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    Vec gradient;
    if (evaluate_and_report(problem, w, 0, monitor, gradient)) return;
    Mat hessian(problem.dim(), problem.dim());
    const Mat identity = arma::eye<Mat>(problem.dim(), problem.dim());
    Vec column;
    for (Index j = 0; j < problem.dim(); ++j) {
      problem.hess_vec(w, identity.col(j), column);
      hessian.col(j) = column;
    }
    w -= arma::solve(hessian, gradient);
    const real final_loss = problem.loss_grad(w, gradient);
    monitor.finish(1, final_loss, arma::norm(gradient), w, "newton step did not converge");
  }
};

// Throws something that is not a std::exception, as a plugin may.
class ThrowsInt final : public Optimizer {
 public:
  void minimize(const Problem&, Vec&, Monitor&) const override { throw 42; }
};

// Gives up before reporting anything.
class FailsAtOnce final : public Optimizer {
 public:
  void minimize(const Problem&, Vec&, Monitor& monitor) const override { monitor.fail("cannot start"); }
};

// Gradient steps with step 1/L, reporting iterations 0 .. last, then gives up (fail) or throws.
// Iteration 7 is not a trace point (0, 1, 2, 3, 4, 6, 8, ...).
class GivesUpAfter final : public Optimizer {
 public:
  GivesUpAfter(long last, bool throws) : last_(last), throws_(throws) {}
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    const real step = 1 / problem.smoothness();
    Vec gradient;
    for (long k = 0; k <= last_; ++k) {
      if (evaluate_and_report(problem, w, k, monitor, gradient)) return;
      if (k < last_) w -= step * gradient;
    }
    if (throws_) throw std::runtime_error("gave up by throwing");
    monitor.fail("gave up");
  }

 private:
  long last_;
  bool throws_;
};

// Gradient steps until the monitor stops the run, then changes w anyway (one more step and a
// shift): the result must be the w of the stopping report, kept here for the test.
class ChangesWAfterTheStop final : public Optimizer {
 public:
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    const real step = 1 / problem.smoothness();
    Vec gradient;
    for (long k = 0;; ++k) {
      if (evaluate_and_report(problem, w, k, monitor, gradient)) break;
      w -= step * gradient;
    }
    reported = w;
    w -= step * gradient;
    w += 1.0;
  }
  mutable Vec reported;
};

// Spectrum data whose training (and test) part is multiplied by the given factors.
Dataset scaled_data(real x_factor, real y_factor, bool test_part_only = false) {
  SpectrumSpec spec;
  spec.n = 30;
  spec.d = 5;
  spec.n_test = 10;
  spec.condition = 5;
  Dataset data = generate(spec);
  data.source = "scaled-spectrum";
  if (!test_part_only) {
    data.X_train *= x_factor;
    data.y_train *= y_factor;
  }
  data.X_test *= x_factor;
  data.y_test *= y_factor;
  return data;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_non_standard_exception_becomes_a_failed_run) {
  const RunResult result = small_experiment().run("int", ThrowsInt{}, RunControls{});
  BOOST_TEST(result.status == Status::failed);
  BOOST_TEST(result.message == "optimizer threw a non-standard exception");
  BOOST_TEST(std::isnan(result.grad_norm));
}

// A run that failed before reporting has no gradient norm: NaN, not 0 (which reads as converged).
BOOST_AUTO_TEST_CASE(a_run_failed_before_reporting_has_a_nan_gradient_norm) {
  const Experiment experiment = small_experiment();
  for (const RunResult& result : {experiment.run("fails", FailsAtOnce{}, RunControls{}),
                                  experiment.run("throwing-at-once", ThrowsInt{}, RunControls{})}) {
    BOOST_TEST_CONTEXT(result.optimizer) {
      BOOST_TEST(result.status == Status::failed);
      BOOST_TEST(std::isnan(result.grad_norm));
      BOOST_TEST(result.iterations == 0);
      BOOST_TEST(result.trace.empty());
    }
  }
  BOOST_TEST(std::isnan(RunResult{}.grad_norm));
}

// The last reported iteration is always the last trace point, also when the run was stopped by
// fail() or an exception between two trace points; the status and message stand.
BOOST_AUTO_TEST_CASE(the_last_reported_iteration_is_the_last_trace_point_after_a_failure) {
  const Experiment experiment = small_experiment();
  RunControls controls;
  controls.grad_tol = 0;
  for (const bool throws : {false, true}) {
    BOOST_TEST_CONTEXT((throws ? "throws" : "fails")) {
      const RunResult result = experiment.run("gives-up", GivesUpAfter(7, throws), controls);
      BOOST_TEST(result.status == Status::failed);
      BOOST_TEST(result.message == (throws ? "optimizer threw: gave up by throwing" : "gave up"));
      BOOST_TEST(result.iterations == 7);
      BOOST_TEST_REQUIRE(!result.trace.empty());
      BOOST_TEST(result.trace.back().iteration == 7);
      BOOST_TEST(result.trace.back().grad_norm == result.grad_norm);
      // The traced weight error is that of the final weights.
      BOOST_TEST(result.trace.back().relative_weight_error == result.evaluation.relative_weight_error,
                 boost::test_tools::tolerance(1e-12));
    }
  }
}

BOOST_AUTO_TEST_CASE(weights_changed_after_the_stop_are_not_the_result) {
  const Experiment experiment = small_experiment();
  RunControls controls;
  controls.max_iterations = 5;
  controls.grad_tol = 0;
  const ChangesWAfterTheStop optimizer;
  const RunResult result = experiment.run("changes-w", optimizer, controls);
  BOOST_TEST(result.status == Status::max_iterations);
  BOOST_TEST(result.iterations == 5);
  BOOST_TEST_REQUIRE(optimizer.reported.n_elem == experiment.problem().dim());
  BOOST_TEST(arma::approx_equal(result.w, optimizer.reported, "absdiff", 0.0));  // no preconditioner: w = z
  const Evaluation expected = experiment.evaluate(optimizer.reported);
  BOOST_TEST(result.evaluation.train_loss == expected.train_loss);
  BOOST_TEST(result.evaluation.relative_weight_error == expected.relative_weight_error);
  BOOST_TEST(result.trace.back().iteration == 5);
  BOOST_TEST(result.trace.back().relative_weight_error == expected.relative_weight_error,
             boost::test_tools::tolerance(1e-12));
}

// Data at scales double arithmetic cannot handle here is refused, naming the source and
// suggesting to rescale: scaled by 1e-200 the gradients underflow to 0 and every run "converged"
// at iteration 0 with a relative weight error of 1; scaled by 1e200 the losses overflow.
BOOST_AUTO_TEST_CASE(data_at_extreme_scales_is_refused) {
  struct Case {
    const char* name;
    real x_factor, y_factor;
    bool test_part_only;
    const char* names;
  };
  const Case cases[] = {{"all by 1e-200", 1e-200, 1e-200, false, "X_train"},
                        {"all by 1e200", 1e200, 1e200, false, "X_train"},
                        {"X by 1e-200", 1e-200, 1.0, false, "X_train"},
                        {"X by 1e200", 1e200, 1.0, false, "X_train"},
                        {"y by 1e200", 1.0, 1e200, false, "y_train"},
                        {"test part by 1e200", 1e200, 1.0, true, "X_test"}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const Dataset data = scaled_data(c.x_factor, c.y_factor, c.test_part_only);
      kappa::test::require_throws_naming<DataError>([&] { Experiment(data, ExperimentSetup{}); },
                                                    {"scaled-spectrum", c.names, "rescale"});
    }
  }
  // Well inside the limits, the same data is accepted and solved exactly (a Newton step).
  for (const real factor : {1e-100, 1e100}) {
    BOOST_TEST_CONTEXT("all by " << factor) {
      const Experiment experiment(scaled_data(factor, factor), ExperimentSetup{});
      const RunResult result = experiment.run("newton", NewtonStep{}, RunControls{});
      BOOST_TEST(result.status == Status::converged_gradient);
      BOOST_TEST(result.evaluation.relative_weight_error <= 1e-10);
      BOOST_TEST(std::isfinite(result.evaluation.train_loss));
    }
  }
  // Zero features (a column or all of X) are not "too small".
  Dataset zero = scaled_data(1.0, 1.0);
  zero.X_train.col(2).zeros();
  BOOST_CHECK_NO_THROW(Experiment(zero, ExperimentSetup{}));
}

BOOST_AUTO_TEST_CASE(an_exception_becomes_a_failed_run_with_its_message) {
  const RunResult result = small_experiment().run("throwing", Throwing{}, RunControls{});
  BOOST_TEST(result.status == Status::failed);
  BOOST_TEST(result.message.find("exploded on purpose") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(nan_weights_become_a_divergence_never_a_silent_nan) {
  const RunResult result = small_experiment().run("nan", WritesNaN{}, RunControls{});
  BOOST_TEST(result.status == Status::diverged);
  BOOST_TEST(!result.message.empty());
}

BOOST_AUTO_TEST_CASE(returning_without_a_stopping_rule_is_a_failure) {
  const RunResult result = small_experiment().run("early", ReturnsEarly{}, RunControls{});
  BOOST_TEST(result.status == Status::failed);
  BOOST_TEST(result.message.find("before any stopping rule") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(finish_with_an_exact_step_converges) {
  const Experiment experiment = small_experiment();
  const RunResult result = experiment.run("newton", NewtonStep{}, RunControls{});
  BOOST_TEST(result.status == Status::converged_gradient);
  BOOST_TEST(result.iterations == 1);
  BOOST_TEST(result.evaluation.relative_weight_error <= 1e-12);
  BOOST_TEST(result.trace.back().iteration == 1);
}

BOOST_AUTO_TEST_CASE(reference_evaluation_matches_its_definitions) {
  const Dataset data = small_data();  // the same data, kept here: the Experiment keeps only the test part
  const Experiment experiment(data, ExperimentSetup{});
  const Evaluation& reference = experiment.reference_evaluation();
  const Vec& w = experiment.reference().w;
  const Vec test_errors = data.X_test * w - data.y_test;
  BOOST_TEST(reference.relative_weight_error == 0.0);
  BOOST_TEST(reference.loss_gap == 0.0);
  BOOST_TEST(reference.test_mae == arma::mean(arma::abs(test_errors)), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(reference.test_rmse == std::sqrt(arma::mean(arma::square(test_errors))), boost::test_tools::tolerance(1e-12));
  const Vec train_errors = data.X_train * w - data.y_train;
  BOOST_TEST(reference.train_loss == arma::mean(arma::square(train_errors)), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(invalid_data_is_refused_before_anything_runs) {
  SpectrumSpec spec;
  spec.n = 10;
  spec.d = 3;
  Dataset data = generate(spec);
  data.X_train(2, 1) = std::numeric_limits<real>::quiet_NaN();
  BOOST_CHECK_THROW(Experiment(data, ExperimentSetup{}), DataError);
  ExperimentSetup unknown_preconditioner;
  unknown_preconditioner.preconditioner = "whitening";
  BOOST_CHECK_THROW(Experiment(generate(spec), unknown_preconditioner), InputError);
}
