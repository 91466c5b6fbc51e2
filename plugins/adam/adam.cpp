// The Adam family on the SDK's first-order loop, one update (adam_update.hpp) with two
// switches, registered three times:
//   adam     Kingma & Ba 2015, Alg. 1, as torch.optim.Adam with default arguments. With a
//            constant lr Adam does not converge to the minimizer in general: near it the step
//            stays of order lr (Reddi et al. 2018), which is why it stalls on the seed's
//            problem; a decaying schedule helps.
//   amsgrad  Reddi, Kale & Kumar 2018, "On the convergence of Adam and beyond", Alg. 2, as
//            torch.optim.Adam(amsgrad=True): the running maximum of the second moment in the
//            denominator, so the effective step never grows; with a decaying step
//            (schedule=inverse-time) it converges on convex problems, where Adam may not.
//   adamw    Loshchilov & Hutter 2019, "Decoupled weight decay regularization", Alg. 2, as
//            torch.optim.AdamW: Adam plus w -= step * weight_decay * w at every update. The decay
//            is not part of the loss, so with weight_decay > 0 the iterates approach a point
//            other than the minimizer w* of f (for an L2 penalty that reaches w*, use the
//            problem's ridge instead); with weight_decay = 0 AdamW is Adam.
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

#include "adam_update.hpp"

namespace {

using namespace kappa;
using namespace kappa::adam;

// A minimize function for one variant: the settings from the parameters, then `variant`'s switches.
template <class Variant>
auto variant_minimize(Variant variant) {
  return [variant](const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
    AdamSettings settings = adam_settings(params);
    variant(settings, params);
    minimize_adam(settings, params, problem, w, monitor);
  };
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  const ParamSchema common = with_params(first_order_params("1e-3"), adam_params());
  registrar.add({"adam", "Adam, torch.optim.Adam defaults (Kingma & Ba 2015, Alg. 1)", common,
                 function_optimizer(variant_minimize([](AdamSettings&, const Params&) {})), {}, true});
  registrar.add({"amsgrad", "AMSGrad, torch.optim.Adam(amsgrad=True) (Reddi et al. 2018, Alg. 2)", common,
                 function_optimizer(variant_minimize([](AdamSettings& settings, const Params&) { settings.amsgrad = true; })), {}, true});
  registrar.add({"adamw", "AdamW, Adam with decoupled weight decay, torch.optim.AdamW (Loshchilov & Hutter 2019)",
                 with_params(common, {real_param("weight_decay", "1e-2", "decoupled decay per unit step (torch default)", 0.0)}),
                 function_optimizer(variant_minimize([](AdamSettings& settings, const Params& params) {
                   settings.weight_decay = params.get_real("weight_decay");
                 })), {}, true});
}
