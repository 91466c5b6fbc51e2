#include "core/experiment/lockstep.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <string>

#include "core/experiment/fiber.hpp"
#include "core/experiment/framework_access.hpp"
#include "core/problems/multi_point.hpp"
#include "kappa/error.hpp"

namespace kappa {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) { return std::chrono::duration<double>(to - from).count(); }

// What a paused run waits for.
struct Request {
  enum class Kind { none, full, batch };
  Kind kind = Kind::none;
  const Vec* w = nullptr;
  const IndexVec* rows = nullptr;  // batch only
  Vec* gradient = nullptr;
  real loss = 0;
  std::exception_ptr error;  // the evaluation failed: rethrown in the run
};

}  // namespace

class LockstepGroup::State {
 public:
  State(const Problem& solver, std::size_t width, const std::vector<std::size_t>& slots);

  // Run `run` (on its fiber) needs f and grad f at w, over `rows` (null: all samples).
  real evaluate(std::size_t run, const Vec& w, const IndexVec* rows, Vec& gradient);

  void run(const std::vector<std::function<void()>>& bodies);
  double seconds(std::size_t run) const;

  const Problem& solver;
  const MultiPointEvaluation* multi_point;  // null: requests are evaluated one by one
  std::vector<std::unique_ptr<Problem>> members;
  double shared_rows = 0;

 private:
  struct Run {
    std::unique_ptr<Fiber> fiber;
    Request request;
    double charged = 0;  // seconds: its fiber's time plus its shares of the passes
    std::optional<Clock::time_point> running_since;
  };
  // Evaluates the waiting requests of `kind` that share `rows` (all full ones: rows null).
  void evaluate_together(const std::vector<std::size_t>& waiting);

  std::vector<Run> runs_;
  std::size_t width_;
  std::vector<std::size_t> slots_;
  std::size_t unfinished_ = 0;
  Mat points_, gradients_;  // reused by every pass
  Vec losses_;
};

namespace {

// A run's view of the solver problem: its own work counter (the Problem base counts every call
// as it would for the solver problem itself); loss-gradient requests go to the group.
class Member final : public Problem {
 public:
  Member(LockstepGroup::State& group, std::size_t run) : group_(group), run_(run), solver_(group.solver) {}

  Index dim() const override { return solver_.dim(); }
  Index num_samples() const override { return solver_.num_samples(); }
  bool has_hessian() const override { return solver_.has_hessian(); }
  bool is_quadratic() const override { return solver_.is_quadratic(); }
  bool has_curvature_bound() const override { return solver_.has_curvature_bound(); }
  bool has_least_squares_form() const override { return solver_.has_least_squares_form(); }

 protected:
  // The solver's public functions count on the solver's own counter, which no run reads.
  real compute_loss(const Vec& w) const override { return solver_.loss(w); }
  real compute_loss_grad(const Vec& w, Vec& gradient) const override { return group_.evaluate(run_, w, nullptr, gradient); }
  real compute_batch_loss_grad(const Vec& w, const IndexVec& rows, Vec& gradient) const override {
    return group_.evaluate(run_, w, &rows, gradient);
  }
  void compute_hess_vec(const Vec& w, const Vec& v, Vec& out) const override {
    detail::FrameworkAccess::hess_vec_uncounted(solver_, w, v, out);
  }
  void compute_curvature_bound_vec(const Vec& v, Vec& out) const override { solver_.curvature_bound_vec(v, out); }
  real compute_max_sample_smoothness() const override { return solver_.max_sample_smoothness(); }
  Index compute_least_squares_rows() const override { return solver_.least_squares_rows(); }
  void compute_least_squares_apply(const Vec& w, Vec& out) const override { solver_.least_squares_apply(w, out); }
  void compute_least_squares_apply_transpose(const Vec& u, Vec& out) const override {
    solver_.least_squares_apply_transpose(u, out);
  }
  Vec compute_least_squares_rhs() const override { return solver_.least_squares_rhs(); }
  Mat compute_least_squares_matrix() const override { return solver_.least_squares_matrix(); }
  bool compute_gradient_rounding(const Vec& w, Vec& estimate) const override {
    return detail::FrameworkAccess::gradient_rounding(solver_, w, estimate);
  }

 private:
  LockstepGroup::State& group_;
  std::size_t run_;
  const Problem& solver_;
};

}  // namespace

LockstepGroup::State::State(const Problem& problem, std::size_t width, const std::vector<std::size_t>& slots)
    : solver(problem), multi_point(multi_point_evaluation(problem)), runs_(slots.size()), width_(width), slots_(slots) {
  std::vector<bool> taken(width, false);
  for (std::size_t slot : slots) {
    if (slot >= width || taken[slot])
      throw Error("lockstep group: slot " + std::to_string(slot) + " is taken twice or beyond the width " + std::to_string(width));
    taken[slot] = true;
  }
  for (std::size_t run = 0; run < slots.size(); ++run) members.push_back(std::make_unique<Member>(*this, run));
}

real LockstepGroup::State::evaluate(std::size_t run, const Vec& w, const IndexVec* rows, Vec& gradient) {
  // A problem without multi-point evaluation: each run evaluates its own points.
  if (multi_point == nullptr) {
    if (rows == nullptr) return detail::FrameworkAccess::loss_grad_uncounted(solver, w, gradient);
    return solver.batch_loss_grad(w, *rows, gradient);
  }
  Run& self = runs_.at(run);
  self.request = Request{rows == nullptr ? Request::Kind::full : Request::Kind::batch, &w, rows, &gradient, 0, nullptr};
  self.fiber->yield();
  const Request answered = std::exchange(self.request, Request{});
  if (answered.error) std::rethrow_exception(answered.error);
  return answered.loss;
}

double LockstepGroup::State::seconds(std::size_t run) const {
  const Run& self = runs_.at(run);
  return self.charged + (self.running_since ? seconds_between(*self.running_since, Clock::now()) : 0.0);
}

void LockstepGroup::State::evaluate_together(const std::vector<std::size_t>& waiting) {
  const Clock::time_point start = Clock::now();
  const Request& first = runs_[waiting.front()].request;
  points_.zeros(solver.dim(), width_);
  for (std::size_t j = 0; j < waiting.size(); ++j) {
    const Vec& w = *runs_[waiting[j]].request.w;
    if (w.n_elem != solver.dim()) {
      // A run with weights of the wrong size: its own evaluation reports the mistake.
      for (std::size_t run : waiting) {
        Request& request = runs_[run].request;
        try {
          request.loss = request.rows ? solver.batch_loss_grad(*request.w, *request.rows, *request.gradient)
                                      : detail::FrameworkAccess::loss_grad_uncounted(solver, *request.w, *request.gradient);
        } catch (...) {
          request.error = std::current_exception();
        }
        request.kind = Request::Kind::none;
      }
      return;
    }
    points_.col(slots_[waiting[j]]) = w;
  }
  try {
    if (first.kind == Request::Kind::full) {
      multi_point->loss_grads(points_, losses_, gradients_);
      shared_rows += static_cast<double>(solver.num_samples());
    } else {
      multi_point->batch_loss_grads(points_, *first.rows, losses_, gradients_);
      shared_rows += static_cast<double>(first.rows->n_elem);
    }
    for (std::size_t j = 0; j < waiting.size(); ++j) {
      Request& request = runs_[waiting[j]].request;
      request.loss = losses_[slots_[waiting[j]]];
      *request.gradient = gradients_.col(slots_[waiting[j]]);
    }
  } catch (...) {
    for (std::size_t run : waiting) runs_[run].request.error = std::current_exception();
  }
  const double share = seconds_between(start, Clock::now()) / static_cast<double>(waiting.size());
  for (std::size_t run : waiting) {
    runs_[run].charged += share;
    runs_[run].request.kind = Request::Kind::none;
  }
}

void LockstepGroup::State::run(const std::vector<std::function<void()>>& bodies) {
  if (bodies.size() != runs_.size())
    throw Error("lockstep group: " + std::to_string(bodies.size()) + " bodies for " + std::to_string(runs_.size()) + " runs");
  for (std::size_t run = 0; run < runs_.size(); ++run) runs_[run].fiber = std::make_unique<Fiber>(bodies[run]);
  unfinished_ = runs_.size();
  std::exception_ptr escaped;
  std::vector<std::size_t> waiting;
  while (unfinished_ > 0) {
    // Every unfinished run without a request goes on until it asks for one or ends.
    for (Run& current : runs_) {
      if (current.fiber->finished() || current.request.kind != Request::Kind::none) continue;
      const Clock::time_point start = Clock::now();
      current.running_since = start;
      try {
        current.fiber->resume();
      } catch (...) {
        escaped = std::current_exception();
      }
      current.running_since.reset();
      current.charged += seconds_between(start, Clock::now());
      if (current.fiber->finished()) --unfinished_;
    }
    // The full-objective requests together, then each distinct minibatch's.
    for (Request::Kind kind : {Request::Kind::full, Request::Kind::batch}) {
      for (std::size_t run = 0; run < runs_.size(); ++run) {
        const Request& request = runs_[run].request;
        if (request.kind != kind) continue;
        waiting.clear();
        for (std::size_t other = run; other < runs_.size(); ++other) {
          const Request& candidate = runs_[other].request;
          if (candidate.kind != kind) continue;
          if (kind == Request::Kind::batch &&
              (candidate.rows->n_elem != request.rows->n_elem ||
               !std::equal(candidate.rows->begin(), candidate.rows->end(), request.rows->begin())))
            continue;
          waiting.push_back(other);
        }
        evaluate_together(waiting);
      }
    }
  }
  if (escaped) std::rethrow_exception(escaped);
}

LockstepGroup::LockstepGroup(const Problem& solver, std::size_t width, const std::vector<std::size_t>& slots)
    : state_(std::make_unique<State>(solver, width, slots)) {}
LockstepGroup::~LockstepGroup() = default;
const Problem& LockstepGroup::problem(std::size_t run) const { return *state_->members.at(run); }
double LockstepGroup::seconds(std::size_t run) const { return state_->seconds(run); }
void LockstepGroup::run(const std::vector<std::function<void()>>& bodies) { state_->run(bodies); }
double LockstepGroup::shared_passes() const { return state_->shared_rows / static_cast<double>(state_->solver.num_samples()); }

}  // namespace kappa
