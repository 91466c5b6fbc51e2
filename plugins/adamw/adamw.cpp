// AdamW (Loshchilov & Hutter 2019, "Decoupled weight decay regularization", Alg. 2), as
// torch.optim.AdamW: Adam plus w -= step * weight_decay * w at every update. The decay is not
// part of the loss, so with weight_decay > 0 the iterates approach a point other than the
// minimizer w* of f (for an L2 penalty that reaches w*, use the problem's ridge instead); with
// weight_decay = 0 AdamW is Adam.
#include <kappa/adaptive.hpp>
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void adamw(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  AdamSettings settings = adam_settings(params);
  settings.weight_decay = params.get_real("weight_decay");
  minimize_adam(settings, params, problem, w, monitor);
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"adamw", "AdamW, Adam with decoupled weight decay, torch.optim.AdamW (Loshchilov & Hutter 2019)",
                 with_params(with_params(first_order_params("1e-3"), adam_params()),
                             {real_param("weight_decay", "1e-2", "decoupled decay per unit step (torch default)", 0.0)}),
                 function_optimizer(adamw)});
}
