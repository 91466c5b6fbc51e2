#pragma once
// Which tasks of a study run as lockstep groups (core/experiment/lockstep.hpp; docs/study.md,
// "Lockstep groups"). A group is up to `max_size` tasks, in task order, that
//   - share one problem (the same Experiment: data, loss, formulation, preconditioner,
//     precision, reference), and
//   - run an optimizer declared lockstep (OptimizerInfo::lockstep: the framework's first-order
//     loop), and
//   - draw the same batches: the same batch_size, and for minibatches (batch_size not full)
//     the same run seed, so that every step of the group is one pass over one batch.
// Every other task is a unit of its own. The c candidates of one (problem, batch, seed) form
// ceil(c / max_size) groups of nearly equal size, in task order. The grouping is a function of
// the plan and max_size only (not of the number of ranks), and each task keeps its slot in its
// group's passes (LockstepGroup), so a task's row has the same bits on any number of ranks and
// after a resume that runs only some of a group. A group's identity is its first task.

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "study/grid.hpp"

namespace kappa {

class LockstepGroups {
 public:
  LockstepGroups() = default;  // no groups: every task alone (--lockstep off)
  // Groups of at most max_size tasks (>= 2; smaller means no groups).
  LockstepGroups(const StudyPlan& plan, std::size_t max_size);

  // The first task of `task`'s group, or the task itself when it runs alone.
  std::size_t leader(std::size_t task) const { return task < leader_.size() ? leader_[task] : task; }
  // Whether `task` belongs to a group of two or more.
  bool grouped(std::size_t task) const { return task < grouped_.size() && grouped_[task]; }
  // The task's column in its group's passes, and the group's size (the passes' width): 0 and 1
  // for a task alone.
  std::size_t slot(std::size_t task) const { return grouped(task) ? slot_[task] : 0; }
  std::size_t width(std::size_t task) const { return grouped(task) ? width_.at(leader_[task]) : 1; }
  // The units of `tasks` (given unit by unit, as a scheduler hands them out): runs of
  // consecutive tasks with the same leader.
  std::vector<std::vector<std::size_t>> units(const std::vector<std::size_t>& tasks) const;
  std::size_t groups() const { return groups_; }                // groups of 2 or more
  std::size_t grouped_tasks() const { return grouped_tasks_; }  // tasks in them
  std::size_t largest() const { return largest_; }

 private:
  std::vector<std::uint32_t> leader_;  // per task; empty: no groups
  std::vector<bool> grouped_;          // per task
  std::vector<std::uint32_t> slot_;    // per task
  std::unordered_map<std::uint32_t, std::uint32_t> width_;  // by leader
  std::size_t groups_ = 0;
  std::size_t grouped_tasks_ = 0;
  std::size_t largest_ = 0;
};

}  // namespace kappa
