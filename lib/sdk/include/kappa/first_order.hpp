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
#include <functional>
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
  // decay_steps = auto (the run's update budget: max_iterations, or max_epochs n / batch_size when
  // fewer; for cosine, a tenth of it otherwise).
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

// The update rule of a first-order method: called once per update with the batch gradient at
// w and the scheduled step for that update (iteration = 0, 1, ...); it changes w in place and may
// keep state of its own (momentum buffers, moment estimates).
using FirstOrderUpdate = std::function<void(Vec& w, const Vec& gradient, long iteration, real step)>;

// The shared loop, compiled into the SDK (a fix to it needs no plugin rebuilt). Calls `update`
// once per update until the monitor stops the run: with the full batch, every iteration is
// reported with the optimizer's own gradient; with b < n the monitor measures the full objective
// where it is due (above). With params from averaging_params() set to polyak, the monitor sees
// (and the run returns) the running average of the iterates from update average_start on.
void iterate_first_order(const Params& params, const Problem& problem, Vec& w, Monitor& monitor,
                         const FirstOrderUpdate& update);

}  // namespace kappa
