#pragma once
// The scheduling policy of a study (docs/study.md, "Dynamic scheduling"): which tasks a worker
// gets when it asks, how many, where tasks handed back go, and when a worker is told to stop or
// to wait. Plain code, no MPI, no clock and no threads: apps/study_scheduler.cpp carries the
// messages and asks this class what to answer; tests/unit/test_schedule.cpp drives it directly.
//
// The rules:
// - A chunk holds tasks of one problem, in task order (a rank builds each problem's Experiment
//   once, from its cache), unit by unit: a unit is a task, or a lockstep group (add_group),
//   which is never split: handed out, handed back and lost as a whole. The sizes below count
//   tasks; a chunk holds at least one unit and ends with the unit that reaches its size.
// - The problem: the one the worker got last, while it has tasks left (it is in the worker's
//   cache); else the first problem (lowest index) nobody has been given yet; else the problem
//   with most tasks left (the lowest index of those).
// - The size, with a fixed chunk (--chunk N): N, at most the tasks left of that problem.
//   Adaptive (chunk 0): about kChunkSeconds of work from the mean time of the tasks finished so
//   far, floor(kChunkSeconds / mean) clamped to [1, kMaxChunk] (kMaxChunk when the mean is 0;
//   1 until a time is known), but at most max(1, floor(tasks left / (2 workers))), half of a fair
//   share, so that the last chunks balance; and at most the tasks left of that problem.
// - Tasks handed back (a worker that was stopped or told to abandon its chunk) go back to the
//   front of their problem's queue, in their order, and are handed out again like any other.
// - When no task is left but some are still running elsewhere, worker 0 (the coordinator's own
//   worker thread) waits, since a worker that stops may still hand tasks back; any other worker
//   is told to stop. wake() says when the waiting worker can have an answer.
// - After stop() (SIGTERM, SIGINT) no task is handed out any more: every request is answered
//   with stop.
// - A lost worker (lose(): it stopped answering) hands back its unreported tasks like a worker
//   that stops, and is stopped.

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace kappa {

// The answer to a worker that asks for work.
struct WorkAnswer {
  enum class Kind {
    tasks,  // run `tasks`, then ask again
    stop,   // nothing more for this worker: it ends
    wait,   // worker 0 only: nothing to hand out now, but tasks in flight may yet be handed
            // back; no reply is sent now, wake() gives the answer later
  };
  Kind kind = Kind::stop;
  std::vector<std::size_t> tasks;  // kind tasks: indices of one problem, unit by unit
};

class SchedulePolicy {
 public:
  static constexpr double kChunkSeconds = 1.0;     // adaptive chunks: about this much work
  static constexpr std::size_t kMaxChunk = 10000;  // adaptive chunks: at most this many tasks

  // `problems` problems 0..problems-1, `workers` workers 0..workers-1 (at least 1; worker 0 is
  // the coordinator's own). `chunk`: tasks per chunk, 0 for adaptive.
  SchedulePolicy(std::size_t problems, std::size_t workers, std::size_t chunk = 0);

  // A task to run, of problem `problem`. Add them in task order: a problem's tasks are handed
  // out in the order they were added. Throws kappa::Error for a problem out of range.
  void add(std::size_t task, std::size_t problem);
  // A lockstep group: tasks (in task order) of problem `problem` handed out together. One task
  // is the same as add().
  void add_group(const std::vector<std::size_t>& tasks, std::size_t problem);

  // Worker `worker` asks for work. `unrun`: the tasks of its last chunk that it did not run (in
  // chunk order), handed back; every other task of that chunk has been reported through
  // finished(). `stopping`: the worker stops after this request (answered with stop). Throws
  // kappa::Error for a worker out of range or a handed-back task it was not given.
  WorkAnswer request(std::size_t worker, const std::vector<std::size_t>& unrun = {}, bool stopping = false);

  // Worker `worker` finished `task` after `seconds` (run and setup): the adaptive chunk size
  // follows the mean of these times.
  void finished(std::size_t worker, std::size_t task, double seconds);

  // Worker `worker` is lost (it stopped answering): the tasks it was given and has not reported
  // go back to the front of their problems' queues, in task order, to be handed out again; it
  // gets nothing more. Returns those tasks. Throws kappa::Error for a worker out of range.
  std::vector<std::size_t> lose(std::size_t worker);

  // A stop signal: nothing more is handed out. Returns the workers not stopped yet (to be told
  // to abandon their chunks after their current task), in increasing order.
  std::vector<std::size_t> stop();

  // The answers due to waiting workers that need not wait any longer (tasks were handed back,
  // nothing is in flight any more, or the study is stopping); each is then no longer waiting.
  std::vector<std::pair<std::size_t, WorkAnswer>> wake();

  // What the rules above give now.
  std::size_t chunk_size(std::size_t problem) const;  // the next chunk's size from `problem`
  std::size_t choose_problem(std::size_t worker) const;  // needs pending() > 0

  std::size_t workers() const { return workers_.size(); }
  std::size_t pending() const { return pending_count_; }  // tasks not handed out (or handed back)
  std::size_t pending(std::size_t problem) const { return pending_tasks_.at(problem); }
  std::size_t in_flight(std::size_t worker) const { return workers_.at(worker).in_flight.size(); }
  bool anything_in_flight() const;
  bool stopped(std::size_t worker) const { return workers_.at(worker).stopped; }
  bool all_stopped() const;
  bool waiting(std::size_t worker) const { return workers_.at(worker).waiting; }
  bool stopping() const { return stopping_; }
  std::optional<double> mean_task_seconds() const;  // none before the first finished task

 private:
  struct Worker {
    std::map<std::size_t, std::size_t> in_flight;  // task -> problem, of its current chunk
    bool stopped = false;
    bool waiting = false;
    std::optional<std::size_t> last_problem;
  };

  Worker& worker_at(std::size_t worker);
  WorkAnswer assign(std::size_t worker);
  // Puts `tasks` (of one worker's chunk) back at the front of their problems' queues, the
  // members of a group together as one unit again, in the order of their first task.
  void requeue(const std::vector<std::pair<std::size_t, std::size_t>>& tasks);  // (task, problem)

  std::size_t chunk_;
  std::vector<Worker> workers_;
  std::vector<std::deque<std::size_t>> pending_;   // per problem, in task order: the units' first tasks
  std::vector<std::size_t> pending_tasks_;         // per problem: tasks in its queue
  std::map<std::size_t, std::vector<std::size_t>> units_;  // by first task: the units of 2 or more
  std::map<std::size_t, std::size_t> group_of_;    // task -> its group's identity (grouped tasks only)
  std::vector<bool> started_;                      // per problem: handed out to some worker
  std::size_t pending_count_ = 0;
  double task_seconds_ = 0;
  std::size_t timed_tasks_ = 0;
  bool stopping_ = false;
};

}  // namespace kappa
