// Nesterov's accelerated gradient (Nesterov 1983) in the form of PyTorch's
// SGD(momentum=beta, nesterov=True) (Sutskever et al. 2013):
//   v_{k+1} = beta v_k + grad f(w_k),   w_{k+1} = w_k - lr (grad f(w_k) + beta v_{k+1}).
// This is the look-ahead method rewritten so that the gradient is taken at the reported
// iterate, which keeps one gradient evaluation per iteration.
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

class Nesterov final : public Optimizer {
 public:
  explicit Nesterov(const Params& params) : params_(params) {}

  void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
    const real lr = resolve_step_size(params_, problem);
    const real beta = params_.get_real("momentum");
    Vec gradient;
    Vec velocity(w.n_elem, arma::fill::zeros);
    real loss = problem.loss_grad(w, gradient);
    for (long iteration = 0; !monitor.report(iteration, loss, arma::norm(gradient), w); ++iteration) {
      velocity = beta * velocity + gradient;
      w -= lr * (gradient + beta * velocity);
      loss = problem.loss_grad(w, gradient);
    }
  }

 private:
  Params params_;
};

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"nesterov", "Nesterov accelerated gradient, PyTorch SGD(nesterov=True) form (Nesterov 1983)",
                 {step_size_param("auto"), real_param("momentum", "0.9", "momentum coefficient beta", 0.0, false, 0.999999)},
                 [](const Params& params) { return std::make_unique<Nesterov>(params); }});
}
