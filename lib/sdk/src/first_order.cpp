#include "kappa/first_order.hpp"

#include <algorithm>
#include <cmath>

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

// The schedules' names: the parameter's choices and their parse.
constexpr EnumName<StepSchedule::Kind> kScheduleNames[] = {{StepSchedule::Kind::constant, "constant"},
                                                           {StepSchedule::Kind::inverse_time, "inverse-time"},
                                                           {StepSchedule::Kind::step, "step"},
                                                           {StepSchedule::Kind::exponential, "exponential"},
                                                           {StepSchedule::Kind::cosine, "cosine"}};

StepSchedule::Kind parse_schedule(const std::string& name) {
  return parse_enum(kScheduleNames, name, "schedule");  // the schema's choices prevent an unknown name
}

}  // namespace

ParamSchema first_order_params(const std::string& default_lr, const std::string& default_batch_size) {
  ParamSpec batch = integer_param("batch_size", default_batch_size,
                                  "rows per update, drawn without replacement and reshuffled every epoch; full = all n", 1);
  batch.keyword = "full";
  ParamSpec decay_steps = integer_param("decay_steps", "auto",
                                        "T of the schedule, in updates; auto = the update budget (max_iterations, or max_epochs n / batch_size "
                                        "when fewer) for cosine, a tenth of it otherwise", 1);
  decay_steps.keyword = "auto";
  return {step_size_param(default_lr),
          batch,
          choice_param("schedule", enum_name(kScheduleNames, StepSchedule::Kind::constant),
                       "step-size schedule over updates t (docs/optimizers.md)", enum_names(kScheduleNames)),
          real_param("decay", "0.1", "decay factor: lr/(1+decay t/T) (inverse-time), lr decay^(t/T) (step: floored; exponential)",
                     0.0, true),
          decay_steps,
          integer_param("warmup", "0", "updates of linear warm-up before the schedule (0: none)", 0),
          real_param("lr_min", "0", "final step of the cosine schedule", 0.0)};
}

ParamSchema averaging_params() {
  return {choice_param("averaging", "none", "polyak: report the running average of the iterates (Polyak & Juditsky 1992)",
                       {"none", "polyak"}),
          integer_param("average_start", "0", "first update whose iterate enters the average", 0)};
}

// ---------------------------------------------------------------- StepSchedule

StepSchedule::StepSchedule(Kind kind, real lr, real decay, long decay_steps, long warmup, real lr_min)
    : kind_(kind), lr_(lr), decay_(decay), decay_steps_(decay_steps), warmup_(warmup), lr_min_(lr_min) {
  if (!(lr > 0) || !std::isfinite(lr)) throw InputError("step size lr = " + format_number(lr) + ": expected a finite number > 0");
  if (!(decay > 0)) throw InputError("schedule decay = " + format_number(decay) + ": expected a number > 0");
  if (decay_steps < 1) throw InputError("schedule decay_steps = " + std::to_string(decay_steps) + ": expected an integer >= 1");
  if (warmup < 0) throw InputError("warmup = " + std::to_string(warmup) + ": expected an integer >= 0");
  if (kind == Kind::cosine && !(lr_min >= 0 && lr_min <= lr))
    throw InputError("lr_min = " + format_number(lr_min) + ": expected 0 <= lr_min <= lr = " + format_number(lr));
}

StepSchedule StepSchedule::from_params(const Params& params, const Problem& problem, const RunControls& controls,
                                       Index batch_size) {
  const Kind kind = parse_schedule(params.get_choice("schedule"));
  long decay_steps = 0;
  if (params.is_keyword("decay_steps")) {
    // The run's budget in updates: max_iterations, or what max_epochs allows when that is fewer
    // (an update of b rows is b/n of a data pass), so that a run bounded by epochs alone (no
    // iteration cap) still decays over its length.
    long budget = controls.max_iterations;
    if (controls.max_epochs > 0 && batch_size > 0) {
      const double updates = std::ceil(controls.max_epochs * static_cast<double>(problem.num_samples()) / static_cast<double>(batch_size));
      if (updates < static_cast<double>(budget)) budget = std::max(1L, static_cast<long>(updates));
    }
    decay_steps = kind == Kind::cosine ? budget : std::max(1L, budget / 10);
  } else {
    decay_steps = static_cast<long>(params.get_integer("decay_steps"));
  }
  return StepSchedule(kind, resolve_batch_step_size(params, problem, batch_size), params.get_real("decay"), decay_steps,
                      static_cast<long>(params.get_integer("warmup")), params.get_real("lr_min"));
}

real StepSchedule::at(long t) const {
  real warmup_factor = 1;
  if (t < warmup_) {
    warmup_factor = static_cast<real>(t + 1) / static_cast<real>(warmup_);
    t = 0;
  } else {
    t -= warmup_;
  }
  const real progress = static_cast<real>(t) / static_cast<real>(decay_steps_);
  real step = lr_;
  switch (kind_) {
    case Kind::constant: break;
    case Kind::inverse_time: step = lr_ / (1 + decay_ * progress); break;
    case Kind::step: step = lr_ * std::pow(decay_, std::floor(progress)); break;
    case Kind::exponential: step = lr_ * std::pow(decay_, progress); break;
    case Kind::cosine: {
      const real pi = std::acos(real(-1));
      step = lr_min_ + (lr_ - lr_min_) * (1 + std::cos(pi * std::min<real>(progress, 1))) / 2;
      break;
    }
  }
  return warmup_factor * step;
}

// ---------------------------------------------------------------- step size and batch size

real resolve_batch_step_size(const Params& params, const Problem& problem, Index batch_size) {
  const Index n = problem.num_samples();
  if (!params.is_auto("lr") || batch_size >= n) return resolve_step_size(params, problem);
  const real full = problem.smoothness();
  const real sample = problem.max_sample_smoothness();
  const real b = static_cast<real>(batch_size);
  const real samples = static_cast<real>(n);
  const real expected = (samples - b) / (b * (samples - 1)) * sample + samples * (b - 1) / (b * (samples - 1)) * full;
  if (!(expected > 0) || !std::isfinite(expected))
    throw NumericalError("lr=auto: the minibatch smoothness constant is " + format_number(expected) + "; give an explicit step size");
  return 1 / expected;
}

Index resolve_batch_size(const Params& params, const Problem& problem) {
  const Index n = problem.num_samples();
  if (params.is_keyword("batch_size")) return n;
  const long long batch = params.get_integer("batch_size");
  if (batch > static_cast<long long>(n))
    throw InputError("batch_size = " + std::to_string(batch) + " exceeds the " + std::to_string(n) + " training samples");
  return static_cast<Index>(batch);
}

// ---------------------------------------------------------------- MinibatchSampler

MinibatchSampler::MinibatchSampler(Index num_samples, Index batch_size, std::uint64_t seed)
    : order_(arma::regspace<IndexVec>(0, num_samples - 1)),
      batch_size_(batch_size),
      position_(num_samples),  // the first next() starts an epoch
      state_(seed) {
  if (num_samples == 0) throw InputError("minibatches: the problem has no samples");
  if (batch_size < 1 || batch_size > num_samples)
    throw InputError("batch_size = " + std::to_string(batch_size) + ": expected 1 to " + std::to_string(num_samples));
}

// SplitMix64 (Steele, Lea & Flood 2014): a tiny generator with a fixed, platform-independent
// output, so that a seed gives the same batches everywhere (std::uniform_int_distribution
// differs between standard libraries).
std::uint64_t MinibatchSampler::random_below(std::uint64_t bound) {
  // Lemire's nearly divisionless method would be faster; rejection keeps it unbiased and simple.
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  for (;;) {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    if (z < limit) return z % bound;
  }
}

void MinibatchSampler::shuffle() {  // Fisher-Yates (Knuth, TAOCP Vol. 2, Alg. 3.4.2P)
  for (Index i = order_.n_elem - 1; i > 0; --i) std::swap(order_[i], order_[random_below(i + 1)]);
}

IndexVec MinibatchSampler::next() {
  if (position_ >= order_.n_elem) {
    shuffle();
    position_ = 0;
    ++epochs_started_;
  }
  const Index rows = std::min(batch_size_, order_.n_elem - position_);
  position_ += rows;
  // An alias of the permutation (no copy, no allocation; returned by guaranteed copy elision).
  return IndexVec(order_.memptr() + position_ - rows, rows, false, true);
}

// ---------------------------------------------------------------- monitor and averaging

namespace {

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


IterateAverage::IterateAverage(const Params& params, const RunControls& controls) {
  // Only plugins that offer averaging (averaging_params()) have these parameters.
  if (params.as_text().count("averaging") == 0) return;
  enabled_ = params.get_choice("averaging") == "polyak";
  start_ = static_cast<long>(params.get_integer("average_start"));
  if (enabled_ && start_ > controls.max_iterations)
    throw InputError("average_start = " + std::to_string(start_) + " is beyond max_iterations = " +
                     std::to_string(controls.max_iterations) + ": no iterate would be averaged");
}

const Vec& IterateAverage::add(const Vec& w, long iteration) {
  if (iteration < start_) return w;
  ++count_;
  if (count_ == 1) {
    average_ = w;
  } else {
    average_ += (w - average_) / static_cast<real>(count_);  // running mean, no sum to overflow
  }
  return average_;
}

}  // namespace

void iterate_first_order(const Params& params, const Problem& problem, Vec& w, Monitor& monitor,
                         const FirstOrderUpdate& update) {
  const Index batch_size = resolve_batch_size(params, problem);
  const StepSchedule schedule = StepSchedule::from_params(params, problem, monitor.controls(), batch_size);
  IterateAverage average(params, monitor.controls());
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
  if (monitor.report_objective(0, problem, w)) return;
  const real initial_loss = monitor.last_reported_loss();
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
      if (monitor.report_objective(done, problem, reported)) {
        if (average.enabled()) w = reported;  // the run's result is the average
        return;
      }
    }
  }
}

}  // namespace kappa
