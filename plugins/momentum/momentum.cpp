// Heavy-ball momentum (Polyak 1964) in the form of PyTorch's SGD(momentum=beta):
//   v_{k+1} = beta v_k + grad f(w_k),   w_{k+1} = w_k - lr v_{k+1}.
// On a quadratic it converges for 0 <= beta < 1 and 0 < lr < 2 (1 + beta) / L; the optimal
// lr = 4 / (sqrt(L) + sqrt(mu))^2, beta = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2 gives the
// rate (sqrt(kappa) - 1) / (sqrt(kappa) + 1).
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void heavy_ball(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const real beta = params.get_real("momentum");
  Vec velocity(w.n_elem, arma::fill::zeros);
  iterate_first_order(params, problem, w, monitor, [&](Vec& weights, const Vec& gradient, long, real step) {
    velocity = beta * velocity + gradient;
    weights -= step * velocity;
  });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"momentum", "heavy-ball momentum, PyTorch SGD(momentum) form (Polyak 1964)",
                 with_params(first_order_params("auto"), {real_param("momentum", "0.9", "momentum coefficient beta", 0.0, false, 0.999999)}),
                 function_optimizer(heavy_ball), {MethodClass::heavy_ball}, true});
}
