// AdaGrad (Duchi, Hazan & Singer 2011), as torch.optim.Adagrad (lr_decay = 0):
//   G += g^2,   w -= lr_k g / (sqrt(G) + eps).
// The per-coordinate steps shrink like 1/sqrt(sum of squared gradients), a built-in decay:
// it converges on convex problems with a constant lr, slowly.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void adagrad(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const real eps = params.get_real("eps");
  Vec squared_sum(w.n_elem, arma::fill::value(params.get_real("initial_accumulator")));
  iterate_first_order(params, problem, w, monitor, [&](Vec& weights, const Vec& gradient, long, real step) {
    squared_sum += arma::square(gradient);
    weights -= step * (gradient / (arma::sqrt(squared_sum) + eps));
  });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"adagrad", "AdaGrad, torch.optim.Adagrad defaults (Duchi, Hazan & Singer 2011)",
                 with_params(first_order_params("1e-2"),
                             {real_param("eps", "1e-10", "added to the root of the accumulated squares", 0.0, true),
                              real_param("initial_accumulator", "0", "starting value of the accumulated squares", 0.0)}),
                 function_optimizer(adagrad), {}, true});
}
