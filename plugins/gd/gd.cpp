// Full-batch gradient descent with a fixed step: w_{k+1} = w_k - lr grad f(w_k).
// On an L-smooth, mu-strongly convex f, lr = 1/L contracts the error by (1 - mu/L) per step
// (Nesterov 2004, Thm. 2.1.15); lr >= 2/L diverges on a quadratic.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void gradient_descent(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const real lr = resolve_step_size(params, problem);
  iterate_first_order(problem, w, monitor, [lr](Vec& weights, const Vec& gradient, long) { weights -= lr * gradient; });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"gd", "full-batch gradient descent with a fixed step size", {step_size_param("auto")},
                 function_optimizer(gradient_descent)});
}
