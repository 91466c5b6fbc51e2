#include "study/lockstep_groups.hpp"

#include <limits>
#include <map>
#include <string>
#include <unordered_map>

#include "kappa/error.hpp"

namespace kappa {

LockstepGroups::LockstepGroups(const StudyPlan& plan, std::size_t max_size) {
  if (max_size < 2 || plan.tasks.empty()) return;
  if (plan.tasks.size() > std::numeric_limits<std::uint32_t>::max())
    throw InputError("lockstep groups: " + std::to_string(plan.tasks.size()) + " tasks are more than this planner numbers");
  // The candidates of each (problem, batch size, minibatch seed), in task order.
  std::map<std::string, std::vector<std::uint32_t>> candidates;
  std::unordered_map<std::size_t, std::string> batch_of_setting;  // derived once per setting
  for (std::size_t task = 0; task < plan.tasks.size(); ++task) {
    const StudyTaskRecord& record = plan.tasks.record(task);
    if (!plan.optimizers.lockstep(record.optimizer)) continue;
    auto known = batch_of_setting.find(record.optimizer);
    if (known == batch_of_setting.end()) {
      const PlannedOptimizer setting = plan.optimizers[record.optimizer];
      const auto batch = setting.params.as_text().find("batch_size");
      known = batch_of_setting.emplace(record.optimizer, batch == setting.params.as_text().end() ? "full" : batch->second).first;
    }
    std::string key = std::to_string(record.problem) + "|" + known->second;
    if (known->second != "full") key += "|" + std::to_string(plan.tasks[task].controls.seed);
    candidates[key].push_back(static_cast<std::uint32_t>(task));
  }
  leader_.resize(plan.tasks.size());
  for (std::size_t task = 0; task < leader_.size(); ++task) leader_[task] = static_cast<std::uint32_t>(task);
  grouped_.assign(leader_.size(), false);
  slot_.assign(leader_.size(), 0);
  for (const auto& [key, tasks] : candidates) {
    const std::size_t c = tasks.size();
    const std::size_t groups = (c + max_size - 1) / max_size;
    for (std::size_t g = 0, first = 0; g < groups; ++g) {
      const std::size_t size = c / groups + (g < c % groups ? 1 : 0);  // nearly equal sizes
      if (size >= 2) {
        for (std::size_t i = first; i < first + size; ++i) {
          leader_[tasks[i]] = tasks[first];
          grouped_[tasks[i]] = true;
          slot_[tasks[i]] = static_cast<std::uint32_t>(i - first);
        }
        width_[tasks[first]] = static_cast<std::uint32_t>(size);
        ++groups_;
        grouped_tasks_ += size;
        largest_ = std::max(largest_, size);
      }
      first += size;
    }
  }
}

std::vector<std::vector<std::size_t>> LockstepGroups::units(const std::vector<std::size_t>& tasks) const {
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (i > 0 && leader(tasks[i]) == leader(tasks[i - 1]) && leader(tasks[i]) != tasks[i]) {
      out.back().push_back(tasks[i]);
    } else {
      out.push_back({tasks[i]});
    }
  }
  return out;
}

}  // namespace kappa
