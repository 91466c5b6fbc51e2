// AMSGrad (Reddi, Kale & Kumar 2018, "On the convergence of Adam and beyond", Alg. 2), as
// torch.optim.Adam(amsgrad=True): Adam with the running maximum of the second moment in the
// denominator, so the effective step never grows; with a decaying step (schedule=inverse-time)
// it converges on convex problems, where Adam may not.
#include <kappa/adaptive.hpp>
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

void amsgrad(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  AdamSettings settings = adam_settings(params);
  settings.amsgrad = true;
  minimize_adam(settings, params, problem, w, monitor);
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"amsgrad", "AMSGrad, torch.optim.Adam(amsgrad=True) (Reddi et al. 2018, Alg. 2)",
                 with_params(first_order_params("1e-3"), adam_params()),
                 function_optimizer(amsgrad)});
}
