// A plugin that loads and creates its optimizers fine, but whose minimize() misbehaves: throws
// after one report (`bad_minimize_std`, a std::runtime_error) or before any (`bad_minimize_int`,
// a value that is not a std::exception), or reports a negative gradient norm
// (`bad_minimize_negative_norm`, which would otherwise read as converged-gradient). The framework
// must turn each into a `failed` run with the reason, never a crash or a false status: a failed
// row in `kappa solve`, a failed task in `kappa study`.
// Built into its own directory (minimize_plugins), since it loads.
#include <stdexcept>

#include <kappa/plugin.hpp>

namespace {

void throw_std_after_one_report(const kappa::Params&, const kappa::Problem& problem, kappa::Vec& w, kappa::Monitor& monitor) {
  kappa::Vec gradient(w.n_elem);
  const kappa::real loss = problem.loss_grad(w, gradient);
  if (monitor.report(0, loss, arma::norm(gradient), w)) return;
  throw std::runtime_error("minimize broken on purpose");
}

void throw_int_at_once(const kappa::Params&, const kappa::Problem&, kappa::Vec&, kappa::Monitor&) { throw 42; }

void report_negative_norm(const kappa::Params&, const kappa::Problem& problem, kappa::Vec& w, kappa::Monitor& monitor) {
  kappa::Vec gradient(w.n_elem);
  const kappa::real loss = problem.loss_grad(w, gradient);
  monitor.report(0, loss, -1.0, w);
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"bad_minimize_std", "minimize() throws std::runtime_error after iteration 0", {},
                 kappa::function_optimizer(throw_std_after_one_report)});
  registrar.add({"bad_minimize_int", "minimize() throws 42 before any report", {},
                 kappa::function_optimizer(throw_int_at_once)});
  registrar.add({"bad_minimize_negative_norm", "minimize() reports a gradient norm of -1", {},
                 kappa::function_optimizer(report_negative_norm)});
}
