#define BOOST_TEST_MODULE kernel_system
#include <boost/test/unit_test.hpp>

// Tests of kappa::KernelSystemProblem (kernel_system.hpp) against formulas written out here:
//   H = K + lambda I,  f(a) = 1/2 a^T H a - y^T a + c with c = 1/2 y^T a*,  grad f = H a - y,
//   a* = H^{-1} y (H invertible); and of the refusals of bad kernels. The kernels are built
// with a known spectrum, K = Q diag(lambda) Q^T with Q Haar-random orthonormal, or are Gaussian
// kernels from kappa::generate.

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kappa/error.hpp"
#include "core/experiment/experiment.hpp"
#include "core/problems/kernel_system.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/data/synthetic.hpp"
#include "core/theory/theory.hpp"
#include "test_support.hpp"

using namespace kappa;
using kappa::test::relative;
using kappa::test::require_throws_naming;
using kappa::test::small_gaussian_kernel;

namespace {

// K = Q diag(eigenvalues) Q^T, exactly symmetric.
Mat kernel_with_spectrum(std::mt19937_64& rng, const Vec& eigenvalues) {
  const Mat Q = test::orthonormal(rng, eigenvalues.n_elem, eigenvalues.n_elem);
  Mat K = Q * arma::diagmat(eigenvalues) * Q.t();
  return 0.5 * (K + K.t());
}

// Geometric eigenvalues from 1 down to 1/condition.
Vec geometric(Index n, real condition) {
  Vec values(n);
  for (Index i = 0; i < n; ++i) values(i) = std::pow(condition, -static_cast<real>(i) / static_cast<real>(n - 1));
  return values;
}

}  // namespace

BOOST_AUTO_TEST_CASE(objective_gradient_and_hessian_match_the_formulas) {
  std::mt19937_64 rng(11);
  const Index n = 12;
  const Mat K = kernel_with_spectrum(rng, geometric(n, 50));
  const Vec y = test::gaussian_vec(rng, n);
  const real lambda = 0.3;
  const KernelSystemProblem problem(K, y, lambda);
  const Mat H = K + lambda * arma::eye<Mat>(n, n);
  const Vec alpha_star = arma::solve(H, y);
  BOOST_TEST(relative(problem.minimum_norm_solution(), alpha_star) < 1e-12);
  BOOST_TEST(relative(problem.shift(), 0.5 * arma::dot(y, alpha_star)) < 1e-12);
  BOOST_TEST(problem.rank() == n);

  const Vec a = test::gaussian_vec(rng, n);
  Vec gradient;
  const real loss = problem.loss_grad(a, gradient);
  BOOST_TEST(relative(gradient, Vec(H * a - y)) < 1e-13);
  // f(a) = 1/2 (a - a*)^T H (a - a*): the energy norm of the error, >= 0.
  const Vec error = a - alpha_star;
  BOOST_TEST(relative(loss, 0.5 * arma::dot(error, H * error)) < 1e-10);
  BOOST_TEST(relative(problem.loss(a), loss) < 1e-15);
  Vec product;
  const Vec v = test::gaussian_vec(rng, n);
  problem.hess_vec(a, v, product);
  BOOST_TEST(relative(product, Vec(H * v)) < 1e-13);
  problem.curvature_bound_vec(v, product);
  BOOST_TEST(relative(product, Vec(H * v)) < 1e-13);
  BOOST_TEST(relative(problem.smoothness(), arma::max(arma::eig_sym(H))) < 1e-9);
  // The symmetric square root: B^T B = H.
  const Mat B = problem.hessian_factor();
  BOOST_TEST(relative(Mat(B.t() * B), H) < 1e-12);
}

BOOST_AUTO_TEST_CASE(minibatch_estimate_is_unbiased_and_its_gradient_exact) {
  std::mt19937_64 rng(12);
  const Index n = 9;
  const Mat K = kernel_with_spectrum(rng, geometric(n, 20));
  const Vec y = test::gaussian_vec(rng, n);
  const KernelSystemProblem problem(K, y, 0.1);
  const Vec a = test::gaussian_vec(rng, n);
  Vec full_gradient;
  const real full_loss = problem.loss_grad(a, full_gradient);
  // The mean over all single-row batches is the full objective and gradient.
  Vec mean_gradient(n, arma::fill::zeros);
  real mean_loss = 0;
  for (Index i = 0; i < n; ++i) {
    Vec gradient;
    mean_loss += problem.batch_loss_grad(a, IndexVec{i}, gradient) / static_cast<real>(n);
    mean_gradient += gradient / static_cast<real>(n);
  }
  BOOST_TEST(relative(mean_loss, full_loss) < 1e-12);
  BOOST_TEST(relative(mean_gradient, full_gradient) < 1e-12);
  // A batch gradient is the gradient of the batch loss: central differences (the batch loss is
  // quadratic, so they are exact up to rounding).
  const IndexVec rows{1, 4, 7};
  Vec batch_gradient;
  problem.batch_loss_grad(a, rows, batch_gradient);
  Vec unused;
  const real h = 1e-4;
  for (Index j = 0; j < n; ++j) {
    Vec plus = a, minus = a;
    plus(j) += h;
    minus(j) -= h;
    const real difference = (problem.batch_loss_grad(plus, rows, unused) - problem.batch_loss_grad(minus, rows, unused)) / (2 * h);
    BOOST_TEST(std::fabs(difference - batch_gradient(j)) < 1e-8 * std::max(1.0, arma::norm(batch_gradient)));
  }
}

BOOST_AUTO_TEST_CASE(bad_kernels_are_refused_naming_the_reason) {
  std::mt19937_64 rng(13);
  const Vec y5 = test::gaussian_vec(rng, 5);
  require_throws_naming<InputError>([&] { KernelSystemProblem(test::gaussian(rng, 5, 4), y5, 0, "k.h5"); },
                                    {"'k.h5'", "must be square", "5 x 4"});
  Mat asymmetric = kernel_with_spectrum(rng, geometric(5, 10));
  asymmetric(0, 3) += 1e-3;
  require_throws_naming<InputError>([&] { KernelSystemProblem(asymmetric, y5, 0); }, {"not symmetric", "max |K - K^T|"});
  // Rounding-level asymmetry is accepted, and the symmetric part is used.
  Mat nearly = kernel_with_spectrum(rng, geometric(5, 10));
  nearly(0, 3) += 1e-14;
  const KernelSystemProblem accepted(nearly, y5, 0);
  BOOST_TEST(accepted.kernel()(0, 3) == accepted.kernel()(3, 0));
  Vec indefinite_spectrum = geometric(5, 10);
  indefinite_spectrum(4) = -1e-3;
  require_throws_naming<InputError>([&] { KernelSystemProblem(kernel_with_spectrum(rng, indefinite_spectrum), y5, 0); },
                                    {"not positive semi-definite", "smallest eigenvalue -0.001"});
  // An eigenvalue of -1e-17 on a unit-scale kernel is rounding (tolerance n eps lambda_max).
  Vec rounding_spectrum = geometric(5, 10);
  rounding_spectrum(4) = -1e-17;
  BOOST_CHECK_NO_THROW(KernelSystemProblem(kernel_with_spectrum(rng, rounding_spectrum), y5, 0));
  require_throws_naming<InputError>([&] { KernelSystemProblem(kernel_with_spectrum(rng, geometric(5, 10)), test::gaussian_vec(rng, 4), 0); },
                                    {"y has 4 values"});
  require_throws_naming<InputError>([&] { KernelSystemProblem(kernel_with_spectrum(rng, geometric(5, 10)), y5, -1); }, {"lambda", "-1"});
}

BOOST_AUTO_TEST_CASE(setups_without_meaning_are_refused) {
  LossSpec l1;
  l1.kind = LossKind::l1;
  require_throws_naming<InputError>([&] { check_kernel_system_spec(l1); }, {"kernel-system", "'l1'"});
  LossSpec intercept;
  intercept.intercept = true;
  require_throws_naming<InputError>([&] { check_kernel_system_spec(intercept); }, {"kernel-system", "intercept"});
  require_throws_naming<InputError>([] { parse_formulation("kernel"); }, {"unknown formulation 'kernel'", "kernel-system"});
  BOOST_TEST(to_string(parse_formulation("kernel-system")) == "kernel-system");
  // Through the Experiment: a non-square design and a huber loss.
  ExperimentSetup setup;
  setup.formulation = Formulation::kernel_system;
  SpectrumSpec spec;
  spec.n = 20;
  spec.d = 5;
  require_throws_naming<InputError>([&] { Experiment(generate(spec), setup); }, {"must be square", "20 x 5"});
  setup.loss.kind = LossKind::huber;
  KernelSpec kernel;
  kernel.n = 20;
  kernel.n_test = 5;
  require_throws_naming<InputError>([&] { Experiment(generate(kernel), setup); }, {"'huber'"});
}

BOOST_AUTO_TEST_CASE(reference_methods_agree_and_equal_the_regression_solution) {
  // A Gaussian kernel made well conditioned enough for every method by a ridge of 1e-3.
  KernelSpec spec = small_gaussian_kernel();
  const Dataset data = generate(spec);
  ExperimentSetup setup;
  setup.formulation = Formulation::kernel_system;
  setup.loss.ridge = 1e-3;
  const Mat H = data.X_train + 1e-3 * arma::eye<Mat>(spec.n, spec.n);
  const Vec truth = arma::solve(H, data.y_train);
  for (const DirectMethod method : {DirectMethod::svd, DirectMethod::qr, DirectMethod::cholesky}) {
    setup.reference_method = method;
    const Experiment experiment(data, setup);
    BOOST_TEST(relative(experiment.reference().w, truth) < 1e-9, to_string(method));
    BOOST_TEST(std::fabs(experiment.reference_evaluation().train_loss) < 1e-9, to_string(method));
    // Test predictions are X_test alpha.
    BOOST_TEST(relative(experiment.reference_evaluation().test_mae, arma::mean(arma::abs(data.X_test * truth - data.y_test))) < 1e-8);
  }
  // lambda = 0: alpha* is the regression's w* = K^{-1} y when K is invertible (to cond(K) eps).
  ExperimentSetup plain_kernel, regression;
  plain_kernel.formulation = Formulation::kernel_system;
  spec.width = 0.1;
  const Dataset invertible = generate(spec);
  const Experiment kernel_experiment(invertible, plain_kernel);
  const Experiment regression_experiment(invertible, regression);
  const real condition = arma::cond(invertible.X_train);
  BOOST_TEST(condition < 1e6);
  BOOST_TEST(relative(kernel_experiment.reference().w, regression_experiment.reference().w) < 100 * condition * 2.2e-16);
}

// The claim of the kernel-system formulation: on a kernel whose condition number is kappa,
// gradient descent with lr = 1/L converges in about kappa ln(1/eps) iterations, at the rate
// theory.hpp predicts, while on the regression (kappa_H = kappa^2) it does not get there in the
// same budget.
BOOST_AUTO_TEST_CASE(gradient_descent_converges_on_the_kernel_system_where_the_regression_stalls) {
  std::mt19937_64 rng(14);
  const Index n = 30;
  const real condition = 300;
  const Mat K = kernel_with_spectrum(rng, geometric(n, condition));
  const Vec y = test::gaussian_vec(rng, n);  // components along every eigenvector
  const real tolerance = 1e-8;

  const KernelSystemProblem kernel(K, y, 0);
  const auto none = make_kernel_system_preconditioner("none", kernel);
  const HessianSpectrum kernel_spectrum = hessian_spectrum(kernel, *none);
  BOOST_TEST(relative(kernel_spectrum.condition(), condition) < 1e-8);
  const Prediction predicted = predict_iterations({MethodClass::gradient_descent}, {{"lr", "auto"}}, kernel_spectrum, tolerance, n);
  const real kernel_lr = 1 / kernel_spectrum.smoothness();

  // GD from 0 with the problem's own gradient: w -= lr grad.
  const auto run_gd = [](const Problem& problem, real lr, real tol, long budget) {
    Vec w(problem.dim(), arma::fill::zeros), gradient;
    problem.loss_grad(w, gradient);
    const real initial = arma::norm(gradient);
    long k = 0;
    for (; k < budget && arma::norm(gradient) > tol * initial; ++k) {
      w -= lr * gradient;
      problem.loss_grad(w, gradient);
    }
    return std::make_pair(k, arma::norm(gradient) / initial);
  };
  const long budget = static_cast<long>(3 * predicted.iterations);
  const auto [kernel_iterations, kernel_reduction] = run_gd(kernel, kernel_lr, tolerance, budget);
  BOOST_TEST(kernel_reduction <= tolerance);
  // Within a factor of 3 of the prediction (and never above it: for GD it is a bound).
  BOOST_TEST(kernel_iterations <= predicted.iterations);
  BOOST_TEST(3 * kernel_iterations >= predicted.iterations);
  BOOST_TEST_MESSAGE("kernel system: " << kernel_iterations << " iterations, predicted " << predicted.iterations);

  LossSpec l2;
  const LinearModelProblem regression(K, y, l2);
  const auto identity = make_preconditioner("none", regression);
  const HessianSpectrum regression_spectrum = hessian_spectrum(regression, *identity);
  BOOST_TEST(relative(regression_spectrum.condition(), condition * condition) < 1e-8);
  const auto [regression_iterations, regression_reduction] =
      run_gd(regression, 1 / regression_spectrum.smoothness(), tolerance, budget);
  BOOST_TEST(regression_iterations == budget);
  BOOST_TEST(regression_reduction > 1e3 * tolerance);  // stalled far above the target
  const Prediction regression_predicted = predict_iterations({MethodClass::gradient_descent}, {{"lr", "auto"}}, regression_spectrum, tolerance, n);
  BOOST_TEST(regression_predicted.iterations > 100 * budget);
}

// The per-sample smoothness behind lr = auto for minibatches. A batch of one row i is the sample
// f_i = n phi_i + c of first_order.hpp's convention; its gradient is affine in alpha, so its
// constant Hessian G_i is read off the problem's own one-row batch gradients, column by column
// (G_i e_j = grad f_i(e_j) - grad f_i(0)). Its spectral norm (LAPACK SVD) must equal the closed
// form n (H_ii + |H e_i|) / 2, and max_sample_smoothness() the largest of them.
BOOST_AUTO_TEST_CASE(max_sample_smoothness_is_the_largest_per_sample_hessian_norm) {
  std::mt19937_64 rng(21);
  const Index n = 12;
  const real lambda = 0.05;
  const KernelSystemProblem problem(kernel_with_spectrum(rng, geometric(n, 1e3)), test::gaussian_vec(rng, n), lambda);
  const Mat H = problem.kernel() + lambda * arma::eye<Mat>(n, n);
  const Vec zero(n, arma::fill::zeros);
  real largest = 0;
  for (Index i = 0; i < n; ++i) {
    const IndexVec rows = {i};
    Vec at_zero, at_unit;
    problem.batch_loss_grad(zero, rows, at_zero);
    Mat G(n, n);
    for (Index j = 0; j < n; ++j) {
      Vec unit(n, arma::fill::zeros);
      unit(j) = 1;
      problem.batch_loss_grad(unit, rows, at_unit);
      G.col(j) = at_unit - at_zero;
    }
    const real norm = arma::norm(G, 2);
    BOOST_TEST(relative(norm, 0.5 * static_cast<real>(n) * (H(i, i) + arma::norm(H.col(i)))) < 1e-12, "row " << i);
    largest = std::max(largest, norm);
  }
  BOOST_TEST(relative(problem.max_sample_smoothness(), largest) < 1e-12);
}

// lr = auto with minibatches on the kernel system: sgd (batch 1 and 8) and adam (batch 8) run
// their epochs without diverging and end below the starting loss, nearer alpha* than the start.
BOOST_AUTO_TEST_CASE(minibatch_lr_auto_runs_on_the_kernel_system) {
  PluginRegistry registry;
  registry.load_directories({KAPPA_TEST_PLUGIN_DIR});
  const KernelSpec spec = small_gaussian_kernel();
  ExperimentSetup setup;
  setup.formulation = Formulation::kernel_system;
  setup.loss.ridge = 1e-2;
  const Experiment experiment(generate(spec), setup);
  RunControls controls;
  controls.max_iterations = 100000;
  controls.max_epochs = 30;
  controls.grad_tol = 0;
  controls.seed = 3;
  const real start_loss = experiment.problem().loss(Vec(spec.n, arma::fill::zeros));
  for (const auto& [name, batch] : std::vector<std::pair<std::string, std::string>>{{"sgd", "1"}, {"sgd", "8"}, {"adam", "8"}}) {
    const RunResult result = experiment.run(name, *registry.create(name, {{"lr", "auto"}, {"batch_size", batch}}), controls);
    BOOST_TEST_CONTEXT(name << " batch " << batch << ": " << to_string(result.status) << " " << result.message) {
      BOOST_TEST(result.status == Status::max_epochs);
      BOOST_TEST(result.evaluation.train_loss < start_loss);
      BOOST_TEST(result.evaluation.relative_weight_error < 1.0);
    }
  }
}

// whiten on the kernel system: with K + lambda I nonsingular, CG and L-BFGS on the whitened
// problem (Hessian (2/n) I) reach the kernel reference alpha* = (K + lambda I)^{-1} y (an
// independent LU solve) in a few iterations; with K + lambda I numerically singular, whiten is
// refused naming the rank and the remedy.
BOOST_AUTO_TEST_CASE(whiten_reaches_the_kernel_reference_or_is_refused) {
  PluginRegistry registry;
  registry.load_directories({KAPPA_TEST_PLUGIN_DIR});
  KernelSpec spec;
  spec.n = 60;
  spec.n_test = 10;
  spec.input_dim = 2;
  spec.width = 0.3;
  const Dataset data = generate(spec);
  ExperimentSetup setup;
  setup.formulation = Formulation::kernel_system;
  setup.preconditioner = "whiten";
  setup.loss.ridge = 1e-4;
  const Mat H = data.X_train + setup.loss.ridge * arma::eye<Mat>(spec.n, spec.n);
  const real condition = arma::cond(H);
  const Vec truth = arma::solve(H, data.y_train);
  const Experiment experiment(data, setup);
  RunControls controls;
  controls.grad_tol = 1e-12;
  controls.max_iterations = 50;
  for (const std::string name : {"cg", "lbfgs"}) {
    const RunResult result = experiment.run(name, *registry.create(name, {}), controls);
    BOOST_TEST_CONTEXT(name << ": " << to_string(result.status) << " " << result.message << ", cond(H) " << condition) {
      BOOST_TEST(result.status == Status::converged_gradient);
      BOOST_TEST(result.iterations <= 5);
      // Forward error of order eps cond(H), as for any backward-stable solve.
      BOOST_TEST(relative(result.w, truth) < 1e3 * 2.2e-16 * condition);
    }
  }
  ExperimentSetup singular = setup;
  singular.loss.ridge = 0;
  spec.n = 200;
  spec.input_dim = 1;
  spec.width = 0.5;
  require_throws_naming<InputError>([&] { Experiment(generate(spec), singular); },
                                    {"'whiten'", "numerically singular", "rank", "--ridge"});
}
