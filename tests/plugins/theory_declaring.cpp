// An out-of-tree optimizer family that the workbench knows nothing of, to show that theory
// predictions follow the class a plugin declares (OptimizerInfo::theory), never its name:
//   plain_steps             w -= lr g on the SDK's first-order loop (the same steps and schema as
//                           the shipped gd), declaring gradient_descent: the same `predicted`
//                           value as gd on the same problem.
//   plain_steps_none        the same steps without a declaration (MethodTheory's default, none):
//                           no prediction, `-`.
// Built into its own directory (theory_plugins) and loaded with --plugin-dir.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

void plain_steps(const kappa::Params& params, const kappa::Problem& problem, kappa::Vec& w, kappa::Monitor& monitor) {
  kappa::iterate_first_order(params, problem, w, monitor,
                             [](kappa::Vec& weights, const kappa::Vec& gradient, long, kappa::real step) { weights -= step * gradient; });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"plain_steps", "plain gradient steps declaring the gradient-descent theory (test plugin)",
                 kappa::first_order_params("auto", "full"), kappa::function_optimizer(plain_steps),
                 {kappa::MethodClass::gradient_descent}});
  registrar.add({"plain_steps_none", "plain gradient steps declaring no theory (test plugin)",
                 kappa::first_order_params("auto", "full"), kappa::function_optimizer(plain_steps)});
}
