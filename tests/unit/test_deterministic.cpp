#define BOOST_TEST_MODULE deterministic
#include <boost/test/unit_test.hpp>

// The deterministic optimizer plugins ncg, cgls, lsqr, newton and direct, loaded as a user loads
// them: each reaches the direct solution w* (an SVD solve, independent of every plugin) of a
// well-conditioned problem to a relative weight error of 1e-8; cgls and lsqr follow the Krylov
// minimizers and stay within the CG iteration bound on cond(X) = 1e4; newton needs one step on
// l2; and every status and reported gradient is the truth about the returned weights.

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kappa/error.hpp"
#include "core/experiment/experiment.hpp"
#include "core/problems/kernel_system.hpp"
#include "kappa/monitor.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/problems/linear_model.hpp"
#include "core/data/synthetic.hpp"
#include "core/experiment/run_monitor.hpp"
#include "test_support.hpp"

using namespace kappa;
using namespace kappa::test;

namespace {

constexpr real eps = std::numeric_limits<real>::epsilon();

struct Plugins {
  Plugins() { registry.load_directories({KAPPA_TEST_PLUGIN_DIR}); }
  PluginRegistry registry;
};

// n x d with singular values geometric from 1 to 1/condition (cond(X) = condition exactly, up to
// rounding), targets X w_true + noise; cond of the l2 Hessian (2/n) X^T X is condition^2.
Dataset spectrum_data(real condition, real noise = 0.05, Index n = 200, Index d = 50, std::uint64_t seed = 7) {
  SpectrumSpec spec;
  spec.n = n;
  spec.d = d;
  spec.n_test = 50;
  spec.condition = condition;
  spec.noise = noise;
  spec.seed = seed;
  return generate(spec);
}

RunControls controls(real grad_tol = 1e-12, long max_iterations = 20000) {
  RunControls out;
  out.max_iterations = max_iterations;
  out.grad_tol = grad_tol;
  return out;
}

// The plugin and parameter settings under test; direct once per method.
struct Method {
  std::string name;
  RawParams params;
  std::string label() const { return params.empty() ? name : name + ":" + params.begin()->second; }
};
const std::vector<Method> all_methods = {
    {"ncg", {{"beta", "polak-ribiere-plus"}}},
    {"ncg", {{"beta", "fletcher-reeves"}}},
    {"cgls", {}},
    {"lsqr", {}},
    {"newton", {}},
    {"direct", {{"method", "svd"}}},
    {"direct", {{"method", "qr"}}},
    {"direct", {{"method", "cholesky"}}},
};

// |grad f(w)| for the l2 loss of problem.hpp, written out here: (2/n) A^T (A w - y) + ridge w_f.
real l2_gradient_norm(const Mat& X, const Vec& y, const LossSpec& spec, const Vec& w) {
  const Mat A = design_of(X, spec.intercept);
  Vec g = (2.0 / static_cast<real>(X.n_rows)) * A.t() * (A * w - y);
  g.head(X.n_cols) += spec.ridge * w.head(X.n_cols);
  return arma::norm(g);
}

// Whether a reported gradient norm is that of w: equal to l2_gradient_norm up to 1e-6 relative,
// or, at the rounding floor of computing a gradient, within that floor. Two evaluations of the
// same gradient in different operation orders differ by up to about
// eps (n + d) (2/n) |A|_F (|A|_F |w| + |y|) (Higham 2002, Sec. 3.5, for A w - y and then A^T r);
// a gradient from a recurrence can fall many orders below it, which this check catches.
void check_true_gradient(real reported, const Mat& X, const Vec& y, const LossSpec& spec, const Vec& w) {
  const Mat A = design_of(X, spec.intercept);
  const real truth = l2_gradient_norm(X, y, spec, w);
  const real a_norm = arma::norm(A, "fro");
  const real floor = eps * static_cast<real>(A.n_rows + A.n_cols) * (2.0 / static_cast<real>(A.n_rows)) * a_norm *
                     (a_norm * arma::norm(w) + arma::norm(y));
  BOOST_TEST(std::fabs(reported - truth) <= 1e-6 * truth + floor,
             "reported |grad| " << reported << ", recomputed " << truth << ", rounding floor " << floor);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(reach_the_direct_solution, Plugins)

// cond(X) = 10, so cond(H) = 100 (less with ridge). From w_0 = 0, g_0 = -H w*, hence
// |w - w*| / |w*| <= cond(H) |g| / |g_0|: a run stopped at grad_tol = 1e-12 is within 1e-10, and
// the 1e-8 asked for leaves room for the reference's own rounding. Each setup is checked with
// and without ridge and intercept, and through the standardize preconditioner (the optimizers
// then see g(z) = f(P z), i.e. B P for the least-squares methods).
BOOST_AUTO_TEST_CASE(every_method_in_every_setup) {
  struct Setup {
    std::string name;
    real ridge;
    bool intercept;
    std::string preconditioner;
  };
  const std::vector<Setup> setups = {{"plain", 0, false, "none"},
                                     {"ridge", 1e-2, false, "none"},
                                     {"intercept", 0, true, "none"},
                                     {"ridge+intercept+standardize", 1e-2, true, "standardize"},
                                     {"standardize", 0, false, "standardize"}};
  for (const Setup& s : setups) {
    ExperimentSetup setup;
    setup.loss.ridge = s.ridge;
    setup.loss.intercept = s.intercept;
    setup.preconditioner = s.preconditioner;
    Dataset data = spectrum_data(10);
    if (s.intercept) {
      data.y_train += 3.0;  // a real intercept to find
      data.y_test += 3.0;
    }
    const Experiment experiment(std::move(data), setup);
    for (const Method& method : all_methods) {
      const RunResult result = experiment.run(method.name, *registry.create(method.name, method.params), controls());
      BOOST_TEST_CONTEXT(s.name << ", " << method.label() << ": " << to_string(result.status) << " " << result.message) {
        BOOST_TEST(result.status == Status::converged_gradient);
        BOOST_TEST(result.evaluation.relative_weight_error <= 1e-8);
        if (method.name == "newton" || method.name == "direct") BOOST_TEST(result.iterations == 1);
      }
    }
  }
}

// Huber has no least-squares form: newton (damped, Hessian from d products) and ncg reach the
// IRLS reference (converged to a relative change of 1e-12), which is independent of both.
BOOST_AUTO_TEST_CASE(newton_and_ncg_on_huber) {
  ExperimentSetup setup;
  setup.loss.kind = LossKind::huber;
  setup.loss.huber_delta = 0.05;  // below the noise level: many residuals in the linear zone
  setup.loss.ridge = 1e-3;
  const Experiment experiment(spectrum_data(10), setup);
  for (const Method& method : {Method{"newton", {}}, Method{"ncg", {}}}) {
    const RunResult result = experiment.run(method.name, *registry.create(method.name, method.params), controls());
    BOOST_TEST_CONTEXT(method.label() << ": " << to_string(result.status) << " " << result.message) {
      BOOST_TEST(result.status == Status::converged_gradient);
      BOOST_TEST(result.evaluation.relative_weight_error <= 1e-8);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------------------- newton

BOOST_FIXTURE_TEST_SUITE(newton, Plugins)

// On l2 the Newton step from any w solves the problem: one iteration, three data passes (f and
// grad f at w_0, the dense B, f and grad f at w_1), whatever the conditioning up to cond(H) far
// below 1/eps: here cond(X) = 1e3, cond(H) = 1e6, and the error bound eps cond(H) ~ 2e-10.
BOOST_AUTO_TEST_CASE(one_step_on_l2) {
  const Experiment experiment(spectrum_data(1e3), ExperimentSetup{});
  const RunResult result = experiment.run("newton", *registry.create("newton", {}), controls(1e-10));
  BOOST_TEST(result.status == Status::converged_gradient, result.message);
  BOOST_TEST(result.iterations == 1);
  BOOST_TEST(result.data_passes == 3.0);
  BOOST_TEST(result.evaluation.relative_weight_error <= 1e-8);
}

// More unknowns than samples and no ridge: H = (2/n) X^T X has rank n < d, Cholesky is refused,
// and the pseudo-inverse step from 0 is -H^+ g_0 = H^+ (2/n) X^T y, the minimum-norm least-squares
// solution, which is what the SVD reference computes. The consistent system makes the gradient
// at it zero up to rounding.
BOOST_AUTO_TEST_CASE(singular_hessian_gives_the_minimum_norm_solution) {
  const Experiment experiment(spectrum_data(10, 0.0, 30, 60), ExperimentSetup{});
  BOOST_TEST_REQUIRE(experiment.reference().rank == 30u);
  const RunResult result = experiment.run("newton", *registry.create("newton", {}), controls(1e-10));
  BOOST_TEST(result.status == Status::converged_gradient, result.message);
  BOOST_TEST(result.iterations == 1);
  BOOST_TEST(result.evaluation.relative_weight_error <= 1e-8);
}

// A Hessian at the edge of double precision: cond(X) = 1e9, cond(H) = 1e18 > 1/eps. Whatever
// newton reports, it is the truth: the gradient norm is that of the returned w (recomputed here),
// and converged-gradient only if that gradient meets the rule; otherwise the run failed and the
// message says how the system was solved.
BOOST_AUTO_TEST_CASE(status_is_truthful_beyond_one_over_eps) {
  const Dataset data = spectrum_data(1e9);
  const Experiment experiment(data, ExperimentSetup{});
  const RunControls run_controls = controls(1e-10);
  const RunResult result = experiment.run("newton", *registry.create("newton", {}), run_controls);
  const real truth = l2_gradient_norm(data.X_train, data.y_train, LossSpec{}, result.w);
  const real initial = l2_gradient_norm(data.X_train, data.y_train, LossSpec{}, Vec(data.X_train.n_cols, arma::fill::zeros));
  check_true_gradient(result.grad_norm, data.X_train, data.y_train, LossSpec{}, result.w);
  BOOST_TEST(result.iterations == 1);
  if (truth <= run_controls.grad_tol * initial) {
    BOOST_TEST(result.status == Status::converged_gradient);
  } else {
    BOOST_TEST(result.status == Status::failed);
    BOOST_TEST(result.message.find("one Newton step") != std::string::npos, result.message);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------------------- cgls and lsqr

namespace {

// Runs a plugin directly on `problem` (no preconditioner) and returns every iterate: the monitor
// records every iteration (trace_points_per_decade so large that the geometric spacing is one),
// hands each w to the error function, and the plugins report every iteration that is due.
std::vector<Vec> iterates_of(const PluginRegistry& registry, const std::string& name, const Problem& problem,
                             long max_iterations) {
  RunControls run_controls = controls(0, max_iterations);
  run_controls.trace_points_per_decade = 1000000000;
  std::vector<Vec> iterates;
  RunMonitor monitor(
      run_controls,
      [&](const Vec& w) {
        iterates.push_back(w);
        return 0.0;
      },
      [&] { return problem.data_passes(); });
  Vec w(problem.dim(), arma::fill::zeros);
  registry.create(name, {})->minimize(problem, w, monitor);
  return iterates;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(krylov_methods, Plugins)

// In exact arithmetic the k-th iterate of CGLS and of LSQR from 0 minimizes |B w - c| over the
// Krylov space K_k = span{B^T c, (B^T B) B^T c, ..., (B^T B)^{k-1} B^T c} (Bjorck 1996, Sec. 7.4;
// Paige & Saunders 1982, Sec. 3). The minimizer is computed here independently: an orthonormal
// basis V_k of K_k by Gram-Schmidt applied twice, then min |B V_k y - c| by LAPACK's least
// squares, with B and c written out from X and y (with the ridge rows). On cond(X) = 10 the
// early iterates are well determined, and the plugins must match them to 1e-9. (Not with a
// large target offset and an intercept: the offset makes one singular value stand apart, its
// Ritz value converges at once, and finite-precision CG then loses the orthogonality of exact
// arithmetic (Greenbaum, Iterative Methods for Solving Linear Systems, 1997, Ch. 4): both plugins
// left the exact iterates by 1e-5 from the sixth step there, while still converging.)
BOOST_AUTO_TEST_CASE(iterates_minimize_over_the_krylov_space) {
  LossSpec spec;
  spec.ridge = 1e-2;
  const Dataset data = spectrum_data(10);
  const LinearModelProblem problem(data.X_train, data.y_train, spec);
  const real n = static_cast<real>(data.X_train.n_rows);
  const Index d = data.X_train.n_cols;
  Mat B = arma::join_cols(data.X_train / std::sqrt(n), Mat(d, d, arma::fill::zeros));
  B.submat(data.X_train.n_rows, 0, data.X_train.n_rows + d - 1, d - 1).diag().fill(std::sqrt(spec.ridge / 2));
  const Vec c = arma::join_cols(Vec(data.y_train / std::sqrt(n)), Vec(d, arma::fill::zeros));

  const long steps = 8;
  Mat basis(d, 0);
  Vec next = B.t() * c;
  std::vector<Vec> krylov_minimizers;
  for (long k = 1; k <= steps; ++k) {
    for (int pass = 0; pass < 2; ++pass) next -= basis * (basis.t() * next);
    basis = arma::join_rows(basis, next / arma::norm(next));
    krylov_minimizers.push_back(basis * Vec(arma::solve(B * basis, c)));
    next = B.t() * (B * basis.col(basis.n_cols - 1));
  }
  for (const std::string name : {"cgls", "lsqr"}) {
    const std::vector<Vec> iterates = iterates_of(registry, name, problem, steps);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST_REQUIRE(iterates.size() >= static_cast<std::size_t>(steps + 1));
      BOOST_TEST(arma::norm(iterates[0]) == 0.0);
      for (long k = 1; k <= steps; ++k) {
        BOOST_TEST(relative(iterates[k], krylov_minimizers[k - 1]) <= 1e-9, "iteration " << k);
      }
    }
  }
}

// cond(X) = kappa = 1e4 (cond(H) = 1e8). CG on the normal equations reduces the H-norm of the
// error by 2 rho^k, rho = (kappa - 1) / (kappa + 1) <= exp(-2 / kappa) (Golub & Van Loan, Thm.
// 11.3.3, with sqrt(cond(H)) = kappa); from w_0 = 0 the gradient g = H e satisfies
// |g_k| / |g_0| <= sqrt(cond(H)) |e_k|_H / |e_0|_H <= 2 kappa rho^k. So |g_k| <= eps |g_0| after
// at most k = (kappa / 2) ln(2 kappa / eps) iterations: the bound c kappa ln(1/eps') with c = 1/2
// and eps' = eps / (2 kappa). With eps = 1e-14 that is 5000 ln(2e18) ~ 210,000 iterations; the
// d = 50 distinct singular values end the iteration far earlier (measured: cgls 946, lsqr 563).
// Without noise the system is consistent and the error at the end is at the rounding level of
// the methods (measured 1.5e-9 and 4.9e-10), checked at <= 1e-8; the gradient rule at 1e-14 is
// needed for that, since |w - w*| / |w*| <= cond(H) |g| / |g_0| is all the gradient guarantees.
BOOST_AUTO_TEST_CASE(cond_1e4_within_the_cg_iteration_bound) {
  const real kappa = 1e4;
  const real tolerance = 1e-14;
  const Dataset data = spectrum_data(kappa, 0.0);
  const Experiment experiment(data, ExperimentSetup{});
  const real bound = kappa / 2 * std::log(2 * kappa / tolerance);
  for (const std::string name : {"cgls", "lsqr"}) {
    const RunResult result = experiment.run(name, *registry.create(name, {}), controls(tolerance, 200000));
    BOOST_TEST_CONTEXT(name << ": " << to_string(result.status) << " " << result.message << ", " << result.iterations
                            << " iterations") {
      BOOST_TEST(result.status == Status::converged_gradient);
      BOOST_TEST(result.iterations <= bound);
      check_true_gradient(result.grad_norm, data.X_train, data.y_train, LossSpec{}, result.w);
      BOOST_TEST(result.evaluation.relative_weight_error <= 1e-8);
      // One pass per iteration plus one per exact report (trace points and the final check).
      BOOST_TEST(result.data_passes >= static_cast<double>(result.iterations));
      BOOST_TEST(result.data_passes <= result.iterations + 1.0 + 2.0 * static_cast<double>(result.trace.size()));
    }
  }
}

// On an ill-conditioned problem (cond(X) = 1e7, cond(H) = 1e14) the recurrences of CGLS and LSQR
// drift from the true residual, and a gradient taken from them would fall below what the
// arithmetic attains. Whatever the runs end with, the reported gradient and loss are those of
// the returned weights (recomputed here from X and y), converged-gradient is claimed only when
// that gradient meets the rule, and a failed run says why.
BOOST_AUTO_TEST_CASE(reported_gradient_is_the_true_gradient) {
  const Dataset data = spectrum_data(1e7);
  const Experiment experiment(data, ExperimentSetup{});
  for (const std::string name : {"cgls", "lsqr", "direct", "newton"}) {
    const RunResult result = experiment.run(name, *registry.create(name, {}), controls(1e-13, 3000));
    BOOST_TEST_CONTEXT(name << ": " << to_string(result.status) << " " << result.message) {
      const real truth = l2_gradient_norm(data.X_train, data.y_train, LossSpec{}, result.w);
      check_true_gradient(result.grad_norm, data.X_train, data.y_train, LossSpec{}, result.w);
      BOOST_TEST(relative(result.evaluation.train_loss, experiment.evaluate(result.w).train_loss) <= 1e-12);
      const real initial = result.trace.front().grad_norm;
      if (result.status == Status::converged_gradient) BOOST_TEST(truth <= 1e-13 * initial * (1 + 1e-6));
      if (result.status == Status::failed) BOOST_TEST(!result.message.empty());
    }
  }
}

// Rank-deficient least squares (d > n, no ridge): from 0, CGLS and LSQR stay in range(B^T), so
// they converge to the minimum-norm solution, the SVD reference.
BOOST_AUTO_TEST_CASE(minimum_norm_solution_when_rank_deficient) {
  const Experiment experiment(spectrum_data(10, 0.0, 30, 60), ExperimentSetup{});
  for (const std::string name : {"cgls", "lsqr"}) {
    const RunResult result = experiment.run(name, *registry.create(name, {}), controls(1e-12));
    BOOST_TEST_CONTEXT(name << ": " << to_string(result.status) << " " << result.message) {
      BOOST_TEST(result.status == Status::converged_gradient);
      BOOST_TEST(result.evaluation.relative_weight_error <= 1e-8);
    }
  }
}

// The methods' own tests stop a run; when the run's rule does not hold there, the run failed
// and says which test stopped it, with the exact gradient reported.
BOOST_AUTO_TEST_CASE(own_stopping_tests_are_named) {
  const Experiment experiment(spectrum_data(100), ExperimentSetup{});
  const RunResult cgls = experiment.run("cgls", *registry.create("cgls", {{"tol", "1e-4"}}), controls(1e-12));
  BOOST_TEST(cgls.status == Status::failed);
  BOOST_TEST(cgls.message.find("CGLS test |B^T r| <= tol |B^T r_0|") != std::string::npos, cgls.message);
  BOOST_TEST(cgls.grad_norm <= 1e-4 * cgls.trace.front().grad_norm);
  BOOST_TEST(cgls.grad_norm > 1e-12 * cgls.trace.front().grad_norm);

  const RunResult lsqr = experiment.run("lsqr", *registry.create("lsqr", {{"atol", "1e-5"}}), controls(1e-12));
  BOOST_TEST(lsqr.status == Status::failed);
  BOOST_TEST(lsqr.message.find("LSQR test S2") != std::string::npos, lsqr.message);

  // cond(X) = 1e9 > conlim = 1e8: LSQR's estimate of cond(B) passes the limit.
  const Experiment ill(spectrum_data(1e9), ExperimentSetup{});
  const RunResult limited = ill.run("lsqr", *registry.create("lsqr", {}), controls(1e-14));
  BOOST_TEST(limited.status == Status::failed);
  BOOST_TEST(limited.message.find("LSQR test S3") != std::string::npos, limited.message);

  // With the run's own tolerance loose enough, the same stop is a convergence.
  const RunResult loose = experiment.run("cgls", *registry.create("cgls", {{"tol", "1e-4"}}), controls(1e-3));
  BOOST_TEST(loose.status == Status::converged_gradient);
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------------------- refusals

BOOST_FIXTURE_TEST_SUITE(unsupported_problems, Plugins)

// Methods for linear least squares refuse problems without the least-squares form; newton
// refuses l1 (no Hessian); direct:cholesky refuses cond(X) = 1e9 with the solver's reason; and
// direct:qr a rank-deficient B. Each is a failed run with a reason, not an exception.
BOOST_AUTO_TEST_CASE(failed_runs_with_a_reason) {
  ExperimentSetup huber;
  huber.loss.kind = LossKind::huber;
  const Experiment huber_experiment(spectrum_data(10), huber);
  for (const std::string name : {"cgls", "lsqr"}) {
    const RunResult result = huber_experiment.run(name, *registry.create(name, {}), controls());
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(result.status == Status::failed);
      BOOST_TEST(result.message.find("needs a linear least-squares problem") != std::string::npos, result.message);
    }
  }
  // direct also takes quadratics without the least-squares form (the kernel system), not huber.
  const RunResult direct_huber = huber_experiment.run("direct", *registry.create("direct", {}), controls());
  BOOST_TEST(direct_huber.status == Status::failed);
  BOOST_TEST(direct_huber.message.find("not quadratic") != std::string::npos, direct_huber.message);
  ExperimentSetup l1;
  l1.loss.kind = LossKind::l1;
  const Experiment l1_experiment(spectrum_data(10), l1);
  const RunResult newton = l1_experiment.run("newton", *registry.create("newton", {}), controls());
  BOOST_TEST(newton.status == Status::failed);
  BOOST_TEST(newton.message.find("no Hessian") != std::string::npos, newton.message);

  const Experiment ill(spectrum_data(1e9), ExperimentSetup{});
  const RunResult cholesky = ill.run("direct", *registry.create("direct", {{"method", "cholesky"}}), controls());
  BOOST_TEST(cholesky.status == Status::failed);
  BOOST_TEST(cholesky.message.find("cholesky") != std::string::npos, cholesky.message);
  BOOST_TEST(cholesky.iterations == 0);

  const Experiment wide(spectrum_data(10, 0.0, 30, 60), ExperimentSetup{});
  const RunResult qr = wide.run("direct", *registry.create("direct", {{"method", "qr"}}), controls());
  BOOST_TEST(qr.status == Status::failed);
  BOOST_TEST(qr.message.find("qr") != std::string::npos, qr.message);
}

// The kernel system has no least-squares form: direct assembles H = K + lambda I from d counted
// Hessian-vector products and solves H alpha = y. Truth: an independent dense solve of
// (K + lambda I) alpha = y (LAPACK LU, arma::solve). cond(H) is below 1e5 here (checked), so
// every method's forward error is below ~1e5 eps, and 1e-9 leaves room for it. Also through a
// preconditioner: jacobi and whiten, whose problems the optimizers see as materialized kernel
// systems in z; the result, mapped back with P, is the same alpha.
BOOST_AUTO_TEST_CASE(direct_solves_the_kernel_system_from_its_hessian) {
  const KernelSpec spec = small_gaussian_kernel();
  const Dataset data = generate(spec);
  const real lambda = 1e-3;
  const Mat H = data.X_train + lambda * arma::eye<Mat>(spec.n, spec.n);
  BOOST_TEST(arma::cond(H) < 1e5);
  const Vec truth = arma::solve(H, data.y_train);
  for (const std::string preconditioner : {"none", "jacobi", "whiten"}) {
    ExperimentSetup setup;
    setup.formulation = Formulation::kernel_system;
    setup.loss.ridge = lambda;
    setup.preconditioner = preconditioner;
    const Experiment experiment(data, setup);
    BOOST_TEST(relative(experiment.reference().w, truth) < 1e-9);
    for (const std::string method : {"svd", "qr", "cholesky"}) {
      const RunResult result = experiment.run("direct", *registry.create("direct", {{"method", method}}), controls());
      BOOST_TEST_CONTEXT(preconditioner << ", direct:" << method << ": " << to_string(result.status) << " " << result.message) {
        BOOST_TEST(result.status == Status::converged_gradient);
        BOOST_TEST(result.iterations == 1);
        BOOST_TEST(relative(result.w, truth) < 1e-9);
        BOOST_TEST(result.evaluation.relative_weight_error < 1e-9);
        // f and grad f at the start and at the solution, and the n products H e_j.
        BOOST_TEST(result.data_passes == static_cast<double>(spec.n + 2));
      }
    }
  }
}

// A singular kernel (lambda = 0): K = Q diag(1 ... 1e-3, 0 ... 0) Q^T of rank 10 in 30, and
// y = K v in its range, so f is bounded below and its minimizers are alpha* + null(K). svd
// gives the minimum-norm one, K^+ y, which is checked against the pseudo-inverse formed here
// from Q; qr refuses the rank-deficient H with its reason (a failed run, not an exception).
BOOST_AUTO_TEST_CASE(direct_on_a_singular_kernel_system) {
  std::mt19937_64 rng(5);
  const Index n = 30, rank = 10;
  Vec eigenvalues(n, arma::fill::zeros);
  for (Index i = 0; i < rank; ++i) eigenvalues(i) = std::pow(1e-3, static_cast<real>(i) / (rank - 1));
  const Mat Q = orthonormal(rng, n, n);
  Mat K = Q * arma::diagmat(eigenvalues) * Q.t();
  K = 0.5 * (K + K.t());
  Dataset data;
  data.X_train = K;
  data.y_train = K * gaussian_vec(rng, n);
  data.source = "rank-10 kernel";
  const Mat Q_range = Q.head_cols(rank);
  const Vec truth = Q_range * ((Q_range.t() * data.y_train) / eigenvalues.head(rank));
  ExperimentSetup setup;
  setup.formulation = Formulation::kernel_system;
  const Experiment experiment(data, setup);
  BOOST_TEST(experiment.reference().rank == rank);
  const RunResult svd = experiment.run("direct", *registry.create("direct", {{"method", "svd"}}), controls());
  BOOST_TEST_CONTEXT(to_string(svd.status) << " " << svd.message) {
    BOOST_TEST(svd.status == Status::converged_gradient);
    BOOST_TEST(relative(svd.w, truth) < 1e-9);  // cond of the range part 1e3
    BOOST_TEST(svd.evaluation.relative_weight_error < 1e-9);
  }
  const RunResult qr = experiment.run("direct", *registry.create("direct", {{"method", "qr"}}), controls());
  BOOST_TEST(qr.status == Status::failed);
  BOOST_TEST(qr.message.find("qr") != std::string::npos, qr.message);
}

BOOST_AUTO_TEST_CASE(bad_line_search_constants_are_input_errors) {
  require_throws_naming<InputError>([&] { registry.create("ncg", {{"c1", "0.5"}, {"c2", "0.4"}}); },
                                    {"ncg", "c1 < c2 < 1"});
}

BOOST_AUTO_TEST_SUITE_END()
