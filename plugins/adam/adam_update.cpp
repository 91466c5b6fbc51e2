#include "adam_update.hpp"

#include <cmath>

#include <kappa/first_order.hpp>

namespace kappa::adam {

AdamUpdate::AdamUpdate(const AdamSettings& settings, Index dim)
    : settings_(settings),
      first_moment_(dim, arma::fill::zeros),
      second_moment_(dim, arma::fill::zeros),
      max_second_moment_(settings.amsgrad ? dim : 0, arma::fill::zeros),
      scratch_(dim) {}

void AdamUpdate::apply(Vec& w, const Vec& gradient, long iteration, real step) {
  const real t = static_cast<real>(iteration + 1);
  first_moment_ = settings_.beta1 * first_moment_ + (1 - settings_.beta1) * gradient;
  second_moment_ = settings_.beta2 * second_moment_ + (1 - settings_.beta2) * arma::square(gradient);
  if (settings_.amsgrad) max_second_moment_ = arma::max(max_second_moment_, second_moment_);
  const Vec& second = settings_.amsgrad ? max_second_moment_ : second_moment_;
  const real first_correction = 1 - std::pow(settings_.beta1, t);
  const real second_correction = 1 - std::pow(settings_.beta2, t);
  if (settings_.weight_decay != 0) w *= 1 - step * settings_.weight_decay;
  scratch_ = arma::sqrt(second / second_correction) + settings_.eps;
  w -= (step / first_correction) * (first_moment_ / scratch_);
}

ParamSchema adam_params() {
  return {real_param("beta1", "0.9", "decay rate of the first-moment estimate", 0.0, false, 0.999999),
          real_param("beta2", "0.999", "decay rate of the second-moment estimate", 0.0, false, 0.999999),
          real_param("eps", "1e-8", "added to the root of the second moment", 0.0, true)};
}

AdamSettings adam_settings(const Params& params) {
  AdamSettings settings;
  settings.beta1 = params.get_real("beta1");
  settings.beta2 = params.get_real("beta2");
  settings.eps = params.get_real("eps");
  return settings;
}

void minimize_adam(const AdamSettings& settings, const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  AdamUpdate update(settings, w.n_elem);
  iterate_first_order(params, problem, w, monitor, [&](Vec& weights, const Vec& gradient, long iteration, real step) {
    update.apply(weights, gradient, iteration, step);
  });
}

}  // namespace kappa::adam
