#include "core/experiment/experiment.hpp"

#include <cmath>
#include <exception>
#include <optional>
#include <string>

#include "kappa/error.hpp"
#include "kappa/first_order.hpp"
#include "core/experiment/framework_access.hpp"
#include "core/experiment/lockstep.hpp"
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

// The same checks for data whose design is S = X^T: S's values are seen with X's shape, no
// copy; the checks (lengths, finite values, extremes) do not depend on the order of the values.
Dataset validated(Dataset data, const SampleStorage& samples) {
  if (!data.X_train.is_empty()) throw InputError("experiment: the design is given twice (X_train and samples)");
  Dataset view{Mat(const_cast<real*>(samples.values), samples.samples, samples.features, false, true),
               std::move(data.y_train), std::move(data.X_test), std::move(data.y_test), std::move(data.source)};
  validate(view);
  check_scale(view, view.X_train, view.y_train, "X_train", "y_train");
  if (view.has_test()) check_scale(view, view.X_test, view.y_test, "X_test", "y_test");
  data.y_train = std::move(view.y_train);
  data.X_test = std::move(view.X_test);
  data.y_test = std::move(view.y_test);
  data.source = std::move(view.source);
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
  check_and_evaluate();
}

Experiment::Experiment(Dataset data, const SampleStorage& samples, const ExperimentSetup& setup)
    : data_(validated(std::move(data), samples)),
      setup_(setup),
      test_design_(data_.has_test() && setup.loss.intercept ? design_matrix(data_.X_test, true) : Mat()) {
  check_setup(setup);
  if (setup.formulation != Formulation::regression)
    throw InputError("experiment: a design given as samples is for the regression formulation only");
  parse_preconditioner_chain(setup.preconditioner, setup.loss);  // a bad chain before the reference's work
  const Mat S = samples.view();
  // As above; the dense solvers of a small or non-l2 problem need X itself, a transient copy.
  const bool tall = samples.samples >= 4 * (samples.features + 1);
  if (setup.loss.kind == LossKind::l2 && tall) {
    reference_ = reduced_reference_solution_from_samples(S, data_.y_train, setup.loss, setup.reference_method, 0,
                                                         &reference_design_);
  } else {
    const Mat X = S.t();
    reference_ = reference_solution(X, data_.y_train, setup.loss, setup.reference_method, &reference_design_);
  }
  auto linear = std::make_unique<LinearModelProblem>(samples, data_.y_train, setup.loss, setup.precision);
  preconditioner_ = make_preconditioner(setup.preconditioner, *linear);
  solver_problem_ = make_solver_problem(*linear, *preconditioner_);
  problem_ = std::move(linear);
  check_and_evaluate();
}

void Experiment::check_and_evaluate() {
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

std::unique_ptr<RunMonitor> Experiment::start_run(const RunControls& controls, const Problem& counted, RunProgress* progress,
                                                  std::function<double()> clock) const {
  detail::FrameworkAccess::reset_counters(counted);
  const Vec& reference = reference_.w;
  const Index dim = problem_->dim();
  // The relative error is computed at trace points only; a w of the wrong size (an optimizer
  // that resized it) gives NaN there instead of an exception.
  auto monitor = std::make_unique<RunMonitor>(
      controls,
      [this, &reference, dim](const Vec& z) {
        return z.n_elem == dim ? relative_distance(preconditioner_->to_original(z), reference) : arma::datum::nan;
      },
      [&counted]() { return counted.data_passes(); });
  if (clock) monitor->set_clock(std::move(clock));
  monitor->observe(progress);
  return monitor;
}

namespace {

// optimizer.minimize(), with every exception turned into a failed run; true for an InputError
// (a parameter that does not fit this problem: batch_size > n, ...).
bool minimize_guarded(const Optimizer& optimizer, const Problem& problem, Vec& z, RunMonitor& monitor) {
  try {
    optimizer.minimize(problem, z, monitor);
  } catch (const InputError& error) {
    monitor.fail(error.what());
    return true;
  } catch (const std::exception& error) {
    monitor.fail(std::string("optimizer threw: ") + error.what());
  } catch (...) {  // e.g. `throw 42` from a plugin: must not reach std::terminate
    monitor.fail("optimizer threw a non-standard exception");
  }
  return false;
}

}  // namespace

RunResult Experiment::finish_run(const std::string& name, RunMonitor& monitor, const Vec& z, const Problem& counted,
                                 bool input_error) const {
  RunResult result;
  result.optimizer = name;
  result.input_error = input_error;
  const Index dim = problem_->dim();
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
  result.data_passes = counted.data_passes();
  result.setup_passes = monitor.setup_passes();
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

double used_step_size(const Params& params, const std::string& step_parameter, const Problem& problem) {
  const auto& texts = params.as_text();
  if (step_parameter.empty() || texts.count(step_parameter) == 0) return arma::datum::nan;
  try {
    if (!params.is_auto(step_parameter)) return params.get_real(step_parameter);
    // The first-order loop's rule (first_order.hpp) for lr; another parameter's auto is 1/L.
    if (step_parameter == "lr" && texts.count("batch_size") > 0)
      return resolve_batch_step_size(params, problem, resolve_batch_size(params, problem));
    return resolve_step_size(params, problem, step_parameter);
  } catch (const std::exception&) {
    return arma::datum::nan;  // the run failed on it too, and says why
  }
}

RunResult Experiment::run(const std::string& name, const Optimizer& optimizer, const RunControls& controls,
                          RunProgress* progress) const {
  const std::unique_ptr<RunMonitor> monitor = start_run(controls, *solver_problem_, progress, nullptr);
  Vec z = preconditioner_->to_solver(Vec(problem_->dim(), arma::fill::zeros));
  const bool input_error = minimize_guarded(optimizer, *solver_problem_, z, *monitor);
  return finish_run(name, *monitor, z, *solver_problem_, input_error);
}

std::vector<RunResult> Experiment::run_group(const std::vector<GroupRun>& runs, std::size_t width, double* shared_passes) const {
  std::vector<std::size_t> slots;
  for (const GroupRun& run : runs) slots.push_back(width == 0 ? slots.size() : run.slot);
  LockstepGroup group(*solver_problem_, width == 0 ? runs.size() : width, slots);
  std::vector<std::unique_ptr<RunMonitor>> monitors;
  std::vector<Vec> weights(runs.size(), preconditioner_->to_solver(Vec(problem_->dim(), arma::fill::zeros)));
  std::vector<char> input_errors(runs.size(), 0);
  std::vector<std::function<void()>> bodies;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].optimizer == nullptr) throw Error("run_group: run " + std::to_string(i) + " has no optimizer");
    monitors.push_back(start_run(runs[i].controls, group.problem(i), runs[i].progress, [&group, i] { return group.seconds(i); }));
    bodies.push_back([&, i] { input_errors[i] = minimize_guarded(*runs[i].optimizer, group.problem(i), weights[i], *monitors[i]); });
  }
  group.run(bodies);
  std::vector<RunResult> results;
  for (std::size_t i = 0; i < runs.size(); ++i)
    results.push_back(finish_run(runs[i].name, *monitors[i], weights[i], group.problem(i), input_errors[i] != 0));
  if (shared_passes != nullptr) *shared_passes = group.shared_passes();
  return results;
}

}  // namespace kappa
