#include "kappa/experiment.hpp"

#include <cmath>

#include "kappa/error.hpp"

namespace kappa {
namespace {

real relative_distance(const Vec& w, const Vec& reference) {
  const real reference_norm = arma::norm(reference);
  const real distance = arma::norm(w - reference);
  return reference_norm > 0 ? distance / reference_norm : distance;
}

Dataset validated(Dataset data) {
  validate(data);
  return data;
}

}  // namespace

Experiment::Experiment(Dataset data, const ExperimentSetup& setup)
    : data_(validated(std::move(data))),
      setup_(setup),
      problem_(data_.X_train, data_.y_train, setup.loss),
      test_design_(data_.has_test() ? design_matrix(data_.X_test, setup.loss.intercept) : Mat()) {
  preconditioner_ = make_preconditioner(setup.preconditioner, problem_.design(), setup.loss.intercept);
  solver_problem_ = std::make_unique<PreconditionedProblem>(problem_, *preconditioner_);
  reference_ = reference_solution(data_.X_train, data_.y_train, setup.loss, setup.reference_method);
  reference_loss_ = problem_.loss(reference_.w);
  reference_evaluation_ = evaluate(reference_.w);
  problem_.reset_counters();
}

Evaluation Experiment::evaluate(const Vec& w) const {
  Evaluation evaluation;
  evaluation.train_loss = problem_.loss(w);
  evaluation.loss_gap = evaluation.train_loss - reference_loss_;
  evaluation.relative_weight_error = relative_distance(w, reference_.w);
  evaluation.weight_norm = arma::norm(w);
  if (data_.has_test()) {
    const Vec errors = test_design_ * w - data_.y_test;
    evaluation.test_mae = arma::mean(arma::abs(errors));
    evaluation.test_rmse = std::sqrt(arma::mean(arma::square(errors)));
  }
  return evaluation;
}

RunResult Experiment::run(const std::string& name, const Optimizer& optimizer, const StopControls& controls) const {
  RunResult result;
  result.optimizer = name;
  solver_problem_->reset_counters();
  const Vec& reference = reference_.w;
  Monitor monitor(
      controls, [&](const Vec& z) { return relative_distance(preconditioner_->to_original(z), reference); },
      [this]() { return solver_problem_->data_passes(); });
  Vec z = preconditioner_->to_solver(Vec(problem_.dim(), arma::fill::zeros));
  try {
    optimizer.minimize(*solver_problem_, z, monitor);
    if (!monitor.stopped()) monitor.close(z);
  } catch (const std::exception& error) {
    monitor.fail(std::string("optimizer threw: ") + error.what());
  }
  result.status = monitor.status();
  result.message = monitor.message();
  result.iterations = monitor.iterations();
  result.data_passes = solver_problem_->data_passes();
  result.seconds = monitor.seconds();
  result.grad_norm = monitor.final_grad_norm();
  result.trace = monitor.trace();
  result.w = preconditioner_->to_original(z);
  result.evaluation = evaluate(result.w);
  // Never a silent NaN: a non-finite result that no rule caught is a divergence.
  if (!result.w.is_finite() && result.status != Status::diverged && result.status != Status::failed) {
    result.status = Status::diverged;
    result.message = "the weights are not finite";
  }
  return result;
}

}  // namespace kappa
