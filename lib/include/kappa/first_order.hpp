#pragma once
// What first-order plugins share, so that every one of them gets minibatches, step-size
// schedules and iterate averaging the same way (ensmallen's "update policy" idea): the
// framework samples the batches, computes the step size and evaluates the objective for the
// Monitor; a plugin supplies only its update rule.
//
// Conventions (see also problem.hpp and docs/conventions.md):
//   iteration  one update of the weights, whatever the batch size. Iteration 0 is the start.
//   batch      b rows drawn WITHOUT replacement from a permutation of 0..n-1 that is reshuffled
//              at the start of every epoch from RunControls::seed; the epoch's last batch
//              holds the n mod b rows left over (PyTorch's DataLoader, shuffle=True,
//              drop_last=False). An epoch therefore has ceil(n/b) updates and touches each
//              row exactly once. b = n ("full") is deterministic gradient descent.
//   gradient   the batch MEAN of the per-sample gradients plus the ridge term (problem.hpp),
//              an unbiased estimate of grad f: the step size means the same at every batch
//              size, as in PyTorch with reduction='mean'. It is not rescaled with b.
//   epoch      n rows' worth of gradient work: Problem::data_passes().
//   step size  lr * schedule(t) at update t = 0, 1, ... (schedules below, in updates).
//
// With b < n, the objective the Monitor sees (loss, |grad f|) is the FULL objective, evaluated
// only where the Monitor needs it (Monitor::report_due: log-spaced trace points and the
// budgets) and not counted as the optimizer's work; a non-finite batch loss triggers an
// evaluation at once, so divergence is caught within one iteration.

#include <cstdint>
#include <string>

#include "kappa/monitor.hpp"
#include "kappa/optimizer.hpp"
#include "kappa/params.hpp"
#include "kappa/problem.hpp"

namespace kappa {

// The parameters every first-order plugin accepts, with its own defaults for lr and the batch:
//   lr, batch_size, schedule, decay, decay_steps, warmup, lr_min.
ParamSchema first_order_params(const std::string& default_lr, const std::string& default_batch_size = "full");
// Polyak-Ruppert averaging parameters (averaging, average_start), for plugins that offer it.
ParamSchema averaging_params();

// Step size at update t (t = 0, 1, ...), with T = decay_steps:
//   constant      lr
//   inverse-time  lr / (1 + decay t / T)                 (Robbins-Monro type, O(1/t))
//   step          lr decay^floor(t / T)                  (torch StepLR(step_size=T, gamma=decay))
//   exponential   lr decay^(t / T)
//   cosine        lr_min + (lr - lr_min) (1 + cos(pi min(t, T) / T)) / 2
//                 (Loshchilov & Hutter 2017, one cycle without restarts)
// A linear warm-up of W updates multiplies by (t + 1) / W for t < W and then runs the schedule
// from t - W (Goyal et al. 2017).
class StepSchedule {
 public:
  enum class Kind { constant, inverse_time, step, exponential, cosine };

  StepSchedule(Kind kind, real lr, real decay, long decay_steps, long warmup, real lr_min);
  // From first_order_params(): resolves lr = auto (see resolve_batch_step_size) and
  // decay_steps = auto (the run's max_iterations for cosine, a tenth of it otherwise).
  static StepSchedule from_params(const Params& params, const Problem& problem, const RunControls& controls,
                                  Index batch_size);

  real at(long t) const;

 private:
  Kind kind_;
  real lr_;
  real decay_;
  long decay_steps_;
  long warmup_;
  real lr_min_;
};

// lr = auto: 1/L for the full batch (L = Problem::smoothness()). For b < n the step must
// also be stable for the noisier batch gradients: 1/L_b with the expected smoothness of
// b-nice sampling, L_b = (n - b) / (b (n - 1)) L_max + n (b - 1) / (b (n - 1)) L, where L_max
// is the largest per-sample smoothness constant (Gower et al. 2019, Prop. 3.8); b = 1 gives
// 1/L_max, the classical safe LMS step.
real resolve_batch_step_size(const Params& params, const Problem& problem, Index batch_size);

// The batch size of first_order_params() for this problem: n for "full"; InputError when it
// exceeds the number of samples.
Index resolve_batch_size(const Params& params, const Problem& problem);

// Minibatches as described above. next() returns the rows of the next update: an alias of the
// sampler's permutation, valid until the next call. Allocation-free after construction.
class MinibatchSampler {
 public:
  MinibatchSampler(Index num_samples, Index batch_size, std::uint64_t seed);
  IndexVec next();
  long epochs_started() const { return epochs_started_; }

 private:
  void shuffle();
  std::uint64_t random_below(std::uint64_t bound);

  IndexVec order_;
  Index batch_size_;
  Index position_;
  long epochs_started_ = 0;
  std::uint64_t state_;
};

// Reports the full objective at w to the monitor without counting it as the optimizer's work;
// `gradient` is scratch space. Returns monitor.report(...).
bool report_full_objective(const Problem& problem, const Vec& w, long iteration, Monitor& monitor, Vec& gradient);

// The shared loop. Calls update(w, gradient, iteration, step_size) once per update, with the
// batch gradient at w and the scheduled step for that update, until the monitor stops the run.
// With params from averaging_params() set to polyak, the Monitor sees (and the run returns)
// the running average of the iterates from update average_start on.
template <class Update>
void iterate_first_order(const Params& params, const Problem& problem, Vec& w, Monitor& monitor, Update&& update);

// The plain gradient step w -= step g on the shared loop: the whole of the gd and sgd plugins,
// which differ only in their defaults (full batch vs b = 1 and averaging).
void minimize_gradient_steps(const Params& params, const Problem& problem, Vec& w, Monitor& monitor);

// ---------------------------------------------------------------- implementation

namespace detail {

// Polyak-Ruppert averaging (Polyak & Juditsky 1992; Ruppert 1988): the average of the iterates
// w_s for s >= start, which for least squares with a constant step converges at O(1/t)
// where the last iterate stalls at a noise floor (Bach & Moulines 2013).
class IterateAverage {
 public:
  // InputError when averaging would start after the run's last update (max_iterations): the
  // run would silently report the plain last iterate.
  IterateAverage(const Params& params, const RunControls& controls);
  bool enabled() const { return enabled_; }
  // Adds the iterate after update `iteration` (its index, 1-based); returns the point to report.
  const Vec& add(const Vec& w, long iteration);

 private:
  bool enabled_ = false;
  long start_ = 0;
  long count_ = 0;
  Vec average_;
};

}  // namespace detail

template <class Update>
void iterate_first_order(const Params& params, const Problem& problem, Vec& w, Monitor& monitor, Update&& update) {
  const Index batch_size = resolve_batch_size(params, problem);
  const StepSchedule schedule = StepSchedule::from_params(params, problem, monitor.controls(), batch_size);
  detail::IterateAverage average(params, monitor.controls());
  Vec gradient;
  if (batch_size == problem.num_samples() && !average.enabled()) {
    // Full batch: the optimizer's own gradient is the one reported; every iteration is.
    real loss = problem.loss_grad(w, gradient);
    for (long iteration = 0; !monitor.report(iteration, loss, arma::norm(gradient), w); ++iteration) {
      update(w, gradient, iteration, schedule.at(iteration));
      loss = problem.loss_grad(w, gradient);
    }
    return;
  }
  MinibatchSampler sampler(problem.num_samples(), batch_size, monitor.controls().seed);
  Vec full_gradient;
  const real initial_loss = problem.loss_grad_uncounted(w, full_gradient);
  if (monitor.report(0, initial_loss, arma::norm(full_gradient), w)) return;
  // Divergence is caught within an update or two: a batch loss that is not finite or above
  // sqrt(divergence_factor) f(w_0) (1e5 f(w_0) by default) makes the Monitor look at the full
  // objective at once. A batch mean can lag the full loss by a large factor (measured 10x on
  // diverging SGD), hence the margin; a converging run's batch losses stay far below it, and a
  // run above it is on its way out, so the extra full evaluations cost little.
  const real suspicious_batch_loss = std::sqrt(monitor.controls().divergence_factor) * initial_loss;
  for (long iteration = 0;; ++iteration) {
    const real batch_loss = batch_size == problem.num_samples() ? problem.loss_grad(w, gradient)
                                                                : problem.batch_loss_grad(w, sampler.next(), gradient);
    update(w, gradient, iteration, schedule.at(iteration));
    const long done = iteration + 1;
    const Vec& reported = average.enabled() ? average.add(w, done) : w;
    if (!std::isfinite(batch_loss) || (initial_loss > 0 && batch_loss > suspicious_batch_loss) || monitor.report_due(done)) {
      if (report_full_objective(problem, reported, done, monitor, full_gradient)) {
        if (average.enabled()) w = reported;  // the run's result is the average
        return;
      }
    }
  }
}

}  // namespace kappa
