#define BOOST_TEST_MODULE solve
#include <boost/test/unit_test.hpp>

#include <limits>
#include <stdexcept>

#include <kappa/error.hpp>
#include <kappa/experiment.hpp>
#include <kappa/synthetic.hpp>

// Experiment::run turns every way an optimizer can misbehave into exactly one status.

using namespace kappa;

namespace {

Experiment small_experiment() {
  SpectrumSpec spec;
  spec.n = 30;
  spec.d = 5;
  spec.n_test = 10;
  spec.condition = 5;
  return Experiment(generate(spec), ExperimentSetup{});
}

class Throwing final : public Optimizer {
 public:
  void minimize(const Problem&, Vec&, Monitor& monitor) const override {
    monitor.report(0, 1.0, 1.0, Vec(5, arma::fill::zeros));
    throw std::runtime_error("exploded on purpose");
  }
};

class WritesNaN final : public Optimizer {
 public:
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    Vec gradient;
    const real loss = problem.loss_grad(w, gradient);
    if (monitor.report(0, loss, arma::norm(gradient), w)) return;
    w.fill(std::numeric_limits<real>::quiet_NaN());
    const real bad = problem.loss_grad(w, gradient);
    monitor.report(1, bad, arma::norm(gradient), w);
  }
};

class ReturnsEarly final : public Optimizer {
 public:
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    Vec gradient;
    const real loss = problem.loss_grad(w, gradient);
    monitor.report(0, loss, arma::norm(gradient), w);
  }
};

// Exact for a quadratic: one Newton step from w, reported through finish().
class NewtonStep final : public Optimizer {
 public:
  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    Vec gradient;
    const real loss = problem.loss_grad(w, gradient);
    if (monitor.report(0, loss, arma::norm(gradient), w)) return;
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

}  // namespace

BOOST_AUTO_TEST_CASE(an_exception_becomes_a_failed_run_with_its_message) {
  const RunResult result = small_experiment().run("throwing", Throwing{}, StopControls{});
  BOOST_TEST(result.status == Status::failed);
  BOOST_TEST(result.message.find("exploded on purpose") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(nan_weights_become_a_divergence_never_a_silent_nan) {
  const RunResult result = small_experiment().run("nan", WritesNaN{}, StopControls{});
  BOOST_TEST(result.status == Status::diverged);
  BOOST_TEST(!result.message.empty());
}

BOOST_AUTO_TEST_CASE(returning_without_a_stopping_rule_is_a_failure) {
  const RunResult result = small_experiment().run("early", ReturnsEarly{}, StopControls{});
  BOOST_TEST(result.status == Status::failed);
  BOOST_TEST(result.message.find("before any stopping rule") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(finish_with_an_exact_step_converges) {
  const Experiment experiment = small_experiment();
  const RunResult result = experiment.run("newton", NewtonStep{}, StopControls{});
  BOOST_TEST(result.status == Status::converged_gradient);
  BOOST_TEST(result.iterations == 1);
  BOOST_TEST(result.evaluation.relative_weight_error <= 1e-12);
  BOOST_TEST(result.trace.back().iteration == 1);
}

BOOST_AUTO_TEST_CASE(reference_evaluation_matches_its_definitions) {
  const Experiment experiment = small_experiment();
  const Evaluation& reference = experiment.reference_evaluation();
  const Dataset& data = experiment.data();
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
