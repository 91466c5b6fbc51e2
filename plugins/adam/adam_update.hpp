#pragma once
// The update of the Adam family, shared by adam, amsgrad and adamw (adam.cpp; one
// implementation: they differ only in two switches). Follows torch.optim.Adam / AdamW:
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2          (Kingma & Ba 2015, Alg. 1)
//   v_hat = max(v_hat, v) with amsgrad, else v                             (Reddi et al. 2018, Alg. 2)
//   w -= step * weight_decay * w   (decoupled weight decay, AdamW)         (Loshchilov & Hutter 2019)
//   w -= step * (m / (1 - beta1^t)) / (sqrt(v_hat / (1 - beta2^t)) + eps)
// with t = iteration + 1. Near the minimizer the step stays of order `step` whatever the
// gradient's size, which is why Adam with a constant lr stalls short of w* (Reddi et al. 2018).

#include <kappa/monitor.hpp>
#include <kappa/params.hpp>
#include <kappa/problem.hpp>

namespace kappa::adam {

struct AdamSettings {
  real beta1 = 0.9;
  real beta2 = 0.999;
  real eps = 1e-8;
  bool amsgrad = false;
  real weight_decay = 0;  // decoupled (AdamW); 0 for Adam and AMSGrad
};

class AdamUpdate {
 public:
  AdamUpdate(const AdamSettings& settings, Index dim);
  void apply(Vec& w, const Vec& gradient, long iteration, real step);

 private:
  AdamSettings settings_;
  Vec first_moment_;
  Vec second_moment_;
  Vec max_second_moment_;  // amsgrad only
  Vec scratch_;
};

// The parameters beta1, beta2, eps with torch's defaults, and the settings they give.
ParamSchema adam_params();
AdamSettings adam_settings(const Params& params);

// A whole Adam-family run on the shared first-order loop (first_order.hpp): minibatches,
// schedules and the Monitor as for every first-order plugin.
void minimize_adam(const AdamSettings& settings, const Params& params, const Problem& problem, Vec& w, Monitor& monitor);

}  // namespace kappa::adam
