#define BOOST_TEST_MODULE theory
#include <boost/test/unit_test.hpp>

// Tests of theory.hpp against independent truth: the singular values a spectrum problem is
// built with (closed form) and LAPACK's other SVD driver; L and mu against their closed forms
// 2 sigma^2 / n + ridge (l2), sigma^2 / n + ridge (huber bound), lambda(K) + lambda (kernel);
// predicted iterations against gradient descent and heavy ball run here on the problem's own
// gradient; and the verdict of diagnose on data whose conditioning is known.

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>

#include "kappa/error.hpp"
#include "core/problems/linear_model.hpp"
#include "core/data/synthetic.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/theory/theory.hpp"
#include "test_support.hpp"

using namespace kappa;
using kappa::test::relative;
using kappa::test::require_throws_naming;

namespace {

const MethodTheory kGradientDescent{MethodClass::gradient_descent};  // as gd declares it
std::map<std::string, std::string> none_params() { return {}; }

constexpr real eps = std::numeric_limits<real>::epsilon();

// The singular values SpectrumSpec prescribes (synthetic.hpp): geometric from 1 to 1/cond.
Vec prescribed_singular_values(Index k, real condition) {
  Vec sigma(k);
  for (Index i = 0; i < k; ++i) sigma(i) = std::pow(condition, -static_cast<real>(i) / static_cast<real>(k - 1));
  return sigma;
}

Dataset spectrum_data(Index n, Index d, real condition, std::uint64_t seed = 1) {
  SpectrumSpec spec;
  spec.n = n;
  spec.d = d;
  spec.condition = condition;
  spec.noise = 0.01;
  spec.seed = seed;
  return generate(spec);
}

// Iterations of w -= lr grad (or heavy ball with `momentum`) from 0 until |grad| <= tol |grad_0|.
long measured_iterations(const Problem& problem, real lr, real momentum, real tol, long budget) {
  Vec w(problem.dim(), arma::fill::zeros), velocity(problem.dim(), arma::fill::zeros), gradient;
  problem.loss_grad(w, gradient);
  const real initial = arma::norm(gradient);
  long k = 0;
  for (; k < budget && arma::norm(gradient) > tol * initial; ++k) {
    velocity = momentum * velocity + gradient;
    w -= lr * velocity;
    problem.loss_grad(w, gradient);
  }
  return k;
}

}  // namespace

BOOST_AUTO_TEST_CASE(singular_values_and_condition_agree_with_an_independent_svd) {
  const real condition = 1e6;
  const Dataset data = spectrum_data(80, 20, condition);
  const Diagnosis d = diagnose(data, LossSpec{}, 1e-10);
  // The closed form the data was built with.
  BOOST_TEST(relative(d.singular_values, prescribed_singular_values(20, condition)) < 1e-10);
  BOOST_TEST(relative(d.condition, condition) < 1e-8);
  BOOST_TEST(d.rank == 20u);
  // LAPACK's other driver (dgesvd, "std") on the same matrix.
  Mat U, V;
  Vec sigma;
  BOOST_REQUIRE(arma::svd(U, sigma, V, data.X_train, "std"));
  BOOST_TEST(relative(d.singular_values, sigma) < 1e-12);
  // Not square: no kernel system, and the reason says so.
  BOOST_TEST(!d.kernel_system.has_value());
  BOOST_TEST(d.kernel_refused.find("must be square") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(smoothness_and_strong_convexity_match_closed_forms) {
  const Index n = 60, d = 10;
  const real condition = 1e3, ridge = 0.05;
  const Dataset data = spectrum_data(n, d, condition);
  const Vec sigma = prescribed_singular_values(d, condition);
  const real s_max = sigma(0), s_min = sigma(d - 1);
  struct Case {
    LossKind kind;
    real ridge;
    real curvature;  // rho''_max
  };
  for (const Case& c : {Case{LossKind::l2, 0, 2}, Case{LossKind::l2, ridge, 2}, Case{LossKind::huber, ridge, 1}}) {
    LossSpec loss;
    loss.kind = c.kind;
    loss.ridge = c.ridge;
    const LinearModelProblem problem(data.X_train, data.y_train, loss);
    const auto none = make_preconditioner("none", problem);
    const HessianSpectrum spectrum = hessian_spectrum(problem, *none);
    const real L = c.curvature * s_max * s_max / n + c.ridge;
    const real mu = c.curvature * s_min * s_min / n + c.ridge;
    BOOST_TEST(relative(spectrum.smoothness(), L) < 1e-10);
    BOOST_TEST(relative(spectrum.strong_convexity(), mu) < 1e-8);
    BOOST_TEST(relative(spectrum.condition(), L / mu) < 1e-8);
    BOOST_TEST(spectrum.exact == (c.kind == LossKind::l2));
    BOOST_TEST(relative(max_stable_step(spectrum), 2 / L) < 1e-10);
    BOOST_TEST(relative(normwise_floor(spectrum), eps * L / mu) < 1e-8);
    // The Lanczos estimate the optimizers use for lr = auto agrees.
    BOOST_TEST(relative(problem.smoothness(), L) < 1e-8);
  }
  // With an intercept: against the eigenvalues of the Hessian written out (well conditioned, so
  // forming it loses nothing).
  LossSpec loss;
  loss.intercept = true;
  loss.ridge = ridge;
  const LinearModelProblem problem(data.X_train, data.y_train, loss);
  const Mat A = test::design_of(data.X_train, true);
  Mat H = 2.0 / n * A.t() * A;
  H.submat(0, 0, d - 1, d - 1).diag() += ridge;  // the intercept (last) is not penalized
  const Vec eigenvalues = arma::eig_sym(H);
  const HessianSpectrum spectrum = hessian_spectrum(problem, *make_preconditioner("none", problem));
  BOOST_TEST(relative(spectrum.smoothness(), eigenvalues.max()) < 1e-10);
  BOOST_TEST(relative(spectrum.strong_convexity(), eigenvalues.min()) < 1e-8);
  // l1 has no Hessian.
  LossSpec l1;
  l1.kind = LossKind::l1;
  const LinearModelProblem l1_problem(data.X_train, data.y_train, l1);
  require_throws_naming<NumericalError>([&] { hessian_spectrum(l1_problem, *make_preconditioner("none", l1_problem)); }, "l1");
}

BOOST_AUTO_TEST_CASE(preconditioned_spectra_are_those_of_the_transformed_hessian) {
  std::mt19937_64 rng(21);
  // whiten is the ideal preconditioner: cond 1.
  const Dataset data = spectrum_data(60, 10, 1e5);
  const LinearModelProblem problem(data.X_train, data.y_train, LossSpec{});
  BOOST_TEST(std::fabs(hessian_spectrum(problem, *make_preconditioner("whiten", problem)).condition() - 1) < 1e-6);
  // Kernel system: K = D^{1/2} C D^{1/2} with unit-diagonal C; jacobi (diag(K)^{-1/2}) leaves C.
  const Index n = 20;
  const Mat X = test::gaussian(rng, n, 3 * n);
  Mat C = X * X.t();
  const Vec inverse_root = 1 / arma::sqrt(C.diag());
  C = arma::diagmat(inverse_root) * C * arma::diagmat(inverse_root);
  C = 0.5 * (C + C.t());
  Vec scales(n);
  for (Index i = 0; i < n; ++i) scales(i) = std::pow(10.0, static_cast<real>(i % 5) - 2);
  const Mat K = arma::diagmat(arma::sqrt(scales)) * C * arma::diagmat(arma::sqrt(scales));
  const KernelSystemProblem kernel(0.5 * (K + K.t()), test::gaussian_vec(rng, n), 0);
  const Vec c_eigenvalues = arma::eig_sym(C);
  const real jacobi = hessian_spectrum(kernel, *make_kernel_system_preconditioner("jacobi", kernel)).condition();
  BOOST_TEST(relative(jacobi, c_eigenvalues.max() / c_eigenvalues.min()) < 1e-8);
  const Vec k_eigenvalues = arma::eig_sym(K);
  BOOST_TEST(relative(hessian_spectrum(kernel, *make_kernel_system_preconditioner("none", kernel)).condition(),
                      k_eigenvalues.max() / k_eigenvalues.min()) < 1e-8);
}

BOOST_AUTO_TEST_CASE(predicted_gradient_descent_iterations_match_measured_ones) {
  const Index n = 60, d = 20;
  const Dataset data = spectrum_data(n, d, 30);  // kappa_H = 900
  const LinearModelProblem problem(data.X_train, data.y_train, LossSpec{});
  const HessianSpectrum spectrum = hessian_spectrum(problem, *make_preconditioner("none", problem));
  const real L = spectrum.smoothness();
  const real tolerance = 1e-8;
  for (const real factor : {1.0, 1.9, 0.5}) {
    const std::map<std::string, std::string> params{{"lr", std::to_string(factor / L)}};
    const Prediction prediction = predict_iterations(kGradientDescent, params, spectrum, tolerance, n);
    BOOST_TEST(prediction.method == MethodClass::gradient_descent);
    const long measured = measured_iterations(problem, factor / L, 0, tolerance, 1000000);
    BOOST_TEST_MESSAGE("gd lr = " << factor << "/L: measured " << measured << ", predicted " << prediction.iterations);
    BOOST_TEST(measured <= prediction.iterations);  // for GD the rate bounds |grad_k| / |grad_0| exactly
    BOOST_TEST(3 * measured >= prediction.iterations);
  }
  // lr = auto is 1/L; the bound in terms of kappa alone is the same number.
  const Prediction automatic = predict_iterations(kGradientDescent, {{"lr", "auto"}}, spectrum, tolerance, n);
  BOOST_TEST(std::fabs(automatic.iterations - gradient_descent_iterations(spectrum.condition(), tolerance)) <= 1);
  // Heavy ball with the run's lr and momentum: the asymptotic rate, within a factor of 3.
  const Prediction heavy = predict_iterations({MethodClass::heavy_ball}, {{"lr", std::to_string(1 / L)}, {"momentum", "0.5"}}, spectrum, tolerance, n);
  const long heavy_measured = measured_iterations(problem, 1 / L, 0.5, tolerance, 1000000);
  BOOST_TEST_MESSAGE("momentum 0.5: measured " << heavy_measured << ", predicted " << heavy.iterations);
  BOOST_TEST(heavy_measured <= 3 * heavy.iterations);
  BOOST_TEST(3 * heavy_measured >= heavy.iterations);
  // Above 2/L gradient descent diverges, as predicted.
  const Prediction unstable = predict_iterations(kGradientDescent, {{"lr", std::to_string(2.05 / L)}}, spectrum, tolerance, n);
  BOOST_TEST(std::isinf(unstable.iterations));
  BOOST_TEST(unstable.basis.find("diverges") != std::string::npos);
  Vec w(d, arma::fill::zeros), gradient;
  problem.loss_grad(w, gradient);
  const real initial = arma::norm(gradient);
  for (int k = 0; k < 2000; ++k) {
    w -= 2.05 / L * gradient;
    problem.loss_grad(w, gradient);
  }
  BOOST_TEST(arma::norm(gradient) > 1e3 * initial);
}

BOOST_AUTO_TEST_CASE(rate_bounds_follow_their_formulas) {
  const real kappa = 1e4, tolerance = 1e-6;
  BOOST_TEST(gradient_descent_iterations(kappa, tolerance) == std::ceil(std::log(tolerance) / std::log1p(-1 / kappa)));
  BOOST_TEST(accelerated_iterations(kappa, tolerance) == std::ceil(std::log(tolerance) / std::log1p(-1 / std::sqrt(kappa))));
  // CG: 2 ((sqrt k - 1)/(sqrt k + 1))^m <= eps.
  const double cg = conjugate_gradient_iterations(kappa, tolerance);
  const real rho = (std::sqrt(kappa) - 1) / (std::sqrt(kappa) + 1);
  BOOST_TEST(2 * std::pow(rho, cg) <= tolerance * (1 + 1e-12));
  BOOST_TEST(2 * std::pow(rho, cg - 1) > tolerance);
  // The orders of magnitude the docs quote: ~ kappa ln(1/eps), ~ sqrt(kappa)/2 ln(2/eps).
  BOOST_TEST(relative(gradient_descent_iterations(kappa, tolerance), kappa * std::log(1 / tolerance)) < 1e-3);
  BOOST_TEST(relative(cg, std::sqrt(kappa) / 2 * std::log(2 / tolerance)) < 1e-3);
  // A contraction factor of 1 - 1e-17 is not rounded to 1.
  BOOST_TEST(relative(gradient_descent_iterations(1e17, 1e-10), 1e17 * std::log(1e10)) < 1e-6);
  BOOST_TEST(iterations_for_log_rate(0.0, 1e-3) == std::numeric_limits<double>::infinity());
  BOOST_TEST(iterations_for_log_rate(-1.0, 1.0) == 0);
  BOOST_TEST(std::isinf(gradient_descent_iterations(std::numeric_limits<real>::infinity(), 1e-3)));
}

BOOST_AUTO_TEST_CASE(method_classes_are_the_declared_ones) {
  // The class comes from the plugin's declaration (OptimizerInfo::theory), never from its name;
  // the rate classes count only for full-batch fixed steps.
  const std::map<std::string, std::string> none;
  const MethodTheory gradient_descent{MethodClass::gradient_descent};
  BOOST_TEST(effective_method_class(gradient_descent, {{"batch_size", "full"}, {"schedule", "constant"}}, 100) ==
             MethodClass::gradient_descent);
  BOOST_TEST(effective_method_class(gradient_descent, {{"batch_size", "10"}}, 100) == MethodClass::none);
  BOOST_TEST(effective_method_class(gradient_descent, {{"schedule", "cosine"}}, 100) == MethodClass::none);
  BOOST_TEST(effective_method_class(gradient_descent, {{"batch_size", "100"}, {"averaging", "none"}}, 100) ==
             MethodClass::gradient_descent);
  BOOST_TEST(effective_method_class(gradient_descent, {{"batch_size", "1"}}, 100) == MethodClass::none);
  BOOST_TEST(effective_method_class(gradient_descent, {{"warmup", "5"}}, 100) == MethodClass::none);
  BOOST_TEST(effective_method_class(gradient_descent, {{"averaging", "polyak"}}, 100) == MethodClass::none);
  BOOST_TEST(effective_method_class({MethodClass::heavy_ball}, none, 100) == MethodClass::heavy_ball);
  BOOST_TEST(effective_method_class({MethodClass::heavy_ball}, {{"batch_size", "1"}}, 100) == MethodClass::none);
  BOOST_TEST(effective_method_class({MethodClass::nesterov}, none, 100) == MethodClass::nesterov);
  // The other classes are returned as declared, whatever the run's settings.
  for (const MethodClass method : {MethodClass::none, MethodClass::accelerated, MethodClass::conjugate_gradient,
                                   MethodClass::newton, MethodClass::direct})
    BOOST_TEST(effective_method_class({method}, {{"batch_size", "1"}}, 100) == method);
  const HessianSpectrum spectrum = spectrum_from_eigenvalues(Vec{4.0, 1.0}, 2);
  BOOST_TEST(std::isnan(predict_iterations({MethodClass::none}, none, spectrum, 1e-6, 10).iterations));
  BOOST_TEST(predict_iterations({MethodClass::newton}, none, spectrum, 1e-6, 10).iterations == 1);
  BOOST_TEST(predict_iterations({MethodClass::direct}, none, spectrum, 1e-6, 10).iterations == 0);
  BOOST_TEST(std::isnan(predict_iterations(gradient_descent, none, spectrum, 0.0, 10).iterations));  // grad_tol 0: no target
}

BOOST_AUTO_TEST_CASE(shipped_plugins_declare_their_classes) {
  // What each shipped plugin declares in its registration (OptimizerInfo::theory), with the
  // parameter names its schema has.
  PluginRegistry registry;
  registry.load_directories({KAPPA_TEST_PLUGIN_DIR});
  const std::map<std::string, MethodClass> expected = {
      {"gd", MethodClass::gradient_descent},      {"sgd", MethodClass::gradient_descent},
      {"momentum", MethodClass::heavy_ball},      {"nesterov", MethodClass::nesterov},
      {"cg", MethodClass::conjugate_gradient},    {"cgls", MethodClass::conjugate_gradient},
      {"lsqr", MethodClass::conjugate_gradient},  {"ncg", MethodClass::conjugate_gradient},
      {"newton", MethodClass::newton},            {"direct", MethodClass::direct},
      {"adam", MethodClass::none},                {"amsgrad", MethodClass::none},
      {"adamw", MethodClass::none},               {"adagrad", MethodClass::none},
      {"rmsprop", MethodClass::none},             {"svrg", MethodClass::none},
      {"lbfgs", MethodClass::none},               {"torch_lbfgs", MethodClass::none},
      {"lsmr", MethodClass::conjugate_gradient},
  };
  BOOST_TEST(registry.optimizers().size() == expected.size());
  for (const LoadedOptimizer& loaded : registry.optimizers()) {
    BOOST_TEST_CONTEXT("optimizer " << loaded.info.name) {
      const auto found = expected.find(loaded.info.name);
      BOOST_TEST_REQUIRE((found != expected.end()));
      const MethodTheory& theory = loaded.info.theory;
      BOOST_TEST(theory.method == found->second);
      const auto has_param = [&](const std::string& name) {
        for (const ParamSpec& spec : loaded.info.params)
          if (spec.name == name) return true;
        return false;
      };
      const bool rate_class = theory.method == MethodClass::gradient_descent || theory.method == MethodClass::heavy_ball ||
                              theory.method == MethodClass::nesterov;
      if (rate_class) BOOST_TEST(has_param(theory.step_size));
      if (theory.method == MethodClass::heavy_ball || theory.method == MethodClass::nesterov)
        BOOST_TEST(has_param(theory.momentum));
    }
  }
}

BOOST_AUTO_TEST_CASE(predictions_read_the_declared_parameter_names) {
  // A method whose step is "alpha" and whose beta is "mass": the same figures as lr/momentum.
  const HessianSpectrum spectrum = spectrum_from_eigenvalues(Vec{4.0, 2.0, 1.0}, 3);
  const real tolerance = 1e-6;
  const MethodTheory renamed_gd{MethodClass::gradient_descent, "alpha"};
  const Prediction own = predict_iterations(renamed_gd, {{"alpha", "0.3"}}, spectrum, tolerance, 10);
  const Prediction standard = predict_iterations(kGradientDescent, {{"lr", "0.3"}}, spectrum, tolerance, 10);
  BOOST_TEST(own.iterations == standard.iterations);
  BOOST_TEST(own.iterations != predict_iterations(kGradientDescent, none_params(), spectrum, tolerance, 10).iterations);
  BOOST_TEST(own.basis.find("alpha = 0.3") != std::string::npos);
  // A parameter "lr" that the method did not name as its step is not its step (1/L instead).
  BOOST_TEST(predict_iterations(renamed_gd, {{"lr", "0.3"}}, spectrum, tolerance, 10).iterations ==
             predict_iterations(kGradientDescent, {{"lr", "auto"}}, spectrum, tolerance, 10).iterations);
  for (const MethodClass method : {MethodClass::heavy_ball, MethodClass::nesterov}) {
    const MethodTheory renamed{method, "alpha", "mass"};
    const Prediction with_mass = predict_iterations(renamed, {{"alpha", "0.2"}, {"mass", "0.5"}}, spectrum, tolerance, 10);
    const Prediction with_momentum =
        predict_iterations({method}, {{"lr", "0.2"}, {"momentum", "0.5"}}, spectrum, tolerance, 10);
    BOOST_TEST(with_mass.iterations == with_momentum.iterations);
    BOOST_TEST(std::isfinite(with_mass.iterations));
    // Without its momentum parameter: the tuned accelerated bound.
    BOOST_TEST(predict_iterations(renamed, {{"alpha", "0.2"}, {"momentum", "0.5"}}, spectrum, tolerance, 10).iterations ==
               accelerated_iterations(spectrum.condition(), tolerance));
  }
}

BOOST_AUTO_TEST_CASE(diagnose_claims_follow_from_the_svd) {
  // A Gaussian kernel with cond(K) ~ 1e7: kappa_H = cond^2 ~ 1e14 for the regression, the kernel
  // system cond(K). The claims themselves are checked by running them (truth.verdict); here,
  // their figures against independent computations.
  KernelSpec spec;
  spec.n = 80;
  spec.n_test = 10;
  spec.input_dim = 2;
  spec.width = 0.15;
  const Dataset data = generate(spec);
  const Diagnosis d = diagnose(data, LossSpec{}, 1e-10, std::nullopt, 500);
  BOOST_REQUIRE(d.regression.has_value());
  BOOST_REQUIRE(d.kernel_system.has_value());
  const Vec eigenvalues = arma::eig_sym(data.X_train);
  BOOST_TEST(relative(d.kernel_system->spectrum.condition(), eigenvalues.max() / eigenvalues.min()) < 1e-6);
  BOOST_TEST(relative(d.regression->spectrum.condition(), std::pow(d.condition, 2)) < 1e-6);
  // F = eps cond (1 + cond |r*| / (|X| |w*|)) with the least-squares form B = X / sqrt(n):
  // a consistent system (r* = 0), so F = eps cond(X).
  const real eps = std::numeric_limits<real>::epsilon();
  BOOST_TEST(relative(d.kernel_system->attainable_accuracy, eps * eigenvalues.max() / eigenvalues.min()) < 1e-3);
  BOOST_TEST(relative(d.regression->attainable_accuracy, eps * d.condition) < 1e-3);
  std::map<std::string, int> kinds;
  for (const Claim& claim : d.claims) kinds[to_string(claim.kind)] += 1;
  BOOST_TEST(kinds["reaches"] >= 4);  // direct, cg full, lsqr full, kernel cg full
  BOOST_TEST(kinds["stalls"] == 1);   // gradient descent in 500 iterations at kappa_H 1e14
  BOOST_TEST(kinds["diverges"] == 1);
  std::string verdict;
  for (const std::string& paragraph : d.verdict) verdict += paragraph + "\n";
  BOOST_TEST(verdict.find("--formulation kernel-system") == std::string::npos, verdict);  // options are in the claims
  BOOST_TEST(verdict.find("CG on the kernel system") != std::string::npos, verdict);
  BOOST_TEST(verdict.find("cannot") == std::string::npos, verdict);
  BOOST_TEST(d.recommended_solve_options.find("--optimizer cg --set cg.reorthogonalize=full") == 0u, d.recommended_solve_options);
}

BOOST_AUTO_TEST_CASE(gradient_descent_error_is_that_of_the_iteration) {
  // The closed form against gradient descent itself, run in double on f = |B w - c|^2.
  const Dataset data = spectrum_data(60, 12, 1e3);
  const Mat B = data.X_train / std::sqrt(60.0);
  const Vec c = data.y_train / std::sqrt(60.0);
  const LeastSquaresSensitivity s = least_squares_sensitivity(B, c);
  const Vec w_star = arma::solve(B, c);
  const real L = 2 * s.singular_values(0) * s.singular_values(0);
  for (const real step : {1.0, 0.5, 2.2}) {
    Vec w(12, arma::fill::zeros);
    for (int k = 1; k <= 200; ++k) {
      w -= (step / L) * 2 * B.t() * (B * w - c);
      if (k == 10 || k == 200)
        BOOST_TEST(relative(gradient_descent_error(s, step, k), arma::norm(w - w_star) / arma::norm(w_star)) < 1e-6,
                   "step " << step << "/L, iteration " << k);
    }
  }
  BOOST_TEST(relative(s.solution_norm, arma::norm(w_star)) < 1e-10);
}

BOOST_AUTO_TEST_CASE(diagnose_refuses_what_it_cannot_analyse) {
  // l1: no Hessian, said so; only the kernel system was asked for on non-square data: refused.
  LossSpec l1;
  l1.kind = LossKind::l1;
  const Diagnosis l1_diagnosis = diagnose(spectrum_data(50, 10, 10), l1, 1e-10);
  BOOST_TEST(l1_diagnosis.claims.empty());
  BOOST_TEST(!l1_diagnosis.regression.has_value());
  BOOST_TEST(l1_diagnosis.regression_note.find("not differentiable") != std::string::npos);
  require_throws_naming<InputError>([] { diagnose(spectrum_data(50, 10, 10), LossSpec{}, 1e-10, Formulation::kernel_system); },
                                    {"must be square", "50 x 10"});
  require_throws_naming<InputError>([] { diagnose(spectrum_data(50, 10, 10), LossSpec{}, 1.5); }, "tolerance = 1.5");
}
