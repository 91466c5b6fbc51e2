// The plain gradient step w_{k+1} = w_k - lr_k g_k on the SDK's first-order loop, registered
// twice with different defaults:
//   gd   full-batch gradient descent (Cauchy 1847). On an L-smooth, mu-strongly convex f,
//        lr = 1/L contracts the error by (1 - mu/L) per step (Nesterov 2004, Thm. 2.1.15);
//        lr >= 2/L diverges on a quadratic.
//   sgd  stochastic gradient descent (Robbins & Monro 1951) as torch.optim.SGD without
//        momentum: g_k the mean gradient over a minibatch of 1 row by default. With a constant
//        step the iterates stop at a noise floor of order lr * (gradient noise); a decaying
//        schedule (inverse-time) or Polyak-Ruppert averaging (averaging=polyak; for least
//        squares with a constant step, O(1/t) convergence, Bach & Moulines 2013) removes it.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void gradient_steps(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  iterate_first_order(params, problem, w, monitor,
                      [](Vec& weights, const Vec& gradient, long, real step) { weights -= step * gradient; });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"gd", "gradient descent, full batch by default (Cauchy 1847; Nesterov 2004, Sec. 2.1.5)",
                 first_order_params("auto", "full"), function_optimizer(gradient_steps), {MethodClass::gradient_descent}, true});
  registrar.add({"sgd", "minibatch SGD, optional Polyak-Ruppert averaging (Robbins & Monro 1951; Polyak & Juditsky 1992)",
                 with_params(first_order_params("auto", "1"), averaging_params()), function_optimizer(gradient_steps),
                 {MethodClass::gradient_descent}, true});
}
