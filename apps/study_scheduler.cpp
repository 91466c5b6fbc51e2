#include "study_scheduler.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/mpi/status.hpp>

#include <kappa/error.hpp>
#include <kappa/parse.hpp>
#include "study/runner.hpp"
#include "study/schedule.hpp"

#include "cli.hpp"
#include "study_progress.hpp"
#include "task_process.hpp"

namespace kappa::cli {
namespace {

// The one piece of process-wide state a signal handler may touch (async-signal-safe).
volatile std::sig_atomic_t received_signal = 0;
volatile std::sig_atomic_t signal_count = 0;
volatile std::sig_atomic_t preparing = 1;  // until begin_running(): nothing to save yet

extern "C" void on_stop_signal(int signal) {
  if (preparing) {
    // Reading the grid, planning it or reading a resumed file: no results file has been written
    // and no task runs, so the study ends at once (write and _exit are async-signal-safe).
    static const char interrupted[] = "kappa study: stopped by SIGINT before any task ran; no results were written\n";
    static const char terminated[] = "kappa study: stopped by SIGTERM before any task ran; no results were written\n";
    const bool is_int = signal == SIGINT;
    static_cast<void>(::write(STDERR_FILENO, is_int ? interrupted : terminated, (is_int ? sizeof interrupted : sizeof terminated) - 1));
    ::_exit(128 + signal);
  }
  received_signal = signal;
  signal_count = signal_count + 1;
}

using Clock = std::chrono::steady_clock;
using TaskList = std::vector<std::int64_t>;

double seconds_between(Clock::time_point from, Clock::time_point to) { return std::chrono::duration<double>(to - from).count(); }

// Message tags. Every int64 message has a header element, so that no message is empty:
//   request  worker -> 0:  [stopping (0/1), tasks of the last chunk not run...]
//   result   worker -> 0:  encode_outcome() bytes
//   work     0 -> worker:  [count, task indices...]; count 0 means stop
//   abandon  0 -> worker:  [0]: finish the current task, drop the rest of the chunk
//   alive    worker -> 0:  [0]: a heartbeat, at most every kAliveSeconds while a task runs
enum Tag : int { kRequest = 1, kResult = 2, kWork = 3, kAbandon = 4, kAlive = 5 };

constexpr double kAliveSeconds = 1.0;

struct Event {
  enum class Kind { request, result, alive } kind = Kind::request;
  int worker = 0;
  bool stopping = false;
  TaskList unrun;
  std::string result;
};

// Between the coordinator (rank 0's main thread) and the worker thread of rank 0.
class LocalChannel {
 public:
  // Worker side.
  TaskList request(TaskList unrun, bool stopping) {
    std::unique_lock<std::mutex> lock(mutex_);
    events_.push_back({Event::Kind::request, 0, stopping, std::move(unrun), {}});
    reply_ready_.wait(lock, [this] { return reply_.has_value(); });
    TaskList tasks = std::move(*reply_);
    reply_.reset();
    return tasks;
  }
  void send_result(std::string bytes) {
    const std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back({Event::Kind::result, 0, false, {}, std::move(bytes)});
  }
  bool abandoned() const { return abandon_; }
  // The worker thread ended on an error (its task process could not be started, ...).
  void fail(const std::string& message) {
    const std::lock_guard<std::mutex> lock(mutex_);
    failure_ = message;
  }

  // Coordinator side.
  std::optional<std::string> failure() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }
  std::optional<Event> poll() {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (events_.empty()) return std::nullopt;
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
  }
  void send_work(TaskList tasks) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      reply_ = std::move(tasks);
    }
    reply_ready_.notify_all();
  }
  void abandon() { abandon_ = true; }

 private:
  std::mutex mutex_;
  std::condition_variable reply_ready_;
  std::deque<Event> events_;
  std::optional<TaskList> reply_;
  std::optional<std::string> failure_;
  std::atomic<bool> abandon_{false};
};

// Worker side of MPI (ranks 1..N-1).
class MpiWorkerLink {
 public:
  explicit MpiWorkerLink(const boost::mpi::communicator& world) : world_(world) {}

  TaskList request(const TaskList& unrun, bool stopping) {
    TaskList message{stopping ? 1 : 0};
    message.insert(message.end(), unrun.begin(), unrun.end());
    world_.send(0, kRequest, message.data(), static_cast<int>(message.size()));
    while (true) {
      const boost::mpi::status status = world_.probe(0, boost::mpi::any_tag);
      if (status.tag() == kAbandon) {
        receive_abandon();
        continue;
      }
      TaskList reply(static_cast<std::size_t>(status.count<std::int64_t>().value_or(1)));
      world_.recv(0, kWork, reply.data(), static_cast<int>(reply.size()));
      return TaskList(reply.begin() + 1, reply.end());
    }
  }
  void send_result(const std::string& bytes) {
    world_.send(0, kResult, bytes.data(), static_cast<int>(bytes.size()));
    last_sent_ = Clock::now();
  }
  // While a task runs: tells rank 0 that this rank is alive, at most every kAliveSeconds.
  void heartbeat() {
    if (seconds_between(last_sent_, Clock::now()) < kAliveSeconds) return;
    const std::int64_t header = 0;
    world_.send(0, kAlive, &header, 1);
    last_sent_ = Clock::now();
  }
  bool abandoned() {
    if (!abandoned_ && world_.iprobe(0, kAbandon)) receive_abandon();
    return abandoned_;
  }

 private:
  void receive_abandon() {
    std::int64_t header = 0;
    world_.recv(0, kAbandon, &header, 1);
    abandoned_ = true;
  }
  const boost::mpi::communicator& world_;
  bool abandoned_ = false;
  Clock::time_point last_sent_ = Clock::now();
};

// The job is being stopped (SIGTERM/SIGINT reached this rank, and its task process died of it
// before it could ignore it): the unit's tasks after `results` were not run, and are handed
// back like the rest of the chunk. Not an error, and not a crash of the task.
struct TaskProcessStopped {
  std::vector<std::string> results;  // of the unit's first tasks, which did finish
};

// Runs a rank's units (a task, or a lockstep group: LockstepGroups), each task into its
// encode_outcome() bytes, in the unit's order.
class RankRunner {
 public:
  virtual ~RankRunner() = default;
  virtual std::vector<std::string> run(const std::vector<std::size_t>& unit) = 0;
};

// --isolation none: in this process (a crash ends the study).
class InProcessRunner final : public RankRunner {
 public:
  InProcessRunner(const StudyPlan& plan, const SchedulerOptions& options, long long rank, const std::string& host)
      : runner_(plan, options.cache_bytes, rank, host, options.shared_job), lockstep_(options.lockstep) {}
  std::vector<std::string> run(const std::vector<std::size_t>& unit) override {
    std::vector<std::string> results;
    for (const TaskOutcome& outcome : runner_.run_group(unit, lockstep_.get())) results.push_back(encode_outcome(outcome));
    return results;
  }

 private:
  TaskRunner runner_;
  std::shared_ptr<const LockstepGroups> lockstep_;
};

// The default: in a task process (task_process.hpp), started when the first task comes and
// again after one died. The task process keeps its Experiment cache for as long as it lives.
class IsolatedRunner final : public RankRunner {
 public:
  IsolatedRunner(const StudyPlan& plan, const SchedulerOptions& options, long long rank, std::string host,
                 std::function<void()> tick)
      : plan_(plan), options_(options), rank_(rank), host_(std::move(host)), tick_(std::move(tick)) {}

  std::vector<std::string> run(const std::vector<std::size_t>& unit) override {
    if (unit.size() == 1) return {run_one(unit.front())};
    if (!child_) start();
    // A group's time limit: each run is charged its share of the group's time, so the group
    // may take the sum of its runs' limits (none if one of them has none).
    TaskLimits limits{0, options_.worker_timeout};
    std::vector<std::int64_t> tasks;
    bool limited = true;
    for (std::size_t task : unit) {
      tasks.push_back(static_cast<std::int64_t>(task));
      const double limit = plan_.tasks.at(task).controls.time_limit;
      limited = limited && limit > 0;
      limits.time_limit += limit;
    }
    if (!limited) limits.time_limit = 0;
    std::vector<std::string> results;
    if (child_->send_tasks(tasks)) {
      while (results.size() < unit.size()) {
        TaskAnswer answer = await_message(*child_, MessageKind::result, limits, tick_);
        if (!answer.answered) break;
        results.push_back(std::move(answer.result));
      }
    }
    if (results.size() == unit.size()) return results;
    // The task process died in the group: each run it did not answer runs again alone, in a
    // new task process, so that a crash costs the row of the run that crashed, and only it.
    child_.reset();
    for (std::size_t i = results.size(); i < unit.size(); ++i) {
      if (stop_signal() != 0) throw TaskProcessStopped{results};
      try {
        results.push_back(run_one(unit[i]));
      } catch (TaskProcessStopped&) {
        throw TaskProcessStopped{results};
      }
    }
    return results;
  }

 private:
  std::string run_one(std::size_t task) {
    if (!child_) start();
    const TaskLimits limits{plan_.tasks.at(task).controls.time_limit, options_.worker_timeout};
    const TaskAnswer answer = run_in_child(*child_, static_cast<std::int64_t>(task), limits, tick_);
    if (answer.answered) return answer.result;
    const std::string pid = std::to_string(child_->pid());
    child_.reset();  // reaped; the next task starts another
    if (stop_signal() != 0) throw TaskProcessStopped{};
    return encode_outcome(
        crashed_outcome(plan_, task, rank_, host_, "the task process (pid " + pid + ") " + answer.death, answer.last, answer.seconds));
  }

  // Starts a task process and waits until it has planned the same grid (it sends heartbeats
  // while it plans, so a large grid is no reason to give up).
  void start() {
    std::vector<std::string> argv{self_executable(), "task-process", std::to_string(::getpid()), std::to_string(rank_),
                                  std::to_string(options_.blas_threads), "study"};
    argv.insert(argv.end(), options_.arguments.begin(), options_.arguments.end());
    child_ = ChildProcess::spawn(argv);
    const TaskAnswer ready = await_message(*child_, MessageKind::ready, {0, options_.worker_timeout}, tick_);
    if (!ready.answered) {
      child_.reset();
      if (stop_signal() != 0) throw TaskProcessStopped{};
      throw Error("the task process of rank " + std::to_string(rank_) + " " + ready.death + " before it was ready");
    }
    if (ready.result != plan_.grid_hash)
      throw Error("the task process of rank " + std::to_string(rank_) + " planned another grid (hash " + ready.result +
                  ", this rank has " + plan_.grid_hash + "): did a plugin or the grid file change?");
  }

  const StudyPlan& plan_;
  const SchedulerOptions& options_;
  long long rank_;
  std::string host_;
  std::function<void()> tick_;
  std::unique_ptr<ChildProcess> child_;
};

std::unique_ptr<RankRunner> make_runner(const StudyPlan& plan, const SchedulerOptions& options, long long rank,
                                        const std::string& host, std::function<void()> tick) {
  if (!options.isolated) return std::make_unique<InProcessRunner>(plan, options, rank, host);
  return std::make_unique<IsolatedRunner>(plan, options, rank, host, std::move(tick));
}

// Requests chunks and runs them until told to stop. After a stop signal (or an abandon
// message) the current task is finished, the rest of the chunk is handed back, and the
// request says that this worker stops.
template <class Link>
void worker_loop(RankRunner& runner, Link& link, const LockstepGroups* lockstep) {
  TaskList unrun;
  bool stopping = false;
  while (true) {
    const TaskList tasks = link.request(unrun, stopping);
    unrun.clear();
    if (tasks.empty()) return;
    static const LockstepGroups alone;  // --lockstep off: every task a unit of its own
    const std::vector<std::vector<std::size_t>> units =
        (lockstep != nullptr ? *lockstep : alone).units(std::vector<std::size_t>(tasks.begin(), tasks.end()));
    std::size_t done = 0;  // tasks of the chunk reported
    for (const std::vector<std::size_t>& unit : units) {
      if (stop_signal() != 0 || link.abandoned()) {
        stopping = true;
        break;
      }
      std::vector<std::string> results;
      try {
        results = runner.run(unit);
      } catch (TaskProcessStopped& stopped) {
        stopping = true;
        results = std::move(stopped.results);
      }
      for (const std::string& result : results) link.send_result(result);
      done += results.size();
      if (stopping) break;
    }
    if (stopping) unrun.assign(tasks.begin() + static_cast<std::ptrdiff_t>(done), tasks.end());
  }
}

class Coordinator {
 public:
  Coordinator(const StudyPlan& plan, StudyResults& results, const std::string& file, const std::string& csv_file,
              const SchedulerOptions& options, const boost::mpi::communicator* world, LocalChannel& local)
      : results_(results),
        file_(file),
        csv_file_(csv_file),
        options_(options),
        world_(world),
        local_(local),
        policy_(plan.problems.size(), static_cast<std::size_t>(world ? world->size() : 1), options.chunk),
        progress_(std::cerr, options.progress, options.progress_interval, plan.tasks.size(), results.size()),
        last_heard_(policy_.workers(), Clock::now()),
        lost_(policy_.workers(), false) {
    add_tasks(plan, results, options.lockstep.get());
    // What finishes while the file is rewritten is not saved: rewrites during the study are kept
    // to a tenth of the interval, so a kill loses at most about --flush-interval of work.
    results_.set_rewrite_budget(options.flush_interval / 10);
  }

  CoordinatorSummary run();

 private:
  // The tasks without a row, into the policy; each lockstep group (its members without a row)
  // as one unit, at the place of its first such member.
  void add_tasks(const StudyPlan& plan, const StudyResults& results, const LockstepGroups* lockstep_or_null) {
    static const LockstepGroups alone;  // --lockstep off: no task grouped
    const LockstepGroups& lockstep = lockstep_or_null != nullptr ? *lockstep_or_null : alone;
    std::unordered_map<std::size_t, std::vector<std::size_t>> groups;  // by leader
    for (std::size_t task = 0; task < plan.tasks.size(); ++task)
      if (lockstep.grouped(task) && !results.contains(task)) groups[lockstep.leader(task)].push_back(task);
    for (std::size_t task = 0; task < plan.tasks.size(); ++task) {
      if (results.contains(task)) continue;
      if (!lockstep.grouped(task)) {
        policy_.add(task, plan.tasks.problem(task));
        continue;
      }
      const std::vector<std::size_t>& members = groups[lockstep.leader(task)];
      if (members.front() == task) policy_.add_group(members, plan.tasks.problem(task));
    }
  }

  std::optional<Event> poll_remote();
  void handle(Event& event);
  void answer(std::size_t worker, const WorkAnswer& answer);
  void send(int worker, const TaskList& tasks);
  void begin_stopping();
  void flush(bool force);
  void find_lost_workers(CoordinatorSummary& summary);

  StudyResults& results_;
  const std::string& file_;
  const std::string& csv_file_;
  const SchedulerOptions& options_;
  const boost::mpi::communicator* world_;  // null: no MPI (one process)
  LocalChannel& local_;
  SchedulePolicy policy_;  // which tasks go where (lib/study/schedule.hpp); here only the messages
  StudyProgress progress_;
  Clock::time_point deadline_;
  std::size_t written_rows_ = static_cast<std::size_t>(-1);
  Clock::time_point last_write_ = Clock::now();
  double write_seconds_ = 0;
  std::vector<Clock::time_point> last_heard_;  // per worker: its last message
  std::vector<bool> lost_;                     // per worker: found lost; its messages are ignored
};

std::optional<Event> Coordinator::poll_remote() {
  if (policy_.workers() == 1) return std::nullopt;
  const boost::optional<boost::mpi::status> status = world_->iprobe(boost::mpi::any_source, boost::mpi::any_tag);
  if (!status) return std::nullopt;
  Event event;
  event.worker = status->source();
  if (status->tag() == kResult) {
    event.kind = Event::Kind::result;
    event.result.assign(static_cast<std::size_t>(status->count<char>().value_or(0)), '\0');
    world_->recv(status->source(), kResult, &event.result[0], static_cast<int>(event.result.size()));
    return event;
  }
  if (status->tag() == kAlive) {
    std::int64_t header = 0;
    world_->recv(status->source(), kAlive, &header, 1);
    event.kind = Event::Kind::alive;
    return event;
  }
  if (status->tag() != kRequest) throw Error("rank " + std::to_string(status->source()) + " sent an unexpected message");
  TaskList message(static_cast<std::size_t>(status->count<std::int64_t>().value_or(1)));
  world_->recv(status->source(), kRequest, message.data(), static_cast<int>(message.size()));
  event.kind = Event::Kind::request;
  event.stopping = message.at(0) != 0;
  event.unrun.assign(message.begin() + 1, message.end());
  return event;
}

void Coordinator::send(int worker, const TaskList& tasks) {
  if (worker == 0) {
    local_.send_work(tasks);
    return;
  }
  TaskList message{static_cast<std::int64_t>(tasks.size())};
  message.insert(message.end(), tasks.begin(), tasks.end());
  world_->send(worker, kWork, message.data(), static_cast<int>(message.size()));
}

// Sends the policy's answer to a request: the tasks, or stop; a waiting worker gets its answer
// later (wake()).
void Coordinator::answer(std::size_t worker, const WorkAnswer& answer) {
  if (answer.kind == WorkAnswer::Kind::wait) return;
  send(static_cast<int>(worker), TaskList(answer.tasks.begin(), answer.tasks.end()));
}

void Coordinator::handle(Event& event) {
  const auto worker = static_cast<std::size_t>(event.worker);
  if (lost_.at(worker)) return;  // its tasks went to others; a late answer changes nothing
  last_heard_[worker] = Clock::now();
  if (event.kind == Event::Kind::alive) return;
  if (event.kind == Event::Kind::result) {
    const TaskOutcome outcome = decode_outcome(event.result);
    policy_.finished(worker, outcome.task, outcome.seconds + outcome.setup_seconds);
    if (outcome.status == to_string(Status::crashed))
      print_line("kappa study: task " + std::to_string(outcome.task) + " (key " + outcome.key + ") crashed on rank " +
                 std::to_string(worker) + ": " + outcome.message);
    if (results_.add(outcome)) progress_.record(outcome.status);
    return;
  }
  // A request, handing back the tasks of its last chunk it did not run.
  std::vector<std::size_t> unrun;
  unrun.reserve(event.unrun.size());
  for (const std::int64_t task : event.unrun) {
    if (task < 0) throw Error("rank " + std::to_string(event.worker) + " handed back task " + std::to_string(task));
    unrun.push_back(static_cast<std::size_t>(task));
  }
  answer(worker, policy_.request(worker, unrun, event.stopping));
}

void Coordinator::begin_stopping() {
  const std::vector<std::size_t> running = policy_.stop();
  deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.term_grace));
  local_.abandon();
  for (const std::size_t rank : running)
    if (rank != 0) {
      const std::int64_t header = 0;
      world_->send(static_cast<int>(rank), kAbandon, &header, 1);
    }
  for (const auto& [worker, work] : policy_.wake()) answer(worker, work);  // a waiting local worker stops
}

// Saves the new results (StudyResults::checkpoint: appended to the journal, cheap, or a rewrite
// of the file while one takes at most a tenth of the interval), each begun early by its likely
// duration (the last save's, or the estimated append), so that it *ends* about flush_interval
// seconds after the previous one began: a result is on disk about flush_interval after it
// arrived at the latest, and a killed study loses at most that much work. `force`
// (the start, the end): the whole file is rewritten (consolidated) now.
void Coordinator::flush(bool force) {
  if (results_.size() == written_rows_ && !force) return;
  const Clock::time_point now = Clock::now();
  const double lead = std::max(write_seconds_, results_.estimated_append_seconds());  // this save's likely duration
  if (!force && seconds_between(last_write_, now) < std::max(0.0, options_.flush_interval - lead)) return;
  if (force) {
    results_.append_pending();  // durable in the journal while the file is rewritten
    results_.write(file_, csv_file_);
  } else {
    results_.checkpoint(file_, csv_file_);
  }
  written_rows_ = results_.size();
  last_write_ = now;
  write_seconds_ = seconds_between(now, Clock::now());
}

// A worker rank with tasks in flight that sent nothing (no result, no heartbeat) for
// worker_timeout seconds is lost: stopped (SIGSTOP), wedged, or dead under an MPI that keeps the
// job alive. Its unreported tasks go to the others.
void Coordinator::find_lost_workers(CoordinatorSummary& summary) {
  const Clock::time_point now = Clock::now();
  for (std::size_t worker = 1; worker < policy_.workers(); ++worker) {
    if (lost_[worker] || policy_.stopped(worker) || policy_.in_flight(worker) == 0) continue;
    if (seconds_between(last_heard_[worker], now) <= options_.worker_timeout) continue;
    lost_[worker] = true;
    const std::vector<std::size_t> tasks = policy_.lose(worker);
    std::string line = "rank " + std::to_string(worker) + " sent nothing for " + format_number(options_.worker_timeout) +
                       " s (--worker-timeout) with " + std::to_string(tasks.size()) + " unfinished task" +
                       (tasks.size() == 1 ? "" : "s") + ": lost; its tasks go to the other ranks";
    print_line("kappa study: " + line);
    summary.lost.push_back(line);
  }
}

CoordinatorSummary Coordinator::run() {
  CoordinatorSummary summary;
  flush(true);  // the file exists (and is valid) from the start
  while (!policy_.all_stopped()) {
    if (const std::optional<std::string> failure = local_.failure()) throw Error(*failure);
    find_lost_workers(summary);
    if (stop_signal() != 0 && !policy_.stopping()) begin_stopping();
    if (policy_.stopping() && (Clock::now() >= deadline_ || signal_count > 1)) {
      summary.abandoned = true;
      break;
    }
    bool busy = false;
    while (std::optional<Event> event = local_.poll()) {
      handle(*event);
      busy = true;
    }
    if (std::optional<Event> event = poll_remote()) {
      handle(*event);
      busy = true;
    }
    for (const auto& [worker, work] : policy_.wake()) answer(worker, work);  // tasks handed back, or none left
    flush(false);
    progress_.tick();
    if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  flush(true);
  progress_.finish();
  summary.ran = progress_.ran();
  summary.failed = progress_.failed();
  summary.diverged = progress_.diverged();
  summary.crashed = progress_.crashed();
  summary.signal = policy_.stopping() ? static_cast<int>(received_signal) : 0;
  summary.seconds = progress_.elapsed();
  return summary;
}

}  // namespace

void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  // A file size limit (ulimit -f, a batch system's file limit) would otherwise kill the process
  // with SIGXFSZ in the middle of a results write; ignored, the write fails with EFBIG and the
  // study ends with one error line, like on a full disk, its last complete file intact.
  std::signal(SIGXFSZ, SIG_IGN);
}

int stop_signal() { return static_cast<int>(received_signal); }

void begin_running() { preparing = 0; }

CoordinatorSummary run_coordinator(const StudyPlan& plan, StudyResults& results, const std::string& file,
                                   const std::string& csv_file, const SchedulerOptions& options,
                                   const boost::mpi::communicator* world, const std::string& host) {
  // On the heap: a detached worker (below) still uses its channel and runner, so they must
  // outlive this function. Destroying them under it was a hang, not only a leak: a results
  // write that failed (disk full) unwound through ~LocalChannel, whose condition variable the
  // parked worker was waiting on, and glibc's pthread_cond_destroy waits for its waiters.
  auto local = std::make_unique<LocalChannel>();
  auto runner = make_runner(plan, options, 0, host, nullptr);
  std::thread worker([&task_runner = *runner, &channel = *local, lockstep = options.lockstep] {
    try {
      worker_loop(task_runner, channel, lockstep.get());
    } catch (const std::exception& error) {
      channel.fail(error.what());  // the coordinator ends the study with it
    }
  });
  const auto let_go = [&] {
    // The worker may be inside a task or waiting for work: it cannot be joined, and the caller
    // ends the process; it keeps its channel and runner until then.
    worker.detach();
    static_cast<void>(local.release());
    static_cast<void>(runner.release());
  };
  CoordinatorSummary summary;
  try {
    summary = Coordinator(plan, results, file, csv_file, options, world, *local).run();
  } catch (...) {
    let_go();
    throw;
  }
  if (summary.abandoned) {
    let_go();  // still in a task; the caller ends the process
  } else {
    worker.join();
  }
  return summary;
}

void run_worker(const StudyPlan& plan, const SchedulerOptions& options, const boost::mpi::communicator& world,
                const std::string& host) {
  MpiWorkerLink link(world);
  const std::unique_ptr<RankRunner> runner = make_runner(plan, options, world.rank(), host, [&link] { link.heartbeat(); });
  worker_loop(*runner, link, options.lockstep.get());
}

int serve_study_tasks(const StudyPlan& plan, const SchedulerOptions& options, long long rank, const std::string& host,
                      ParentLink& link) {
  if (!link.send(MessageKind::ready, plan.grid_hash)) return 1;
  RunProgress& progress = link.progress();
  TaskRunner runner(plan, options.cache_bytes, rank, host, options.shared_job);
  while (const std::optional<std::vector<std::int64_t>> tasks = link.next_tasks()) {
    std::vector<std::size_t> unit;
    for (const std::int64_t task : *tasks) {
      if (task < 0 || static_cast<std::size_t>(task) >= plan.tasks.size()) return 1;
      unit.push_back(static_cast<std::size_t>(task));
    }
    progress.reset();
    if (TaskRunner::runs_alone(unit, options.lockstep.get())) {
      const TaskOutcome outcome = runner.run(unit.front(), &progress);
      progress.reset();
      if (!link.send(MessageKind::result, encode_outcome(outcome))) return 1;
      continue;
    }
    // A lockstep group: the parent enforces the group's time limit from the moment it runs.
    progress.running.store(true, std::memory_order_relaxed);
    const std::vector<TaskOutcome> outcomes = runner.run_group(unit, options.lockstep.get());
    progress.reset();
    for (const TaskOutcome& outcome : outcomes)
      if (!link.send(MessageKind::result, encode_outcome(outcome))) return 1;
  }
  return 0;
}

}  // namespace kappa::cli
