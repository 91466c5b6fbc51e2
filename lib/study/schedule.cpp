#include "study/schedule.hpp"

#include <algorithm>
#include <string>

#include "kappa/error.hpp"

namespace kappa {

SchedulePolicy::SchedulePolicy(std::size_t problems, std::size_t workers, std::size_t chunk)
    : chunk_(chunk), workers_(std::max<std::size_t>(1, workers)), pending_(problems), started_(problems, false) {}

void SchedulePolicy::add(std::size_t task, std::size_t problem) {
  if (problem >= pending_.size())
    throw Error("task " + std::to_string(task) + ": problem " + std::to_string(problem) + " out of range (" +
                std::to_string(pending_.size()) + " problems)");
  pending_[problem].push_back(task);
  ++pending_count_;
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
  if (w.last_problem && !pending_[*w.last_problem].empty()) return *w.last_problem;
  for (std::size_t p = 0; p < pending_.size(); ++p)
    if (!started_[p] && !pending_[p].empty()) return p;
  std::size_t best = 0;
  for (std::size_t p = 1; p < pending_.size(); ++p)
    if (pending_[p].size() > pending_[best].size()) best = p;
  return best;
}

// About one second of work per chunk (from the mean task time so far; one task until a time is
// known), but at most half of a fair share of what is left, so that the last chunks balance.
std::size_t SchedulePolicy::chunk_size(std::size_t problem) const {
  const std::size_t available = pending_.at(problem).size();
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
  for (std::size_t i = 0; i < size; ++i) {
    const std::size_t task = pending_[problem].front();
    pending_[problem].pop_front();
    answer.tasks.push_back(task);
    w.in_flight.emplace(task, problem);
  }
  pending_count_ -= size;
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
  for (auto task = unrun.rbegin(); task != unrun.rend(); ++task) {
    const auto found = w.in_flight.find(*task);
    if (found == w.in_flight.end()) continue;  // listed twice
    pending_[found->second].push_front(*task);
    ++pending_count_;
    w.in_flight.erase(found);
  }
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
  for (auto task = w.in_flight.rbegin(); task != w.in_flight.rend(); ++task) {
    pending_[task->second].push_front(task->first);
    ++pending_count_;
    tasks.insert(tasks.begin(), task->first);
  }
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
