// Stochastic gradient descent (Robbins & Monro 1951) as torch.optim.SGD without momentum:
// w_{k+1} = w_k - lr_k g_k with g_k the mean gradient over a minibatch (first_order.hpp). With a
// constant step the iterates stop at a noise floor of order lr * (gradient noise); a decaying
// schedule (inverse-time) or Polyak-Ruppert averaging (averaging=polyak; for least squares
// with a constant step, O(1/t) convergence, Bach & Moulines 2013) removes it.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

using namespace kappa;

KAPPA_PLUGIN(registrar) {
  registrar.add({"sgd", "minibatch SGD, optional Polyak-Ruppert averaging (Robbins & Monro 1951; Polyak & Juditsky 1992)",
                 with_params(first_order_params("auto", "1"), averaging_params()), function_optimizer(minimize_gradient_steps)});
}
