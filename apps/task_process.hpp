#pragma once
// Crash-isolated tasks (docs/study.md, "Crash-isolated tasks"): optimizer code runs in a child
// process, never in the process that holds a study's state or a solve's other results, so that
// a segfault, an abort(), an exit() or the kernel's OOM kill inside a plugin costs the row of
// the task it was running and nothing else.
//
// A child is connected to its parent by one Unix stream socket (fd 3 in a spawned child) and
// shares one page with it that holds the RunProgress of its running task (fd 4, a memfd, in a
// spawned child; inherited by a forked one): the run's reports land there as they happen, so
// that the parent knows the last iteration of a child that died a microsecond later. Both
// directions of the socket carry messages [kind: 1 byte][length: uint32, little-endian][payload]:
//   parent -> child  task     int64 task index (a study's task, or a solve's run index), or
//                             several: a study's lockstep group, answered by one result each
//   child -> parent  ready    text: what the child checked it is serving (the study's grid hash)
//                    alive    empty, every kHeartbeatSeconds from a thread of the child, from
//                             its start: it is not stopped or wedged
//                    result   the task's result bytes (encode_outcome, encode_run_result)
// The child ends when the socket closes (the parent is done, or gone). It ignores SIGINT and
// SIGTERM: a terminal's Ctrl-C or Slurm's SIGTERM reaches the whole process group, and the
// parent decides (it lets the running task finish within --term-grace, docs/study.md). It asks
// the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so that no child outlives a
// killed rank.
//
// A parent waits for a task's result and ends the child with SIGKILL when it runs past its
// time_limit plus time_limit_grace() (a plugin that stops reporting cannot otherwise be
// stopped) or sends nothing for `silence` seconds (a stopped or wedged process).

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/experiment/run_monitor.hpp"

namespace kappa::cli {

enum class MessageKind : char { task = 'T', ready = 'R', alive = 'A', result = 'D' };

struct Message {
  MessageKind kind = MessageKind::task;
  std::string payload;
};

constexpr double kHeartbeatSeconds = 0.25;

// The child's end of the socket. Sending is thread-safe (the heartbeat thread and the task
// loop share the socket).
class ParentLink {
 public:
  // `progress`: the page shared with the parent (spawned_child_progress(), or the forked one).
  ParentLink(int socket, RunProgress& progress);
  ~ParentLink();  // stops the heartbeat thread
  ParentLink(const ParentLink&) = delete;
  ParentLink& operator=(const ParentLink&) = delete;

  // Sends a message; false when the parent is gone (the caller then ends).
  bool send(MessageKind kind, const std::string& payload);
  // The next task index; none when the socket closed (the parent is done or gone), or when the
  // message holds several (next_tasks).
  std::optional<std::int64_t> next_task();
  // The next task message: one task index, or the tasks of a lockstep group, answered with
  // one result message each, in their order. None when the socket closed.
  std::optional<std::vector<std::int64_t>> next_tasks();
  // From now on a thread says `alive` every kHeartbeatSeconds.
  void start_heartbeat();
  // Where the running task reports (Experiment::run's RunProgress), seen by the parent.
  RunProgress& progress() { return progress_; }

 private:
  int socket_;
  RunProgress& progress_;
  std::mutex send_mutex_;
  std::string buffer_;
  std::thread heartbeat_;
  std::mutex stop_mutex_;
  bool stop_ = false;
};

// The set-up every child does first: PR_SET_PDEATHSIG (and exit if `parent` is already gone),
// SIGINT and SIGTERM ignored.
void become_task_process(pid_t parent);
// A spawned child's view of the shared progress page (fd 4). Throws kappa::Error if it is not
// there (the process was not started by ChildProcess::spawn).
RunProgress& spawned_child_progress();

// The environment ChildProcess::spawn gives a task process: `current` (this process's), with
// glibc's malloc asked to back the heap with transparent huge pages (GLIBC_TUNABLES
// glibc.malloc.hugetlb=1, glibc 2.35 on) unless the user set that tunable. Where the kernel
// leaves huge pages to madvise (Debian's default), building a problem otherwise takes one
// page fault per 4 KiB of its transient matrices: a 16-task study on 600 x 600 took 16700 page
// faults, 6000 with huge pages, about 20 ms of its 0.42 s (docs/performance.md, "Lockstep
// groups"). glibc ignores tunables it does not know; a kernel without THP ignores the advice.
std::vector<std::string> task_process_environment(char* const* current);

// The parent's end: a child process and its socket. The destructor closes the socket, kills the
// child (SIGKILL) if it has not ended, and reaps it.
class ChildProcess {
 public:
  // Starts `argv` (argv[0] the program, found like execv, not on PATH) with the socket as its
  // fd 3. Throws kappa::Error naming the program when it cannot be started.
  static std::unique_ptr<ChildProcess> spawn(const std::vector<std::string>& argv);
  // fork(): the child runs body(link) and _exit()s with its value. For a single-threaded
  // parent whose state the child needs (kappa solve: the built problem), so nothing is rebuilt.
  static std::unique_ptr<ChildProcess> fork(const std::function<int(ParentLink&)>& body);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The running task's progress as the child last wrote it (also after it died).
  const RunProgress& progress() const { return *progress_; }
  bool send_task(std::int64_t task) { return send_tasks({task}); }  // false when the child is gone
  bool send_tasks(const std::vector<std::int64_t>& tasks);         // a lockstep group: one message
  enum class Got { message, timeout, closed };
  // Waits at most `timeout` seconds for the next message.
  Got receive(double timeout, Message& message);
  // Ends the child (SIGKILL unless it already ended), reaps it and says how it ended: "was
  // killed by signal 11 (SIGSEGV)", "exited with status 0", ...
  std::string end();

 private:
  ChildProcess(pid_t pid, int socket, RunProgress* progress) : pid_(pid), socket_(socket), progress_(progress) {}
  pid_t pid_;
  int socket_;
  RunProgress* progress_;  // the shared page, unmapped by the destructor
  std::string buffer_;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// Seconds a run may go on past its time_limit before its process is killed: the framework's
// own time-limit stop needs the plugin's next report, so a plugin between reports gets this
// long: min(60, max(5, time_limit / 10)).
double time_limit_grace(double time_limit);

struct TaskLimits {
  double time_limit = 0;  // the run's time_limit (RunControls); 0: none
  double silence = 60;    // seconds without any message after which the child counts as lost
};

// The end of one task in a child.
struct TaskAnswer {
  bool answered = false;
  std::string result;          // answered: the result payload
  std::string death;           // otherwise: what happened, for the row's message
  RunProgress::Snapshot last;  // the task's progress when it ended
  double seconds = 0;          // wall time of the task, as the parent saw it
};

// Sends `task` to `child` and waits for its result, enforcing `limits`; calls `tick` about every
// kHeartbeatSeconds while it waits (a worker rank's heartbeat to rank 0). When the child dies or
// is killed the answer says how, and the child is reaped (the caller starts another).
TaskAnswer run_in_child(ChildProcess& child, std::int64_t task, const TaskLimits& limits, const std::function<void()>& tick);
// The waiting part of it, for any message kind (a study's ready message, limits.time_limit 0):
// the answer's result is the payload of the first `wanted` message.
TaskAnswer await_message(ChildProcess& child, MessageKind wanted, const TaskLimits& limits, const std::function<void()>& tick);

// The path of this executable (/proc/self/exe), for spawning children of kappa itself.
std::string self_executable();

}  // namespace kappa::cli
