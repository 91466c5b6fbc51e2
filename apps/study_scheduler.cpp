#include "study_scheduler.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/mpi/status.hpp>

#include <kappa/error.hpp>
#include "study/runner.hpp"
#include "study/schedule.hpp"

#include "study_progress.hpp"

namespace kappa::cli {
namespace {

// The one piece of process-wide state a signal handler may touch (async-signal-safe).
volatile std::sig_atomic_t received_signal = 0;
volatile std::sig_atomic_t signal_count = 0;

extern "C" void on_stop_signal(int signal) {
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
enum Tag : int { kRequest = 1, kResult = 2, kWork = 3, kAbandon = 4 };

struct Event {
  enum class Kind { request, result } kind = Kind::request;
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

  // Coordinator side.
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
  void send_result(const std::string& bytes) { world_.send(0, kResult, bytes.data(), static_cast<int>(bytes.size())); }
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
};

// Requests chunks and runs them until told to stop. After a stop signal (or an abandon
// message) the current task is finished, the rest of the chunk is handed back, and the
// request says that this worker stops.
template <class Link>
void worker_loop(TaskRunner& runner, Link& link) {
  TaskList unrun;
  bool stopping = false;
  while (true) {
    const TaskList tasks = link.request(unrun, stopping);
    unrun.clear();
    if (tasks.empty()) return;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      if (stop_signal() != 0 || link.abandoned()) {
        stopping = true;
        unrun.assign(tasks.begin() + static_cast<std::ptrdiff_t>(i), tasks.end());
        break;
      }
      link.send_result(encode_outcome(runner.run(static_cast<std::size_t>(tasks[i]))));
    }
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
        progress_(std::cerr, ::isatty(STDERR_FILENO) == 1, options.progress_interval, plan.tasks.size(), results.size()) {
    for (std::size_t task = 0; task < plan.tasks.size(); ++task)
      if (!results.contains(task)) policy_.add(task, plan.tasks.problem(task));
  }

  CoordinatorSummary run();

 private:
  std::optional<Event> poll_remote();
  void handle(Event& event);
  void answer(std::size_t worker, const WorkAnswer& answer);
  void send(int worker, const TaskList& tasks);
  void begin_stopping();
  void flush(bool force);

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
  if (event.kind == Event::Kind::result) {
    const TaskOutcome outcome = decode_outcome(event.result);
    policy_.finished(worker, outcome.task, outcome.seconds + outcome.setup_seconds);
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

// Rewrites the results at most every flush_interval seconds, and never spends more than about
// a tenth of the time writing (large studies take longer to write).
void Coordinator::flush(bool force) {
  if (results_.size() == written_rows_ && !force) return;
  const Clock::time_point now = Clock::now();
  if (!force && seconds_between(last_write_, now) < std::max(options_.flush_interval, 10 * write_seconds_)) return;
  results_.write(file_, csv_file_);
  written_rows_ = results_.size();
  last_write_ = Clock::now();
  write_seconds_ = seconds_between(now, last_write_);
}

CoordinatorSummary Coordinator::run() {
  CoordinatorSummary summary;
  flush(true);  // the file exists (and is valid) from the start
  while (!policy_.all_stopped()) {
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

CoordinatorSummary run_coordinator(const StudyPlan& plan, StudyResults& results, const std::string& file,
                                   const std::string& csv_file, const SchedulerOptions& options,
                                   const boost::mpi::communicator* world, const std::string& host) {
  // On the heap: a detached worker (below) still uses its channel and runner, so they must
  // outlive this function. Destroying them under it was a hang, not only a leak: a results
  // write that failed (disk full) unwound through ~LocalChannel, whose condition variable the
  // parked worker was waiting on, and glibc's pthread_cond_destroy waits for its waiters.
  auto local = std::make_unique<LocalChannel>();
  auto runner = std::make_unique<TaskRunner>(plan, options.cache_bytes, 0, host);
  std::thread worker([&task_runner = *runner, &channel = *local] { worker_loop(task_runner, channel); });
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
  TaskRunner runner(plan, options.cache_bytes, world.rank(), host);
  MpiWorkerLink link(world);
  worker_loop(runner, link);
}

}  // namespace kappa::cli
