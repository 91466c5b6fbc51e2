#pragma once
// Lockstep groups (docs/study.md, "Lockstep groups"): k runs on one Experiment's problem,
// advanced together so that each pass over the data serves all of them.
//
// Each run's optimizer runs its own, unchanged minimize() in a Fiber on a member problem: a
// view of the solver problem with its own work counter. Where the optimizer asks for a loss and
// gradient (the full objective, or a minibatch), the member pauses; once every run of the group
// has paused or ended, the group evaluates the waiting requests together (MultiPointEvaluation:
// one blocked pass for the full-objective requests, one per distinct minibatch) and continues
// each run with its answer. Anything else a run asks of its problem (Hessian products, the
// Lanczos steps of lr=auto, the least-squares form) is computed at once, for that run alone. A
// run's results are therefore those of the run alone up to the rounding of the gradients' sums
// (a different order of the same terms), and its data passes are counted as if alone; what the
// group saved is in shared_passes().
//
// Reproducibility: every multi-point pass has `width` columns and each run keeps its `slot`
// among them (the columns of runs not waiting, finished or absent, are zeros). The arithmetic of
// a run's column then depends on the width and its slot only, not on which other runs take part
// or when they stop: a group planned with the same width and slots gives every run the same
// bits, whether its other members are there (a resumed study), crashed, or stopped early.
//
// A run's clock (seconds()) is its own: the time its fiber ran plus its share (1/m) of each
// pass that m runs took part in, so that time limits and reported seconds mean about what they
// mean for a run alone.

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "kappa/problem.hpp"

namespace kappa {

class LockstepGroup {
 public:
  // `solver`: the problem the runs minimize (it must outlive the group); `slots[i]` is run i's
  // column among `width` (distinct, below width). Throws kappa::Error otherwise.
  LockstepGroup(const Problem& solver, std::size_t width, const std::vector<std::size_t>& slots);
  ~LockstepGroup();
  LockstepGroup(const LockstepGroup&) = delete;
  LockstepGroup& operator=(const LockstepGroup&) = delete;

  // The problem run `run` minimizes: counts its own work (data_passes()).
  const Problem& problem(std::size_t run) const;
  // Run `run`'s own seconds since run() began (see above); callable from its body.
  double seconds(std::size_t run) const;

  // Runs bodies[i] for run i, each in its fiber, until all have returned. A body must not let
  // an exception escape (Experiment's bodies catch everything); one that does is rethrown here
  // after the others finished.
  void run(const std::vector<std::function<void()>>& bodies);

  // Passes over the data the group made for the multi-point requests, in full-data equivalents
  // (a minibatch pass of b rows counts b/n): the shared cost, against the sum of the runs'
  // data_passes() for the same work alone.
  double shared_passes() const;

  class State;  // lockstep.cpp

 private:
  std::unique_ptr<State> state_;
};

}  // namespace kappa
