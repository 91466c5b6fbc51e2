// Nesterov's accelerated gradient (Nesterov 1983) in the form of PyTorch's
// SGD(momentum=beta, nesterov=True) (Sutskever et al. 2013):
//   v_{k+1} = beta v_k + grad f(w_k),   w_{k+1} = w_k - lr (grad f(w_k) + beta v_{k+1}).
// This is the look-ahead method rewritten so that the gradient is taken at the reported
// iterate, which keeps one gradient evaluation per iteration.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void nesterov(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const real beta = params.get_real("momentum");
  Vec velocity(w.n_elem, arma::fill::zeros);
  iterate_first_order(params, problem, w, monitor, [&](Vec& weights, const Vec& gradient, long, real step) {
    velocity = beta * velocity + gradient;
    weights -= step * (gradient + beta * velocity);
  });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"nesterov", "Nesterov accelerated gradient, PyTorch SGD(nesterov=True) form (Nesterov 1983)",
                 with_params(first_order_params("auto"), {real_param("momentum", "0.9", "momentum coefficient beta", 0.0, false, 0.999999)}),
                 function_optimizer(nesterov), {MethodClass::nesterov}, true});
}
