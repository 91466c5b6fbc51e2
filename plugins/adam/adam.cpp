// Adam (Kingma & Ba 2015, Algorithm 1), as torch.optim.Adam with default arguments; the update
// is kappa::AdamUpdate (adaptive.hpp), shared with amsgrad and adamw. With a constant lr Adam
// does not converge to the minimizer in general: near it the step stays of order lr (Reddi et
// al. 2018), which is why it stalls on the seed's problem; a decaying schedule helps.
#include <kappa/adaptive.hpp>
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void adam(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  AdamSettings settings = adam_settings(params);
  minimize_adam(settings, params, problem, w, monitor);
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"adam", "Adam, torch.optim.Adam defaults (Kingma & Ba 2015, Alg. 1)",
                 with_params(first_order_params("1e-3"), adam_params()),
                 function_optimizer(adam)});
}
