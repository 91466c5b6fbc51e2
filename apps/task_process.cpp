// Crash-isolated tasks: child processes and the messages between them (task_process.hpp).
#include "task_process.hpp"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>

#include <kappa/error.hpp>
#include <kappa/parse.hpp>

extern char** environ;

namespace kappa::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

constexpr std::size_t kHeaderBytes = 5;
constexpr int kChildSocket = 3;    // the socket's number in a spawned child
constexpr int kChildProgress = 4;  // the shared progress page's number in a spawned child

// The shared page, constructed by the parent (the child only maps it). The atomics are
// lock-free, so they work across processes.
static_assert(std::atomic<long>::is_always_lock_free && std::atomic<double>::is_always_lock_free &&
              std::atomic<bool>::is_always_lock_free);

RunProgress* map_progress(int fd) {
  void* page = ::mmap(nullptr, sizeof(RunProgress), PROT_READ | PROT_WRITE, MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
  if (page == MAP_FAILED) throw Error(std::string("cannot map the progress page of a task process: ") + std::strerror(errno));
  return static_cast<RunProgress*>(page);
}

std::string frame(MessageKind kind, const std::string& payload) {
  std::string bytes(kHeaderBytes, '\0');
  bytes[0] = static_cast<char>(kind);
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) bytes[1 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes + payload;
}

// Takes one whole message off the front of `buffer`, if there is one.
bool take_message(std::string& buffer, Message& message) {
  if (buffer.size() < kHeaderBytes) return false;
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= static_cast<std::uint32_t>(static_cast<unsigned char>(buffer[1 + i])) << (8 * i);
  if (buffer.size() < kHeaderBytes + length) return false;
  message.kind = static_cast<MessageKind>(buffer[0]);
  message.payload = buffer.substr(kHeaderBytes, length);
  buffer.erase(0, kHeaderBytes + length);
  return true;
}

bool send_all(int socket, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(socket, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads what is there (after poll said so) into `buffer`; false at end of stream or error.
bool read_some(int socket, std::string& buffer) {
  char block[65536];
  while (true) {
    const ssize_t n = ::read(socket, block, sizeof block);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(block, static_cast<std::size_t>(n));
    return true;
  }
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* name = sigabbrev_np(signal);
    std::string text = "was killed by signal " + std::to_string(signal) + (name ? std::string(" (SIG") + name + ")" : std::string());
    if (signal == SIGKILL) text += ", e.g. by the kernel when memory ran out";
    return text;
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

void put_bytes(std::string& out, const void* value, std::size_t size) { out.append(static_cast<const char*>(value), size); }

}  // namespace

// --- child side -------------------------------------------------------------------------------

ParentLink::ParentLink(int socket, RunProgress& progress) : socket_(socket), progress_(progress) {}

ParentLink::~ParentLink() {
  {
    const std::lock_guard<std::mutex> lock(stop_mutex_);
    stop_ = true;
  }
  if (heartbeat_.joinable()) heartbeat_.join();
}

bool ParentLink::send(MessageKind kind, const std::string& payload) {
  const std::lock_guard<std::mutex> lock(send_mutex_);
  return send_all(socket_, frame(kind, payload));
}

std::optional<std::int64_t> ParentLink::next_task() {
  const std::optional<std::vector<std::int64_t>> tasks = next_tasks();
  if (!tasks || tasks->size() != 1) return std::nullopt;
  return tasks->front();
}

std::optional<std::vector<std::int64_t>> ParentLink::next_tasks() {
  Message message;
  while (!take_message(buffer_, message))
    if (!read_some(socket_, buffer_)) return std::nullopt;
  if (message.kind != MessageKind::task || message.payload.empty() || message.payload.size() % sizeof(std::int64_t) != 0)
    return std::nullopt;
  std::vector<std::int64_t> tasks(message.payload.size() / sizeof(std::int64_t));
  std::memcpy(tasks.data(), message.payload.data(), message.payload.size());
  return tasks;
}

void ParentLink::start_heartbeat() {
  heartbeat_ = std::thread([this] {
    while (true) {
      {
        const std::lock_guard<std::mutex> lock(stop_mutex_);
        if (stop_) return;
      }
      if (!send(MessageKind::alive, "")) return;
      std::this_thread::sleep_for(std::chrono::duration<double>(kHeartbeatSeconds));
    }
  });
}

RunProgress& spawned_child_progress() {
  struct stat info {};
  if (::fstat(kChildProgress, &info) != 0 || static_cast<std::size_t>(info.st_size) < sizeof(RunProgress))
    throw Error("no progress page on fd 4: a task process is started by kappa study, not by hand");
  return *map_progress(kChildProgress);
}

void become_task_process(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) std::_Exit(1);  // the parent died before the request took effect
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
}

// --- parent side ------------------------------------------------------------------------------

std::vector<std::string> task_process_environment(char* const* current) {
  static const std::string variable = "GLIBC_TUNABLES=";
  static const std::string tunable = "glibc.malloc.hugetlb";
  std::vector<std::string> environment;
  bool found = false;
  for (char* const* entry = current; entry && *entry; ++entry) {
    std::string text = *entry;
    if (text.compare(0, variable.size(), variable) == 0) {
      found = true;
      // The user's own choice of the tunable stands: the value is name=value items joined by ':'.
      const std::string items = ":" + text.substr(variable.size());
      if (items.find(":" + tunable + "=") == std::string::npos) text += (items.size() == 1 ? "" : ":") + tunable + "=1";
    }
    environment.push_back(std::move(text));
  }
  if (!found) environment.push_back(variable + tunable + "=1");
  return environment;
}

std::unique_ptr<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv) {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
    throw Error(std::string("cannot create a socket for a task process: ") + std::strerror(errno));
  const int page = ::memfd_create("kappa-task-progress", MFD_CLOEXEC);
  if (page < 0 || ::ftruncate(page, sizeof(RunProgress)) != 0) {
    const int error = errno;
    ::close(sockets[0]);
    ::close(sockets[1]);
    if (page >= 0) ::close(page);
    throw Error(std::string("cannot create the progress page of a task process: ") + std::strerror(error));
  }
  RunProgress* progress = new (map_progress(page)) RunProgress();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto fds 3 and 4 clears close-on-exec there; every other descriptor of ours stays closed.
  posix_spawn_file_actions_adddup2(&actions, sockets[1], kChildSocket);
  posix_spawn_file_actions_adddup2(&actions, page, kChildProgress);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const std::vector<std::string> environment = task_process_environment(environ);
  std::vector<char*> envp;
  for (const std::string& entry : environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const int error = ::posix_spawn(&pid, argv.at(0).c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(sockets[1]);
  ::close(page);  // the mapping stays
  if (error != 0) {
    ::close(sockets[0]);
    ::munmap(progress, sizeof(RunProgress));
    throw Error("cannot start a task process '" + argv.at(0) + "': " + std::strerror(error));
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, sockets[0], progress));
}

std::unique_ptr<ChildProcess> ChildProcess::fork(const std::function<int(ParentLink&)>& body) {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
    throw Error(std::string("cannot create a socket for a task process: ") + std::strerror(errno));
  RunProgress* progress = new (map_progress(-1)) RunProgress();
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // no buffered output written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(sockets[0]);
    ::close(sockets[1]);
    ::munmap(progress, sizeof(RunProgress));
    throw Error(std::string("cannot start a task process (fork): ") + std::strerror(error));
  }
  if (pid == 0) {
    ::close(sockets[0]);
    become_task_process(parent);
    int code = 1;
    {
      ParentLink link(sockets[1], *progress);
      try {
        code = body(link);
      } catch (...) {
        code = 1;
      }
    }
    std::fflush(nullptr);
    std::_Exit(code);
  }
  ::close(sockets[1]);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, sockets[0], progress));
}

ChildProcess::~ChildProcess() {
  ::close(socket_);
  socket_ = -1;
  static_cast<void>(end());
  ::munmap(progress_, sizeof(RunProgress));
}

bool ChildProcess::send_tasks(const std::vector<std::int64_t>& tasks) {
  std::string payload;
  for (const std::int64_t task : tasks) put_bytes(payload, &task, sizeof task);
  return send_all(socket_, frame(MessageKind::task, payload));
}

ChildProcess::Got ChildProcess::receive(double timeout, Message& message) {
  const Clock::time_point start = Clock::now();
  while (!take_message(buffer_, message)) {
    const double left = timeout - seconds_since(start);
    if (left <= 0) return Got::timeout;
    pollfd ready{socket_, POLLIN, 0};
    const int n = ::poll(&ready, 1, static_cast<int>(std::min(left * 1000 + 1, double(INT_MAX))));
    if (n < 0 && errno != EINTR) return Got::closed;
    if (n > 0 && !read_some(socket_, buffer_)) return Got::closed;
  }
  return Got::message;
}

std::string ChildProcess::end() {
  if (!reaped_) {
    int status = 0;
    pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == 0) {
      ::kill(pid_, SIGKILL);
      do got = ::waitpid(pid_, &status, 0);
      while (got < 0 && errno == EINTR);
    }
    reaped_ = true;
    wait_status_ = got == pid_ ? status : 0;
  }
  return describe_wait_status(wait_status_);
}

double time_limit_grace(double time_limit) { return std::min(60.0, std::max(5.0, time_limit / 10)); }

TaskAnswer run_in_child(ChildProcess& child, std::int64_t task, const TaskLimits& limits, const std::function<void()>& tick) {
  if (!child.send_task(task)) {
    TaskAnswer answer;
    answer.death = "ended before the task was sent: it " + child.end();
    return answer;
  }
  return await_message(child, MessageKind::result, limits, tick);
}

TaskAnswer await_message(ChildProcess& child, MessageKind wanted, const TaskLimits& limits, const std::function<void()>& tick) {
  TaskAnswer answer;
  const Clock::time_point start = Clock::now();
  Clock::time_point last_heard = start;
  std::optional<Clock::time_point> running_since;  // when the shared progress first said the run began
  const auto finish = [&](const std::string& death) {
    answer.seconds = seconds_since(start);
    answer.death = death;
    return answer;
  };
  while (true) {
    Message message;
    const ChildProcess::Got got = child.receive(kHeartbeatSeconds, message);
    if (tick) tick();
    if (got == ChildProcess::Got::closed) {
      answer.last = child.progress().snapshot();
      return finish(child.end());
    }
    if (got == ChildProcess::Got::message) {
      last_heard = Clock::now();
      if (message.kind == wanted) {
        answer.answered = true;
        answer.result = std::move(message.payload);
        answer.seconds = seconds_since(start);
        return answer;
      }
    }
    answer.last = child.progress().snapshot();
    if (answer.last.running && !running_since) running_since = Clock::now();
    if (limits.time_limit > 0 && running_since &&
        seconds_since(*running_since) > limits.time_limit + time_limit_grace(limits.time_limit)) {
      child.end();
      return finish("was killed: still running " + format_number(time_limit_grace(limits.time_limit)) + " s after its time_limit of " +
                    format_number(limits.time_limit) + " s (the optimizer stopped reporting)");
    }
    if (seconds_since(last_heard) > limits.silence) {
      child.end();
      return finish("was killed: no sign of life for " + format_number(limits.silence) + " s (--worker-timeout; stopped or wedged)");
    }
  }
}

std::string self_executable() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) throw Error(std::string("cannot find the kappa executable (/proc/self/exe): ") + std::strerror(errno));
  return std::string(path, static_cast<std::size_t>(n));
}

}  // namespace kappa::cli
