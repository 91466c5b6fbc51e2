#include "study/schedule.hpp"

#include <algorithm>
#include <string>

#include "kappa/error.hpp"

namespace kappa {

SchedulePolicy::SchedulePolicy(std::size_t problems, std::size_t workers, std::size_t chunk)
    : chunk_(chunk),
      workers_(std::max<std::size_t>(1, workers)),
      pending_(problems),
      pending_tasks_(problems, 0),
      started_(problems, false) {}

void SchedulePolicy::add(std::size_t task, std::size_t problem) { add_group({task}, problem); }

void SchedulePolicy::add_group(const std::vector<std::size_t>& tasks, std::size_t problem) {
  if (tasks.empty()) return;
  if (problem >= pending_.size())
    throw Error("task " + std::to_string(tasks.front()) + ": problem " + std::to_string(problem) + " out of range (" +
                std::to_string(pending_.size()) + " problems)");
  pending_[problem].push_back(tasks.front());
  if (tasks.size() > 1) {
    units_[tasks.front()] = tasks;
    for (std::size_t task : tasks) group_of_[task] = tasks.front();
  }
  pending_tasks_[problem] += tasks.size();
  pending_count_ += tasks.size();
}

void SchedulePolicy::requeue(const std::vector<std::pair<std::size_t, std::size_t>>& tasks) {
  std::vector<std::pair<std::vector<std::size_t>, std::size_t>> units;  // (tasks, problem), in order
  std::map<std::size_t, std::size_t> unit_of_group;
  for (const auto& [task, problem] : tasks) {
    const auto group = group_of_.find(task);
    if (group != group_of_.end()) {
      const auto known = unit_of_group.find(group->second);
      if (known != unit_of_group.end()) {
        units[known->second].first.push_back(task);
        continue;
      }
      unit_of_group[group->second] = units.size();
    }
    units.push_back({{task}, problem});
  }
  for (auto unit = units.rbegin(); unit != units.rend(); ++unit) {
    const std::vector<std::size_t>& members = unit->first;
    pending_[unit->second].push_front(members.front());
    if (members.size() > 1) units_[members.front()] = members;
    pending_tasks_[unit->second] += members.size();
    pending_count_ += members.size();
  }
}

SchedulePolicy::Worker& SchedulePolicy::worker_at(std::size_t worker) {
  if (worker >= workers_.size())
    throw Error("worker " + std::to_string(worker) + " out of range (" + std::to_string(workers_.size()) + " workers)");
  return workers_[worker];
}

bool SchedulePolicy::anything_in_flight() const {
  return std::any_of(workers_.begin(), workers_.end(), [](const Worker& w) { return !w.in_flight.empty(); });
}

bool SchedulePolicy::all_stopped() const {
  return std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.stopped; });
}

std::optional<double> SchedulePolicy::mean_task_seconds() const {
  if (timed_tasks_ == 0) return std::nullopt;
  return task_seconds_ / static_cast<double>(timed_tasks_);
}

// Prefer the problem this worker built last (it is in its cache), then a problem nobody has
// started (one build per problem and rank at most), then the one with most tasks left.
std::size_t SchedulePolicy::choose_problem(std::size_t worker) const {
  const Worker& w = workers_.at(worker);
  if (w.last_problem && pending_tasks_[*w.last_problem] > 0) return *w.last_problem;
  for (std::size_t p = 0; p < pending_.size(); ++p)
    if (!started_[p] && pending_tasks_[p] > 0) return p;
  std::size_t best = 0;
  for (std::size_t p = 1; p < pending_.size(); ++p)
    if (pending_tasks_[p] > pending_tasks_[best]) best = p;
  return best;
}

// About one second of work per chunk (from the mean task time so far; one task until a time is
// known), but at most half of a fair share of what is left, so that the last chunks balance.
std::size_t SchedulePolicy::chunk_size(std::size_t problem) const {
  const std::size_t available = pending_tasks_.at(problem);
  if (chunk_ > 0) return std::min(chunk_, available);
  std::size_t by_time = 1;
  if (timed_tasks_ > 0) {
    const double mean = task_seconds_ / static_cast<double>(timed_tasks_);
    by_time = mean > 0 ? static_cast<std::size_t>(std::max(1.0, std::min(static_cast<double>(kMaxChunk), kChunkSeconds / mean)))
                       : kMaxChunk;
  }
  const std::size_t fair = std::max<std::size_t>(1, pending_count_ / (2 * workers_.size()));
  return std::max<std::size_t>(1, std::min({by_time, fair, available}));
}

WorkAnswer SchedulePolicy::assign(std::size_t worker) {
  Worker& w = workers_[worker];
  w.waiting = false;
  if (!stopping_ && pending_count_ == 0 && worker == 0 && anything_in_flight()) {
    w.waiting = true;  // tasks may yet be handed back by a worker that stops
    return {WorkAnswer::Kind::wait, {}};
  }
  if (stopping_ || pending_count_ == 0) {
    w.stopped = true;
    return {WorkAnswer::Kind::stop, {}};
  }
  const std::size_t problem = choose_problem(worker);
  const std::size_t size = chunk_size(problem);
  WorkAnswer answer{WorkAnswer::Kind::tasks, {}};
  answer.tasks.reserve(size);
  while (answer.tasks.size() < size && !pending_[problem].empty()) {  // whole units
    const std::size_t first = pending_[problem].front();
    pending_[problem].pop_front();
    const auto unit = units_.find(first);
    if (unit == units_.end()) {
      answer.tasks.push_back(first);
    } else {
      answer.tasks.insert(answer.tasks.end(), unit->second.begin(), unit->second.end());
      units_.erase(unit);
    }
  }
  for (std::size_t task : answer.tasks) w.in_flight.emplace(task, problem);
  pending_count_ -= answer.tasks.size();
  pending_tasks_[problem] -= answer.tasks.size();
  started_[problem] = true;
  w.last_problem = problem;
  return answer;
}

WorkAnswer SchedulePolicy::request(std::size_t worker, const std::vector<std::size_t>& unrun, bool stopping) {
  Worker& w = worker_at(worker);
  for (const std::size_t task : unrun)
    if (w.in_flight.count(task) == 0)
      throw Error("worker " + std::to_string(worker) + " handed back task " + std::to_string(task) +
                  ", which it was not given or has already reported");
  // The tasks handed back go to the front of their problem's queue, in order.
  std::vector<std::pair<std::size_t, std::size_t>> handed_back;
  for (const std::size_t task : unrun) {
    const auto found = w.in_flight.find(task);
    if (found == w.in_flight.end()) continue;  // listed twice
    handed_back.emplace_back(task, found->second);
    w.in_flight.erase(found);
  }
  requeue(handed_back);
  w.in_flight.clear();  // every task of the chunk was reported or handed back
  if (stopping) {
    w.stopped = true;
    return {WorkAnswer::Kind::stop, {}};
  }
  return assign(worker);
}

void SchedulePolicy::finished(std::size_t worker, std::size_t task, double seconds) {
  worker_at(worker).in_flight.erase(task);
  task_seconds_ += seconds;
  ++timed_tasks_;
}

std::vector<std::size_t> SchedulePolicy::lose(std::size_t worker) {
  Worker& w = worker_at(worker);
  std::vector<std::size_t> tasks;
  const std::vector<std::pair<std::size_t, std::size_t>> lost(w.in_flight.begin(), w.in_flight.end());  // in task order
  for (const auto& entry : lost) tasks.push_back(entry.first);
  requeue(lost);
  w.in_flight.clear();
  w.stopped = true;
  w.waiting = false;
  return tasks;
}

std::vector<std::size_t> SchedulePolicy::stop() {
  stopping_ = true;
  std::vector<std::size_t> running;
  for (std::size_t worker = 0; worker < workers_.size(); ++worker)
    if (!workers_[worker].stopped) running.push_back(worker);
  return running;
}

std::vector<std::pair<std::size_t, WorkAnswer>> SchedulePolicy::wake() {
  std::vector<std::pair<std::size_t, WorkAnswer>> answers;
  for (std::size_t worker = 0; worker < workers_.size(); ++worker)
    if (workers_[worker].waiting && (stopping_ || pending_count_ > 0 || !anything_in_flight()))
      answers.emplace_back(worker, assign(worker));
  return answers;
}

}  // namespace kappa
