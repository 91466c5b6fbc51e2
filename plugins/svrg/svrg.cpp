// Stochastic variance-reduced gradient (Johnson & Zhang 2013, "Accelerating stochastic gradient
// descent using predictive variance reduction", Fig. 1, option I):
//   every m updates: snapshot w~ = w and its full gradient mu = grad f(w~);
//   each update:     g = grad f_B(w) - grad f_B(w~) + mu,   w -= lr g   (B a minibatch).
// g is unbiased and its variance vanishes as w and w~ approach w*, so a CONSTANT step
// converges linearly on strongly convex finite sums even with batches of 1 or 2 — the answer
// to "small batches are noisy". One update costs two batch gradients; each snapshot one full
// gradient (all counted in data_passes).
#include <kappa/first_order.hpp>
#include <kappa/plugin.hpp>

namespace {

using namespace kappa;

// J&Z's analysis needs lr < 1/(4 L) in their notation; 1/(4 L_b), with L_b the minibatch
// smoothness of first_order.hpp, is the default (lr=auto).
constexpr real auto_step_fraction = 0.25;

void svrg(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const Index n = problem.num_samples();
  const Index batch_size = resolve_batch_size(params, problem);
  StepSchedule schedule = StepSchedule::from_params(params, problem, monitor.controls(), batch_size);
  const real lr_scale = params.is_auto("lr") ? auto_step_fraction : 1;
  const long inner = params.is_keyword("inner_iterations")
                         ? static_cast<long>((2 * n + batch_size - 1) / batch_size)
                         : static_cast<long>(params.get_integer("inner_iterations"));
  MinibatchSampler sampler(n, batch_size, monitor.controls().seed);
  Vec snapshot, snapshot_gradient, batch_gradient, snapshot_batch_gradient;
  if (monitor.report_objective(0, problem, w)) return;
  for (long iteration = 0;;) {
    snapshot = w;
    problem.loss_grad(snapshot, snapshot_gradient);
    for (long k = 0; k < inner; ++k, ++iteration) {
      const IndexVec rows = sampler.next();
      const real batch_loss = problem.batch_loss_grad(w, rows, batch_gradient);
      problem.batch_loss_grad(snapshot, rows, snapshot_batch_gradient);
      w -= (lr_scale * schedule.at(iteration)) * (batch_gradient - snapshot_batch_gradient + snapshot_gradient);
      if ((!std::isfinite(batch_loss) || monitor.report_due(iteration + 1)) &&
          monitor.report_objective(iteration + 1, problem, w))
        return;
    }
  }
}

ParamSchema svrg_params() {
  ParamSchema schema = first_order_params("auto", "1");
  schema.front().help = "step size; auto = 1/(4 L_b), L_b the minibatch smoothness (docs/optimizers.md)";
  ParamSpec inner = integer_param("inner_iterations", "auto", "updates between snapshots m; auto = 2n/b (Johnson & Zhang 2013)", 1);
  inner.keyword = "auto";
  schema.push_back(inner);
  return schema;
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"svrg", "stochastic variance-reduced gradient (Johnson & Zhang 2013)", svrg_params(),
                 function_optimizer(svrg)});
}
