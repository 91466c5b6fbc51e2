// Gradient descent: w_{k+1} = w_k - lr_k g_k, with g_k the full gradient by default (batch_size
// = full) or a minibatch gradient. On an L-smooth, mu-strongly convex f, lr = 1/L contracts the
// error by (1 - mu/L) per full-batch step (Nesterov 2004, Thm. 2.1.15); lr >= 2/L diverges on a
// quadratic. `sgd` is the same update with minibatches and averaging by default.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

using namespace kappa;

KAPPA_PLUGIN(registrar) {
  registrar.add({"gd", "gradient descent, full batch by default (Cauchy 1847; Nesterov 2004, Sec. 2.1.5)",
                 first_order_params("auto", "full"), function_optimizer(minimize_gradient_steps)});
}
