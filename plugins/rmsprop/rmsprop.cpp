// RMSprop (Tieleman & Hinton 2012, Coursera lecture 6.5), as torch.optim.RMSprop without
// momentum or centring:  v = alpha v + (1 - alpha) g^2,   w -= lr_k g / (sqrt(v) + eps).
// Like Adam, its steps do not shrink near the minimizer with a constant lr.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void rmsprop(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const real alpha = params.get_real("alpha");
  const real eps = params.get_real("eps");
  Vec mean_square(w.n_elem, arma::fill::zeros);
  iterate_first_order(params, problem, w, monitor, [&](Vec& weights, const Vec& gradient, long, real step) {
    mean_square = alpha * mean_square + (1 - alpha) * arma::square(gradient);
    weights -= step * (gradient / (arma::sqrt(mean_square) + eps));
  });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"rmsprop", "RMSprop, torch.optim.RMSprop defaults (Tieleman & Hinton 2012)",
                 with_params(first_order_params("1e-2"),
                             {real_param("alpha", "0.99", "decay rate of the mean square", 0.0, false, 0.999999),
                              real_param("eps", "1e-8", "added to the root of the mean square", 0.0, true)}),
                 function_optimizer(rmsprop), {}, true});
}
