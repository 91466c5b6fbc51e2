// Adam (Kingma & Ba 2015, Algorithm 1), as torch.optim.Adam with default arguments:
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,
//   w -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps).
// With a constant lr Adam does not converge to the minimizer in general: near it the step
// stays of order lr (Reddi et al. 2018), which is why it stalls on the seed's problem.
#include <cmath>

#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void adam(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const real lr = resolve_step_size(params, problem);
  const real beta1 = params.get_real("beta1");
  const real beta2 = params.get_real("beta2");
  const real eps = params.get_real("eps");
  Vec first_moment(w.n_elem, arma::fill::zeros);
  Vec second_moment(w.n_elem, arma::fill::zeros);
  iterate_first_order(problem, w, monitor, [&](Vec& weights, const Vec& gradient, long iteration) {
    const real t = static_cast<real>(iteration + 1);
    first_moment = beta1 * first_moment + (1 - beta1) * gradient;
    second_moment = beta2 * second_moment + (1 - beta2) * arma::square(gradient);
    const real first_correction = 1 - std::pow(beta1, t);
    const real second_correction = 1 - std::pow(beta2, t);
    weights -= lr * (first_moment / first_correction) / (arma::sqrt(second_moment / second_correction) + eps);
  });
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"adam", "Adam, torch.optim.Adam defaults (Kingma & Ba 2015, Alg. 1)",
                 {step_size_param("1e-3"),
                  real_param("beta1", "0.9", "decay rate of the first-moment estimate", 0.0, false, 0.999999),
                  real_param("beta2", "0.999", "decay rate of the second-moment estimate", 0.0, false, 0.999999),
                  real_param("eps", "1e-8", "added to the root of the second moment", 0.0, true)},
                 function_optimizer(adam)});
}
