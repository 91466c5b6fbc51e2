#include "core/experiment/experiment.hpp"

#include <cmath>
#include <exception>
#include <optional>
#include <string>

#include "kappa/error.hpp"
#include "core/experiment/framework_access.hpp"
#include "core/experiment/run_monitor.hpp"
#include "core/references/least_squares_reduction.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

// |difference| / |reference|, or |difference| when the reference is 0.
real relative_norm(const Vec& difference, const Vec& reference) {
  const real reference_norm = arma::norm(reference);
  const real distance = arma::norm(difference);
  return reference_norm > 0 ? distance / reference_norm : distance;
}

real relative_distance(const Vec& w, const Vec& reference) { return relative_norm(w - reference, reference); }

// The range of magnitudes the problem can be computed in, in double. Above kLargest, the squares
// in the loss and the products A^T A v of the curvature overflow (1e150^2 = 1e300 leaves room
// for the sums); below kSmallest, gradients (2/n) X^T r ~ |X| |r| underflow to zero and a run
// stops at iteration 0 as "converged" with the whole of w* still to go.
constexpr real kLargest = 1e150;
constexpr real kSmallest = 1e-150;

real max_abs(const real* values, Index count) {
  real largest = 0;
  for (Index i = 0; i < count; ++i) largest = std::max(largest, std::fabs(values[i]));
  return largest;
}

std::string data_prefix(const Dataset& data) { return "data '" + data.source + "': "; }

// Refuses values whose scale the problem cannot be computed at (see kLargest, kSmallest).
void check_scale(const Dataset& data, const Mat& X, const Vec& y, const std::string& X_name, const std::string& y_name) {
  const std::string advice = "; rescale the data (divide or multiply X and y by a common factor)";
  const real x_max = max_abs(X.memptr(), X.n_elem);
  const real y_max = max_abs(y.memptr(), y.n_elem);
  if (x_max > kLargest)
    throw DataError(data_prefix(data) + "max |" + X_name + "| = " + format_number(x_max) + " is above " +
                    format_number(kLargest) + " (squares and products overflow)" + advice);
  if (y_max > kLargest)
    throw DataError(data_prefix(data) + "max |" + y_name + "| = " + format_number(y_max) + " is above " +
                    format_number(kLargest) + " (squares overflow)" + advice);
  if (x_max > 0 && x_max < kSmallest)
    throw DataError(data_prefix(data) + "max |" + X_name + "| = " + format_number(x_max) + " is below " +
                    format_number(kSmallest) + " (gradients underflow to zero)" + advice);
}

Dataset validated(Dataset data) {
  validate(data);
  check_scale(data, data.X_train, data.y_train, "X_train", "y_train");
  if (data.has_test()) check_scale(data, data.X_test, data.y_test, "X_test", "y_test");
  return data;
}

}  // namespace

void check_setup(const ExperimentSetup& setup) {
  if (setup.formulation != Formulation::kernel_system) return;
  check_kernel_system_spec(setup.loss);
  if (setup.precision != Precision::float64)
    throw InputError("precision = " + to_string(setup.precision) + " is available for the regression formulation only");
}

Experiment::Experiment(Dataset data, const ExperimentSetup& setup)
    : data_(validated(std::move(data))),
      setup_(setup),
      test_design_(data_.has_test() && setup.loss.intercept ? design_matrix(data_.X_test, true) : Mat()) {
  // Memory: the training design is held once. The reference is computed from X (always in
  // double, whatever the precision of the runs), then X moves into the problem.
  check_setup(setup);
  if (setup.formulation == Formulation::kernel_system) {
    auto kernel_system = std::make_unique<KernelSystemProblem>(data_.X_train, data_.y_train, setup.loss.ridge, data_.source);
    data_.X_train.reset();
    preconditioner_ = make_kernel_system_preconditioner(setup.preconditioner, *kernel_system);
    solver_problem_ = make_kernel_system_solver_problem(*kernel_system, *preconditioner_);
    reference_ = kernel_system_reference(*kernel_system, setup.reference_method);
    // Eigenvalues of the PSD K + lambda I are its singular values; its eigenvectors are not
    // kept (kernel_system.hpp), so the row space stays unknown.
    if (!reference_.singular_values.is_empty())
      reference_design_.rank = numerical_rank(reference_.singular_values, kernel_system->dim(), kernel_system->dim());
    problem_ = std::move(kernel_system);
  } else {
    parse_preconditioner_chain(setup.preconditioner, setup.loss);  // a bad chain before the reference's work
    // A tall l2 problem is first reduced to a d x d triangular system by a streaming QR
    // (least_squares_reduction.hpp): the same solution to rounding, without the copies of the
    // stacked system (and the SVD's U) that reference_solution makes: 0.84 GB instead of 3.9 GB
    // peak for 200000 x 500 (docs/performance.md).
    const bool tall = data_.X_train.n_rows >= 4 * (data_.X_train.n_cols + 1);
    reference_ = setup.loss.kind == LossKind::l2 && tall
                     ? reduced_reference_solution(data_.X_train, data_.y_train, setup.loss, setup.reference_method, 0,
                                                  &reference_design_)
                     : reference_solution(data_.X_train, data_.y_train, setup.loss, setup.reference_method, &reference_design_);
    auto linear = std::make_unique<LinearModelProblem>(std::move(data_.X_train), data_.y_train, setup.loss, setup.precision);
    preconditioner_ = make_preconditioner(setup.preconditioner, *linear);
    solver_problem_ = make_solver_problem(*linear, *preconditioner_);
    problem_ = std::move(linear);
  }
  const real initial_loss = problem_->loss(Vec(problem_->dim(), arma::fill::zeros));
  if (!std::isfinite(initial_loss))
    throw DataError(data_prefix(data_) + "the loss at w = 0 is not finite (" + format_number(initial_loss) +
                    "); rescale the data (divide X and y by a common factor)");
  reference_loss_ = problem_->loss(reference_.w);
  if (!std::isfinite(reference_loss_))
    throw DataError(data_prefix(data_) + "the loss at the reference solution w* is not finite (" +
                    format_number(reference_loss_) + "); rescale the data (divide X and y by a common factor)");
  reference_evaluation_ = evaluate(reference_.w);
  detail::FrameworkAccess::reset_counters(*problem_);
}

Evaluation Experiment::evaluate(const Vec& w) const {
  Evaluation evaluation;
  evaluation.train_loss = problem_->loss(w);
  evaluation.loss_gap = evaluation.train_loss - reference_loss_;
  evaluation.relative_weight_error = relative_distance(w, reference_.w);
  // P = I for a full column rank design (apply returns its argument): then exactly the number above.
  evaluation.relative_weight_error_range = relative_norm(reference_design_.row_space.apply(w - reference_.w), reference_.w);
  evaluation.weight_norm = arma::norm(w);
  if (data_.has_test()) {
    const Vec errors = (test_design_.is_empty() ? data_.X_test : test_design_) * w - data_.y_test;
    evaluation.test_mae = arma::mean(arma::abs(errors));
    evaluation.test_rmse = std::sqrt(arma::mean(arma::square(errors)));
  }
  return evaluation;
}

RunResult Experiment::run(const std::string& name, const Optimizer& optimizer, const RunControls& controls,
                          RunProgress* progress) const {
  RunResult result;
  result.optimizer = name;
  detail::FrameworkAccess::reset_counters(*solver_problem_);
  const Vec& reference = reference_.w;
  const Index dim = problem_->dim();
  // The relative error is computed at trace points only; a w of the wrong size (an optimizer
  // that resized it) gives NaN there instead of an exception.
  RunMonitor monitor(
      controls,
      [&](const Vec& z) {
        return z.n_elem == dim ? relative_distance(preconditioner_->to_original(z), reference) : arma::datum::nan;
      },
      [this]() { return solver_problem_->data_passes(); });
  monitor.observe(progress);
  Vec z = preconditioner_->to_solver(Vec(dim, arma::fill::zeros));
  try {
    optimizer.minimize(*solver_problem_, z, monitor);
  } catch (const InputError& error) {  // a parameter that does not fit this problem (batch_size > n, ...)
    monitor.fail(error.what());
    result.input_error = true;
  } catch (const std::exception& error) {
    monitor.fail(std::string("optimizer threw: ") + error.what());
  } catch (...) {  // e.g. `throw 42` from a plugin: must not reach std::terminate
    monitor.fail("optimizer threw a non-standard exception");
  }
  // The result is the w of the report that stopped the run, whatever the optimizer did to w
  // afterwards; after fail() (or a return without a rule), the optimizer's w as it is.
  const std::optional<Vec>& stopping_weights = monitor.stopping_weights();
  const Vec& final_z = stopping_weights ? *stopping_weights : z;
  if (final_z.n_elem != dim)
    monitor.fail("the optimizer returned " + std::to_string(final_z.n_elem) + " weights, expected " + std::to_string(dim));
  // Also when already stopped (keeping the status): the last reported iteration becomes the
  // last trace point, e.g. after fail() or an exception between two trace points.
  monitor.close(final_z);
  monitor.judge_precision(*solver_problem_, final_z);
  result.status = monitor.status();
  result.message = monitor.message();
  result.iterations = monitor.iterations();
  result.data_passes = solver_problem_->data_passes();
  result.seconds = monitor.seconds();
  result.grad_norm = monitor.final_grad_norm();  // NaN when nothing was reported
  result.trace = monitor.trace();
  result.w = final_z.n_elem == dim ? preconditioner_->to_original(final_z) : Vec(dim, arma::fill::value(arma::datum::nan));
  result.evaluation = evaluate(result.w);
  // Never a silent NaN: a non-finite result that no rule caught is a divergence.
  if (!result.w.is_finite() && result.status != Status::diverged && result.status != Status::failed) {
    result.status = Status::diverged;
    result.message = "the weights are not finite";
  }
  return result;
}

}  // namespace kappa
