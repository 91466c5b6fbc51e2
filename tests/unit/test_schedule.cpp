// The scheduling policy of kappa study (lib/study/schedule.hpp), driven without MPI: workers
// ask, finish tasks and hand chunks back, and the answers are checked against the rules of
// docs/study.md computed here independently.
#define BOOST_TEST_MODULE schedule
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <vector>

#include "kappa/error.hpp"
#include "study/schedule.hpp"

namespace kappa {
std::ostream& operator<<(std::ostream& out, WorkAnswer::Kind kind) {
  return out << (kind == WorkAnswer::Kind::tasks ? "tasks" : kind == WorkAnswer::Kind::stop ? "stop" : "wait");
}
}  // namespace kappa

using namespace kappa;
using Tasks = std::vector<std::size_t>;

namespace {

// The adaptive chunk rule of docs/study.md, written out again: about one second of work from
// the mean time so far (one task until a time is known, at most 10000), at most half of a
// fair share of what is left (at least 1), at most what the problem has left.
std::size_t expected_adaptive(std::optional<double> mean, std::size_t pending, std::size_t workers,
                              std::size_t problem_left) {
  std::size_t by_time = 1;
  if (mean) {
    if (*mean <= 0) {
      by_time = 10000;
    } else {
      const double per_second = std::floor(1.0 / *mean);
      by_time = per_second >= 10000 ? 10000 : per_second < 1 ? 1 : static_cast<std::size_t>(per_second);
    }
  }
  std::size_t fair = pending / (2 * workers);
  if (fair == 0) fair = 1;
  std::size_t size = std::min(by_time, std::min(fair, problem_left));
  return size == 0 ? 1 : size;
}

Tasks range(std::size_t first, std::size_t count) {
  Tasks tasks(count);
  for (std::size_t i = 0; i < count; ++i) tasks[i] = first + i;
  return tasks;
}

// A policy whose tasks 0..sizes[0]-1 are problem 0, the next sizes[1] problem 1, and so on.
SchedulePolicy policy_of(const std::vector<std::size_t>& sizes, std::size_t workers, std::size_t chunk,
                         std::vector<std::size_t>* problem_of = nullptr) {
  SchedulePolicy policy(sizes.size(), workers, chunk);
  std::size_t task = 0;
  for (std::size_t p = 0; p < sizes.size(); ++p)
    for (std::size_t i = 0; i < sizes[p]; ++i, ++task) {
      policy.add(task, p);
      if (problem_of) problem_of->push_back(p);
    }
  return policy;
}

Tasks tasks_of(const WorkAnswer& answer) {
  BOOST_REQUIRE(answer.kind == WorkAnswer::Kind::tasks);
  return answer.tasks;
}

}  // namespace

BOOST_AUTO_TEST_CASE(adaptive_chunks_follow_the_mean_task_time) {
  // One problem of 1000 tasks, 2 workers: fair share caps at pending / 4.
  SchedulePolicy policy = policy_of({1000}, 2, 0);
  BOOST_TEST(tasks_of(policy.request(0)) == Tasks{0}, "one task until a time is known");
  BOOST_TEST(tasks_of(policy.request(1)) == Tasks{1}, "still no time known");
  policy.finished(0, 0, 0.25);
  BOOST_TEST(tasks_of(policy.request(0)) == range(2, 4), "0.25 s per task: 4 tasks are 1 s");
  policy.finished(1, 1, 0.25);
  for (std::size_t t = 2; t < 6; ++t) policy.finished(0, t, 0.25);
  BOOST_TEST(tasks_of(policy.request(1)) == range(6, 4), "the mean over all workers' tasks");
  for (std::size_t t = 6; t < 10; ++t) policy.finished(1, t, 0.5);
  // mean = (6 * 0.25 + 4 * 0.5) / 10 = 0.35 s: floor(2.86) = 2 tasks
  BOOST_TEST(tasks_of(policy.request(1)) == range(10, 2));
  for (std::size_t t = 10; t < 12; ++t) policy.finished(1, t, 10.0);  // mean 23.5 / 12 > 1 s
  BOOST_TEST(tasks_of(policy.request(0)) == Tasks{12}, "tasks over a second each: one at a time");
}

BOOST_AUTO_TEST_CASE(adaptive_chunks_are_capped_by_half_a_fair_share_and_by_10000) {
  {
    SchedulePolicy policy = policy_of({1000}, 2, 0);
    BOOST_TEST(tasks_of(policy.request(0)).size() == 1u);
    policy.finished(0, 0, 0.0);  // instant tasks: 10000 by time, so the fair share decides
    BOOST_TEST(tasks_of(policy.request(0)).size() == 999u / 4);
    policy.finished(0, 1, 0.0);
  }
  {
    SchedulePolicy policy = policy_of({100000}, 1, 0);
    BOOST_TEST(tasks_of(policy.request(0)).size() == 1u);
    policy.finished(0, 0, 1e-7);  // 10^7 tasks per second, but at most 10000 per chunk
    BOOST_TEST(tasks_of(policy.request(0)).size() == 10000u);
  }
  {
    // Problem 0 has 3 tasks left: the chunk does not spill into problem 1.
    SchedulePolicy policy = policy_of({4, 1000}, 1, 0);
    BOOST_TEST(tasks_of(policy.request(0)) == Tasks{0});
    policy.finished(0, 0, 0.01);
    BOOST_TEST(tasks_of(policy.request(0)) == range(1, 3));
  }
}

// Random task times and several problems and workers: every chunk's size is the rule's, computed
// from the test's own count of what is left and of the times reported.
BOOST_AUTO_TEST_CASE(adaptive_chunk_sizes_match_the_rule_over_a_whole_study) {
  std::mt19937 random(7);
  const std::vector<std::size_t> sizes{300, 5, 1200, 40, 77};
  const std::size_t workers = 3;
  std::vector<std::size_t> problem_of;
  SchedulePolicy policy = policy_of(sizes, workers, 0, &problem_of);
  std::vector<std::size_t> left = sizes;
  std::size_t pending = problem_of.size();
  double sum = 0;
  std::size_t count = 0;
  const std::vector<double> times{0.001, 0.003, 0.01, 0.05, 0.2, 1.5, 0.0};
  std::size_t chunks = 0;
  std::set<std::size_t> sizes_seen;
  std::vector<bool> stopped(workers, false);
  while (std::find(stopped.begin(), stopped.end(), false) != stopped.end()) {
    const std::size_t worker = random() % workers;
    if (stopped[worker]) continue;
    const WorkAnswer answer = policy.request(worker);
    if (answer.kind == WorkAnswer::Kind::wait) {
      BOOST_FAIL("nothing is in flight between requests, so worker 0 has nothing to wait for");
    }
    if (answer.kind == WorkAnswer::Kind::stop) {
      BOOST_TEST(pending == 0u);
      stopped[worker] = true;
      continue;
    }
    const std::size_t problem = problem_of.at(answer.tasks.front());
    const std::optional<double> mean = count ? std::optional<double>(sum / static_cast<double>(count)) : std::nullopt;
    BOOST_TEST(answer.tasks.size() == expected_adaptive(mean, pending, workers, left[problem]),
               "chunk " << chunks << " from problem " << problem << ", " << pending << " pending");
    sizes_seen.insert(answer.tasks.size());
    left[problem] -= answer.tasks.size();
    pending -= answer.tasks.size();
    ++chunks;
    for (const std::size_t task : answer.tasks) {
      const double seconds = times[random() % times.size()];
      policy.finished(worker, task, seconds);
      sum += seconds;
      ++count;
    }
  }
  BOOST_TEST(count == problem_of.size());
  BOOST_TEST(sizes_seen.size() > 3u, "the sizes actually adapted");
}

BOOST_AUTO_TEST_CASE(a_fixed_chunk_is_honoured_and_capped_by_what_is_left) {
  // Problem 0: tasks 0..19, problem 1: 20..22. Chunk 7, two workers: the fair share (which would
  // be 5 at first) and the task times play no part.
  SchedulePolicy policy = policy_of({20, 3}, 2, 7);
  BOOST_TEST(tasks_of(policy.request(0)) == range(0, 7));
  for (std::size_t t = 0; t < 7; ++t) policy.finished(0, t, 10.0);  // slow: adaptive would give 1
  BOOST_TEST(tasks_of(policy.request(0)) == range(7, 7));
  for (std::size_t t = 7; t < 14; ++t) policy.finished(0, t, 10.0);
  BOOST_TEST(tasks_of(policy.request(0)) == range(14, 6), "capped by the 6 tasks problem 0 has left");
  for (std::size_t t = 14; t < 20; ++t) policy.finished(0, t, 10.0);
  BOOST_TEST(tasks_of(policy.request(0)) == range(20, 3), "capped by the 3 tasks problem 1 has");
  for (std::size_t t = 20; t < 23; ++t) policy.finished(0, t, 10.0);
  BOOST_TEST(policy.request(1).kind == WorkAnswer::Kind::stop);
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::stop);
  BOOST_TEST(policy.all_stopped());
}

BOOST_AUTO_TEST_CASE(a_fixed_chunk_larger_than_everything) {
  SchedulePolicy policy = policy_of({5}, 4, 1000);
  BOOST_TEST(tasks_of(policy.request(2)) == range(0, 5));
  BOOST_TEST(policy.request(1).kind == WorkAnswer::Kind::stop, "a remote worker stops when nothing is left");
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::wait, "worker 0 waits: worker 2 may hand tasks back");
  BOOST_TEST(policy.wake().empty());
  for (std::size_t t = 0; t < 5; ++t) policy.finished(2, t, 1.0);
  BOOST_TEST(policy.request(2).kind == WorkAnswer::Kind::stop);
  const auto woken = policy.wake();
  BOOST_TEST_REQUIRE(woken.size() == 1u);
  BOOST_TEST(woken[0].first == 0u);
  BOOST_TEST((woken[0].second.kind == WorkAnswer::Kind::stop), "nothing in flight any more: worker 0 stops");
  BOOST_TEST(policy.request(3).kind == WorkAnswer::Kind::stop);
  BOOST_TEST(policy.all_stopped());
}

BOOST_AUTO_TEST_CASE(handed_back_tasks_go_first_in_their_order) {
  SchedulePolicy policy = policy_of({10}, 2, 4);
  BOOST_TEST(tasks_of(policy.request(0)) == range(0, 4));
  BOOST_TEST(tasks_of(policy.request(1)) == range(4, 4));
  policy.finished(0, 0, 1.0);
  BOOST_TEST(policy.pending() == 2u);
  BOOST_TEST(policy.request(0, {1, 2, 3}, true).kind == WorkAnswer::Kind::stop, "a stopping worker is told to stop");
  BOOST_TEST(policy.pending() == 5u);
  BOOST_TEST(policy.in_flight(0) == 0u);
  for (std::size_t t = 4; t < 8; ++t) policy.finished(1, t, 1.0);
  BOOST_TEST(tasks_of(policy.request(1)) == (Tasks{1, 2, 3, 8}), "the handed-back tasks first, in order");
  // Handing back part of that chunk without stopping: those tasks come straight back, first.
  policy.finished(1, 1, 1.0);
  BOOST_TEST(tasks_of(policy.request(1, {2, 3, 8})) == (Tasks{2, 3, 8, 9}));
  for (const std::size_t t : {2, 3, 8, 9}) policy.finished(1, t, 1.0);
  BOOST_TEST(policy.request(1).kind == WorkAnswer::Kind::stop);
  BOOST_TEST(policy.all_stopped());
}

BOOST_AUTO_TEST_CASE(the_waiting_worker_gets_tasks_handed_back_by_others) {
  SchedulePolicy policy = policy_of({6}, 3, 3);
  BOOST_TEST(tasks_of(policy.request(1)) == range(0, 3));
  BOOST_TEST(tasks_of(policy.request(2)) == range(3, 3));
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::wait);
  BOOST_TEST(policy.waiting(0));
  policy.finished(1, 0, 1.0);
  BOOST_TEST(policy.wake().empty(), "still nothing to hand out, and tasks in flight");
  BOOST_TEST(policy.request(1, {1, 2}, true).kind == WorkAnswer::Kind::stop);
  auto woken = policy.wake();
  BOOST_TEST_REQUIRE(woken.size() == 1u);
  BOOST_TEST(woken[0].first == 0u);
  BOOST_TEST(tasks_of(woken[0].second) == range(1, 2));
  BOOST_TEST(!policy.waiting(0));
  BOOST_TEST(policy.wake().empty(), "woken once");
  for (std::size_t t = 3; t < 6; ++t) policy.finished(2, t, 1.0);
  BOOST_TEST(policy.request(2).kind == WorkAnswer::Kind::stop);
  for (std::size_t t = 1; t < 3; ++t) policy.finished(0, t, 1.0);
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::stop);
  BOOST_TEST(policy.all_stopped());
}

BOOST_AUTO_TEST_CASE(a_lost_worker_hands_back_its_unreported_tasks_to_the_waiting_worker) {
  SchedulePolicy policy = policy_of({6}, 3, 3);
  BOOST_TEST(tasks_of(policy.request(1)) == range(0, 3));
  BOOST_TEST(tasks_of(policy.request(2)) == range(3, 3));
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::wait);
  policy.finished(2, 3, 1.0);  // worker 2 reports one task, then stops answering
  BOOST_TEST(policy.lose(2) == Tasks({4, 5}));
  BOOST_TEST(policy.stopped(2));
  BOOST_TEST(policy.in_flight(2) == 0u);
  BOOST_TEST(policy.pending() == 2u);
  auto woken = policy.wake();
  BOOST_TEST_REQUIRE(woken.size() == 1u);
  BOOST_TEST(woken[0].first == 0u);
  BOOST_TEST(tasks_of(woken[0].second) == Tasks({4, 5}));
  BOOST_TEST(policy.lose(2).empty(), "nothing more to hand back");
  BOOST_CHECK_THROW(policy.lose(3), Error);
}

BOOST_AUTO_TEST_CASE(stop_hands_out_nothing_more) {
  SchedulePolicy policy = policy_of({100}, 3, 5);
  BOOST_TEST(tasks_of(policy.request(1)) == range(0, 5));
  BOOST_TEST(tasks_of(policy.request(2)) == range(5, 5));
  policy.finished(2, 5, 1.0);
  BOOST_TEST(policy.request(2, {6, 7, 8, 9}, true).kind == WorkAnswer::Kind::stop);
  BOOST_TEST(!policy.stopping());
  BOOST_TEST(policy.stop() == (std::vector<std::size_t>{0, 1}), "the workers to tell to abandon their chunks");
  BOOST_TEST(policy.stopping());
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::stop);
  policy.finished(1, 0, 1.0);
  BOOST_TEST(policy.request(1, {1, 2, 3, 4}, false).kind == WorkAnswer::Kind::stop, "even a worker that would go on");
  BOOST_TEST(policy.all_stopped());
  BOOST_TEST(policy.pending() == 98u, "handed-back tasks are pending, for --resume");
}

BOOST_AUTO_TEST_CASE(stop_wakes_the_waiting_worker) {
  SchedulePolicy policy = policy_of({2}, 2, 2);
  BOOST_TEST(tasks_of(policy.request(1)) == range(0, 2));
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::wait);
  BOOST_TEST(policy.stop() == (std::vector<std::size_t>{0, 1}));
  const auto woken = policy.wake();
  BOOST_TEST_REQUIRE(woken.size() == 1u);
  BOOST_TEST((woken[0].second.kind == WorkAnswer::Kind::stop));
  BOOST_TEST(policy.stopped(0));
  BOOST_TEST(!policy.all_stopped(), "worker 1 still runs its task");
}

// Problems: 0 = tasks 0..3, 1 = 4..7, 2 = 8..11. Chunk 2, three workers.
BOOST_AUTO_TEST_CASE(tasks_of_one_problem_stay_together) {
  SchedulePolicy policy = policy_of({4, 4, 4}, 3, 2);
  BOOST_TEST(tasks_of(policy.request(0)) == (Tasks{0, 1}), "the first problem");
  BOOST_TEST(tasks_of(policy.request(1)) == (Tasks{4, 5}), "a problem nobody has started");
  BOOST_TEST(tasks_of(policy.request(2)) == (Tasks{8, 9}), "the next one nobody has started");
  BOOST_TEST(tasks_of(policy.request(1)) == (Tasks{6, 7}), "the problem it had last");
  // Problem 1 is done; 0 and 2 both have 2 left: the lowest index of the largest.
  BOOST_TEST(tasks_of(policy.request(1)) == (Tasks{2, 3}), "the problem with most tasks left");
  BOOST_TEST(tasks_of(policy.request(0)) == (Tasks{10, 11}), "its own problem is done: most left");
  BOOST_TEST(policy.request(2).kind == WorkAnswer::Kind::stop);
}

BOOST_AUTO_TEST_CASE(an_unstarted_problem_wins_over_a_larger_started_one) {
  SchedulePolicy policy = policy_of({100, 1, 1}, 2, 10);
  BOOST_TEST(tasks_of(policy.request(0)) == range(0, 10));
  BOOST_TEST(tasks_of(policy.request(1)) == Tasks{100}, "problem 1, not yet started, not the 90 of problem 0");
  BOOST_TEST(tasks_of(policy.request(1)) == Tasks{101});
  BOOST_TEST(tasks_of(policy.request(1)) == range(10, 10));
  BOOST_TEST(tasks_of(policy.request(0)) == range(20, 10), "problem 0 again: its last");
}

// Tasks not added (done before --resume) are never handed out; the others in task order.
BOOST_AUTO_TEST_CASE(only_the_tasks_added_are_handed_out) {
  SchedulePolicy policy(2, 1, 100);
  for (const std::size_t task : {1, 2, 5, 6}) policy.add(task, 0);
  policy.add(8, 1);
  BOOST_TEST(tasks_of(policy.request(0)) == (Tasks{1, 2, 5, 6}));
  BOOST_TEST(tasks_of(policy.request(0)) == Tasks{8});
  BOOST_TEST(policy.request(0).kind == WorkAnswer::Kind::stop);
}

BOOST_AUTO_TEST_CASE(bad_messages_are_errors) {
  SchedulePolicy policy = policy_of({10}, 2, 3);
  BOOST_CHECK_THROW(policy.add(10, 1), Error);
  BOOST_CHECK_THROW(policy.request(2), Error);
  BOOST_TEST(tasks_of(policy.request(1)) == range(0, 3));
  BOOST_CHECK_THROW(policy.request(1, {7}), Error);  // not given to it
  BOOST_TEST(policy.pending() == 7u, "a bad hand-back changes nothing");
  BOOST_TEST(policy.in_flight(1) == 3u);
  policy.finished(1, 0, 1.0);
  BOOST_CHECK_THROW(policy.request(1, {0, 1, 2}), Error);  // task 0 was reported
}

// Workers ask, run, hand back parts of their chunks and stop at random; the one that never
// stops is worker 0. Every added task is handed to one worker at a time, and finished exactly
// once; every chunk is of one problem, and follows the problem rule.
BOOST_AUTO_TEST_CASE(every_task_runs_exactly_once_with_chunks_handed_back) {
  for (const std::size_t chunk : {0, 1, 3, 50}) {
    for (unsigned seed = 1; seed <= 20; ++seed) {
      std::mt19937 random(seed);
      const std::size_t workers = 1 + random() % 5;
      std::vector<std::size_t> sizes(1 + random() % 6);
      for (std::size_t& size : sizes) size = random() % 40;
      std::vector<std::size_t> problem_of;
      SchedulePolicy policy = policy_of(sizes, workers, chunk, &problem_of);
      const std::size_t total = problem_of.size();
      std::vector<std::size_t> left = sizes;
      std::vector<bool> started(sizes.size(), false);
      std::vector<Tasks> chunk_of(workers);  // what each worker still has to run
      std::vector<std::optional<std::size_t>> last(workers);
      std::vector<bool> asked(workers, false), stopped(workers, false), waiting(workers, false);
      std::map<std::size_t, std::size_t> owner;  // task -> the worker running it
      std::vector<int> finished(total, 0);
      const auto receive = [&](std::size_t worker, const WorkAnswer& answer) {
        if (answer.kind == WorkAnswer::Kind::stop) {
          stopped[worker] = true;
          return;
        }
        if (answer.kind == WorkAnswer::Kind::wait) {
          BOOST_TEST(worker == 0u, "only worker 0 waits");
          waiting[worker] = true;
          return;
        }
        BOOST_TEST_REQUIRE(!answer.tasks.empty());
        const std::size_t problem = problem_of.at(answer.tasks.front());
        // The problem rule, from the test's own bookkeeping.
        std::optional<std::size_t> expected;
        if (last[worker] && left[*last[worker]] > 0) expected = last[worker];
        for (std::size_t p = 0; !expected && p < sizes.size(); ++p)
          if (!started[p] && left[p] > 0) expected = p;
        if (!expected) expected = std::size_t(std::max_element(left.begin(), left.end()) - left.begin());
        BOOST_TEST(problem == *expected, "seed " << seed << " chunk " << chunk);
        if (chunk > 0) BOOST_TEST(answer.tasks.size() == std::min(chunk, left[problem]));
        for (const std::size_t task : answer.tasks) {
          BOOST_TEST(problem_of.at(task) == problem, "a chunk holds one problem");
          BOOST_TEST(owner.count(task) == 0u, "task " << task << " handed out while another worker has it");
          BOOST_TEST(finished[task] == 0, "task " << task << " handed out after it ran");
          owner[task] = worker;
        }
        left[problem] -= answer.tasks.size();
        started[problem] = true;
        last[worker] = problem;
        chunk_of[worker] = answer.tasks;
      };
      std::size_t steps = 0;
      while (std::find(stopped.begin(), stopped.end(), false) != stopped.end()) {
        BOOST_TEST_REQUIRE(++steps < 100000u);
        const std::size_t worker = random() % workers;
        if (stopped[worker] || waiting[worker]) continue;
        Tasks& mine = chunk_of[worker];
        const unsigned action = random() % 10;
        if (!asked[worker] || mine.empty()) {
          asked[worker] = true;
          receive(worker, policy.request(worker));
        } else if (action < 7) {
          const std::size_t task = mine.front();
          mine.erase(mine.begin());
          owner.erase(task);
          ++finished[task];
          policy.finished(worker, task, 0.001 * (random() % 5));
        } else {
          // Hand back the rest of the chunk; workers other than 0 sometimes stop with it.
          const bool stopping = worker != 0 && action == 9;
          for (const std::size_t task : mine) {
            owner.erase(task);
            ++left[problem_of[task]];
          }
          const Tasks unrun = mine;
          mine.clear();
          receive(worker, policy.request(worker, unrun, stopping));
        }
        for (const auto& [woken, answer] : policy.wake()) {
          BOOST_TEST_REQUIRE(waiting[woken]);
          waiting[woken] = false;
          receive(woken, answer);
        }
      }
      for (std::size_t task = 0; task < total; ++task)
        BOOST_TEST(finished[task] == 1, "seed " << seed << " chunk " << chunk << ": task " << task << " ran " << finished[task] << " times");
      BOOST_TEST(policy.pending() == 0u);
      BOOST_TEST(!policy.anything_in_flight());
    }
  }
}

// Equal workers, equal tasks of 1/1024 s (exact in binary), adaptive chunks: by time a chunk
// could hold 1024 tasks, but the fair-share cap makes the chunks shrink towards the end so that
// every worker finishes within about a task of the others. A discrete-event simulation: the
// worker that is free first asks next.
BOOST_AUTO_TEST_CASE(the_final_chunks_balance_across_workers) {
  const double task_time = 1.0 / 1024;
  for (const std::size_t workers : {2, 4, 7}) {
    const std::size_t total = 5000;
    SchedulePolicy policy = policy_of({total}, workers, 0);
    std::vector<double> free_at(workers, 0.0);
    std::vector<bool> stopped(workers, false);
    std::size_t pending = total;
    std::vector<std::size_t> last_sizes;
    while (std::find(stopped.begin(), stopped.end(), false) != stopped.end()) {
      std::size_t worker = workers;
      for (std::size_t w = 0; w < workers; ++w)
        if (!stopped[w] && (worker == workers || free_at[w] < free_at[worker])) worker = w;
      const WorkAnswer answer = policy.request(worker);
      BOOST_TEST_REQUIRE((answer.kind != WorkAnswer::Kind::wait), "nothing is in flight between requests here");
      if (answer.kind == WorkAnswer::Kind::stop) {
        stopped[worker] = true;
        continue;
      }
      const std::size_t size = answer.tasks.size();
      BOOST_TEST(size <= std::max<std::size_t>(1, pending / (2 * workers)), "at most half a fair share");
      pending -= size;
      last_sizes.push_back(size);
      for (const std::size_t task : answer.tasks) policy.finished(worker, task, task_time);
      free_at[worker] += task_time * static_cast<double>(size);
    }
    const auto [first, last] = std::minmax_element(free_at.begin(), free_at.end());
    BOOST_TEST(*last - *first <= 1.5 * task_time, workers << " workers: finished " << *first << " .. " << *last << " s");
    BOOST_TEST(*last <= total * task_time / static_cast<double>(workers) + 1.5 * task_time);
    // The last chunk of each worker is a single task.
    BOOST_TEST_REQUIRE(last_sizes.size() >= workers);
    for (std::size_t i = last_sizes.size() - workers; i < last_sizes.size(); ++i) BOOST_TEST(last_sizes[i] == 1u);
  }
}

// Lockstep groups are units: handed out whole (a chunk ends with the unit that reaches its
// size), handed back and lost whole, and formed again from the members still unreported.
BOOST_AUTO_TEST_CASE(lockstep_groups_are_never_split) {
  SchedulePolicy policy(1, 2, 3);  // fixed chunks of 3 tasks
  policy.add(0, 0);
  policy.add_group({1, 4, 6}, 0);  // members need not be adjacent in task order
  policy.add(2, 0);
  policy.add_group({3, 5}, 0);
  BOOST_TEST(policy.pending() == 7u);
  WorkAnswer first = policy.request(0);
  BOOST_TEST((first.tasks == Tasks{0, 1, 4, 6}));  // 0, then the whole group that reaches 3
  BOOST_TEST(policy.pending() == 3u);
  WorkAnswer second = policy.request(1);
  BOOST_TEST((second.tasks == Tasks{2, 3, 5}));
  BOOST_TEST(policy.pending() == 0u);
  // Worker 0 reports task 0 and hands the group back; worker 1 is lost after reporting 2.
  policy.finished(0, 0, 0.1);
  policy.finished(1, 2, 0.1);
  const Tasks lost = policy.lose(1);
  BOOST_TEST((lost == Tasks{3, 5}));
  WorkAnswer again = policy.request(0, {1, 4, 6});
  BOOST_TEST((again.tasks == Tasks{1, 4, 6}));  // handed back to the front, as one unit
  // The group {3, 5} comes next, still one unit, even though the chunk size is 3.
  policy.finished(0, 1, 0.1);
  policy.finished(0, 4, 0.1);
  policy.finished(0, 6, 0.1);
  WorkAnswer last = policy.request(0);
  BOOST_TEST((last.tasks == Tasks{3, 5}));
  // A worker stopped after the first member of a group hands back the rest as one unit.
  policy.finished(0, 3, 0.1);
  WorkAnswer rest = policy.request(0, {5});
  BOOST_TEST(rest.kind == WorkAnswer::Kind::tasks);
  BOOST_TEST((rest.tasks == Tasks{5}));
}
