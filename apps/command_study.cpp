// kappa study: run a grid of tasks (INI file) serially or over MPI ranks, into one results file.
// docs/study.md describes the grid syntax, the execution model and the results layout.
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <kappa/parse.hpp>
#include "study/fingerprint.hpp"
#include "study/grid.hpp"
#include "study/results.hpp"

#include "cli.hpp"
#include "launch_check.hpp"
#include "run_manifest.hpp"
#include "study_scheduler.hpp"

// OpenBLAS's thread control, if OpenBLAS is the BLAS that was loaded (weak: absent otherwise).
extern "C" int openblas_get_num_threads(void) __attribute__((weak));
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace kappa::cli {
namespace {

constexpr const char* usage = R"(usage: kappa study GRID.ini [--output FILE.h5] [--resume | --force] [--dry-run] [options]
       mpirun -np N kappa study GRID.ini ...      (or srun; N ranks share the tasks)

Runs every task of a grid file: each combination of the values of its keys (axes), each with
`repeats` run seeds. Rank 0 hands out tasks on demand and writes one HDF5 results file (one row
per task, with traces) and a CSV summary beside it; both are complete files at every moment.
A task that fails, diverges or hits its time limit is recorded and the study goes on. After
SIGTERM/SIGINT the results so far are written and the study exits with 128 + signal; run it
again with --resume to finish it. Grid syntax, keys and file layout: docs/study.md. Example:
  kappa study grid.ini --dry-run && mpirun -np 4 kappa study grid.ini -o results.h5 --resume)";

// The usage text with the grid's settings, from the one table that defines them.
std::string usage_text() {
  std::string text = usage;
  text += "\n\ngrid keys: optimizer, data | synthetic, synthetic.KEY, seed, repeats, zip, optimizer parameters\n"
          "(KEY or OPTIMIZER.KEY), and these settings (default in brackets):\n";
  for (const StudySetting& setting : study_settings()) {
    // A real default in %g form where that is exact (1e10 reads 1e+10, not 10000000000).
    std::string shown = setting.default_value;
    if (setting.type == ParamType::real) {
      const double value = std::strtod(shown.c_str(), nullptr);
      if (std::strtod(format_number(value).c_str(), nullptr) == value) shown = format_number(value);
    }
    text += format_entry("  " + setting.name + " [" + shown + "]", setting.help, 40);
  }
  return text;
}

struct StudyOptions {
  std::string grid;
  std::string output;
  bool resume = false;
  bool force = false;
  bool dry_run = false;
  long long show = 10;   // range-checked (>= 0) before use: a size_t option would take -1 as 2^64 - 1
  long long chunk = 0;
  double cache_megabytes = 2048;
  std::string isolation = "process";
  std::string progress = "auto";
  std::string share_data = "on";
  std::string lockstep = "auto";
  long long lockstep_size = 16;
  bool retry_failed = false;
  bool rerun_changed = false;
  SchedulerOptions scheduler;
  PluginOptions plugins;
};

po::options_description describe(StudyOptions& o) {
  po::options_description options("study options");
  options.add_options()
    ("grid", po::value(&o.grid)->value_name("GRID.ini"), "the grid file (also the first positional argument)")
    ("output,o", po::value(&o.output)->value_name("FILE.h5"),
     "results file (.h5); the CSV summary goes beside it as .csv (default: the grid's name with .h5, in the current directory)")
    ("resume", po::bool_switch(&o.resume), "skip the tasks already in the results file (which must come from the same grid)")
    ("force", po::bool_switch(&o.force), "overwrite an existing results file")
    ("dry-run", po::bool_switch(&o.dry_run), "validate the grid, print the number of tasks, the axes and the first tasks; run nothing")
    ("show", po::value(&o.show)->default_value(o.show)->value_name("N"), "tasks listed by --dry-run")
    ("chunk", po::value(&o.chunk)->default_value(o.chunk)->value_name("N"),
     "tasks handed out per request (0: adaptive, about one second of work)")
    ("cache-memory", po::value(&o.cache_megabytes)->default_value(o.cache_megabytes)->value_name("MB"),
     "memory bound per rank of the cache of built problems (data, preconditioner, direct solution)")
    ("flush-interval", po::value(&o.scheduler.flush_interval)->default_value(o.scheduler.flush_interval)->value_name("SECONDS"),
     "save the new results (appended to RESULTS.h5.journal) this often: a killed job loses at most this much work")
    ("progress-interval", po::value(&o.scheduler.progress_interval)->default_value(o.scheduler.progress_interval)->value_name("SECONDS"),
     "seconds between progress lines when stderr is not a terminal (Slurm logs)")
    ("progress", po::value(&o.progress)->default_value(o.progress)->value_name("MODE"),
     "auto: one line redrawn when stderr (or, under mpirun, mpirun's stderr) is a terminal, else lines | tty: redrawn | "
     "lines: a line after 2 s, then every --progress-interval | none")
    ("term-grace", po::value(&o.scheduler.term_grace)->default_value(o.scheduler.term_grace)->value_name("SECONDS"),
     "after SIGTERM/SIGINT, wait this long for running tasks before writing the results and exiting")
    ("worker-timeout", po::value(&o.scheduler.worker_timeout)->default_value(o.scheduler.worker_timeout)->value_name("SECONDS"),
     "a rank (or task process) running a task that sends nothing for this long is lost: its tasks go to other ranks "
     "(exit status 4)")
    ("isolation", po::value(&o.isolation)->default_value(o.isolation)->value_name("MODE"),
     "process: every rank runs its tasks in a task process, so a crashing plugin costs one row (status crashed) | "
     "none: in the rank itself (for debuggers; a crash ends the study)")
    ("share-data", po::value(&o.share_data)->default_value(o.share_data)->value_name("on|off"),
     "on: the processes of a node share one read-only copy of each problem's training data (in /dev/shm) | "
     "off: each process that builds problems loads its own copy (identical results)")
    ("lockstep", po::value(&o.lockstep)->default_value(o.lockstep)->value_name("auto|off"),
     "auto: tasks of one problem whose optimizers run the framework's first-order loop (with the same batches) run as "
     "lockstep groups that share each pass over the data (same rows to rounding; docs/study.md) | off: one at a time")
    ("lockstep-size", po::value(&o.lockstep_size)->default_value(o.lockstep_size)->value_name("K"),
     "most tasks in a lockstep group (memory: K x dim weights and K x block residuals)")
    ("retry-failed", po::bool_switch(&o.retry_failed), "with --resume: run the tasks recorded as failed or crashed again")
    ("rerun-changed", po::bool_switch(&o.rerun_changed),
     "with --resume: run again the tasks whose data file or plugin library changed since the results were written "
     "(without it such a results file is refused)");
  add_plugin_options(options, o.plugins);
  return options;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_options(StudyOptions& o) {
  if (o.grid.empty()) throw UsageError("give the grid file, e.g. kappa study grid.ini (see --help)");
  if (o.resume && o.force) throw UsageError("--resume and --force exclude each other");
  const auto positive = [](double value, const std::string& name, bool zero_allowed) {
    if (!std::isfinite(value) || value < 0 || (!zero_allowed && value == 0))
      throw UsageError(name + " " + format_number(value) + ": expected a number " + (zero_allowed ? ">= 0" : "> 0"));
  };
  // Durations become steady_clock durations (int64 nanoseconds, +-292 years): beyond 1e9 s they
  // would overflow, so they are refused rather than wrapped.
  const auto seconds = [&](double value, const std::string& name, bool zero_allowed) {
    positive(value, name, zero_allowed);
    if (value > 1e9) throw UsageError(name + " " + format_number(value) + ": expected at most 1e9 seconds");
  };
  const auto count = [](long long value, const std::string& name) {
    if (value < 0) throw UsageError(name + " " + std::to_string(value) + ": expected an integer >= 0");
    return static_cast<std::size_t>(value);
  };
  positive(o.cache_megabytes, "--cache-memory", false);
  if (o.cache_megabytes > 1e12) throw UsageError("--cache-memory " + format_number(o.cache_megabytes) + ": expected at most 1e12 MB");
  seconds(o.scheduler.flush_interval, "--flush-interval", true);
  seconds(o.scheduler.progress_interval, "--progress-interval", false);
  seconds(o.scheduler.term_grace, "--term-grace", true);
  seconds(o.scheduler.worker_timeout, "--worker-timeout", false);
  if (o.isolation != "process" && o.isolation != "none")
    throw UsageError("--isolation '" + o.isolation + "': expected process or none");
  o.scheduler.isolated = o.isolation == "process";
  o.scheduler.progress = parse_progress_mode(o.progress);
  if (o.lockstep != "auto" && o.lockstep != "off") throw UsageError("--lockstep '" + o.lockstep + "': expected auto or off");
  if (o.lockstep_size < 1 || o.lockstep_size > 4096)
    throw UsageError("--lockstep-size " + std::to_string(o.lockstep_size) + ": expected an integer from 1 to 4096");
  if (o.share_data != "on" && o.share_data != "off")
    throw UsageError("--share-data '" + o.share_data + "': expected on or off");
  if (o.retry_failed && !o.resume) throw UsageError("--retry-failed needs --resume (it reruns the failed rows of a results file)");
  if (o.rerun_changed && !o.resume) throw UsageError("--rerun-changed needs --resume (it reruns the changed rows of a results file)");
  count(o.show, "--show");
  o.scheduler.chunk = count(o.chunk, "--chunk");
  o.scheduler.cache_bytes = static_cast<std::size_t>(o.cache_megabytes * 1024 * 1024);
  if (o.output.empty()) o.output = std::filesystem::path(o.grid).stem().string() + ".h5";
  if (!ends_with(o.output, ".h5") && !ends_with(o.output, ".hdf5"))
    throw UsageError("--output '" + o.output + "': the results file name must end in .h5 (the CSV summary is written beside it)");
}

std::string csv_name(const std::string& output) {
  return output.substr(0, output.rfind('.')) + ".csv";
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

// An exclusive flock(2) on RESULTS.lock for the life of a study, the file holding "host H, pid P":
// a second study on the same results file refuses at once, naming the holder, instead of both
// rewriting it. The kernel drops the lock when the process ends, however it ends, so a lock file
// left by a killed study does not block the next one; a normal end removes it.
class ResultsLock {
 public:
  ResultsLock() = default;
  ResultsLock(const ResultsLock&) = delete;
  ResultsLock& operator=(const ResultsLock&) = delete;
  ~ResultsLock() {
    if (fd_ < 0) return;
    ::unlink(path_.c_str());
    ::close(fd_);
  }

  void acquire(const std::string& results, const std::string& host) {
    path_ = results + ".lock";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw InputError("lock file '" + path_ + "' cannot be created: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char holder[256] = {};
      const ssize_t got = ::pread(fd_, holder, sizeof holder - 1, 0);
      ::close(fd_);
      fd_ = -1;
      throw InputError("results file '" + results + "' is in use by another study (" +
                       (got > 0 ? std::string(holder, static_cast<std::size_t>(got)) : std::string("holder unknown")) +
                       "; lock file '" + path_ + "')");
    }
    const std::string holder = "host " + host + ", pid " + std::to_string(::getpid());
    // Written over the old text, then cut to length: a second study reading it meanwhile sees a
    // holder's text, never an empty file.
    if (::pwrite(fd_, holder.data(), holder.size(), 0) != static_cast<ssize_t>(holder.size()) ||
        ::ftruncate(fd_, static_cast<off_t>(holder.size())) != 0)
      throw InputError("lock file '" + path_ + "' cannot be written: " + std::strerror(errno));
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// Everything every rank builds identically from the command line and the grid file.
struct Prepared {
  StudyOptions options;
  std::unique_ptr<PluginRegistry> registry = std::make_unique<PluginRegistry>();
  StudyPlan plan;
};

void prepare(int argc, char** argv, Prepared& prepared, bool warn) {
  StudyOptions& o = prepared.options;
  po::positional_options_description positional;
  positional.add("grid", 1);
  parse_command_line(argc, argv, usage_text(), describe(o), &positional);
  check_options(o);
  o.scheduler.arguments.assign(argv + 1, argv + argc);  // for the task processes
  const GridFile grid = read_grid_file(o.grid);
  load_plugins(o.plugins, *prepared.registry, warn);
  prepared.plan = plan_study(grid, *prepared.registry);
}

// The plan's lockstep groups (--lockstep auto), the same on every rank and task process.
void plan_lockstep(Prepared& prepared) {
  const StudyOptions& o = prepared.options;
  if (o.lockstep == "auto" && o.lockstep_size > 1)
    prepared.options.scheduler.lockstep = std::make_shared<const LockstepGroups>(prepared.plan, static_cast<std::size_t>(o.lockstep_size));
}

// Data files that do not exist: their tasks will fail (with that message); the others run.
std::map<std::string, std::size_t> missing_files(const StudyPlan& plan) {
  std::map<std::string, std::size_t> missing;
  std::vector<std::size_t> tasks_of_problem(plan.problems.size(), 0);
  for (std::size_t task = 0; task < plan.tasks.size(); ++task) ++tasks_of_problem[plan.tasks.problem(task)];
  for (std::size_t p = 0; p < plan.problems.size(); ++p) {
    const ProblemSpec& problem = plan.problems[p];
    std::error_code error;
    if (!problem.data_file.empty() && !std::filesystem::exists(problem.data_file, error)) missing[problem.data_file] += tasks_of_problem[p];
  }
  return missing;
}

void warn_missing(const StudyPlan& plan) {
  for (const auto& [file, tasks] : missing_files(plan))
    print_line("kappa study: warning: data file '" + file + "' does not exist: its " + std::to_string(tasks) + " task" +
               (tasks == 1 ? "" : "s") + " will fail");
}

void print_dry_run(const StudyPlan& plan, const LockstepGroups* lockstep, std::size_t show) {
  std::cout << "grid " << plan.grid_name << ": " << plan.tasks.size() << " task" << (plan.tasks.size() == 1 ? "" : "s") << " on "
            << plan.problems.size() << " problem" << (plan.problems.size() == 1 ? "" : "s") << ", " << plan.optimizers.size()
            << " optimizer setting" << (plan.optimizers.size() == 1 ? "" : "s") << ", repeats " << plan.repeats;
  if (plan.duplicates > 0)
    std::cout << " (the full product of the axes has " << plan.duplicates << " more point"
              << (plan.duplicates == 1 ? "" : "s") << ", which differ only in keys that do not apply to their"
              << " optimizer or loss, e.g. momentum for gd; each such task is planned once)";
  std::cout << "\naxes:" << (plan.axes.empty() ? " none (a single cell)" : "") << '\n';
  for (const StudyAxis& axis : plan.axes) {
    std::cout << "  " << axis.name << " (" << axis.values.size() << "): " << join(axis.values, " ");
    if (!axis.zip.empty()) std::cout << "   [zip " << axis.zip << "]";
    std::cout << '\n';
  }
  if (lockstep != nullptr && lockstep->groups() > 0) {
    std::cout << "lockstep: " << lockstep->groups() << " group" << (lockstep->groups() == 1 ? "" : "s") << " of "
              << lockstep->grouped_tasks() << " tasks (at most " << lockstep->largest() << " per group) share their passes over "
              << "the data; " << plan.tasks.size() - lockstep->grouped_tasks() << " run alone\n";
  } else {
    std::cout << "lockstep: every task runs alone" << (lockstep == nullptr ? " (--lockstep off)" : "") << '\n';
  }
  const std::size_t count = std::min(show, plan.tasks.size());
  std::cout << "first " << count << " task" << (count == 1 ? "" : "s") << ":\n";
  for (std::size_t i = 0; i < count; ++i) {
    const StudyTask task = plan.tasks[i];
    std::cout << "  " << task.index << "  " << task.key << "  " << plan.optimizers[task.optimizer].name << "  "
              << plan.problems[task.problem].data;
    for (const StudyAxis& axis : plan.axes) {
      if (axis.name == "optimizer" || axis.name == "data" || axis.name == "synthetic") continue;
      for (std::size_t c = 0; c < plan.columns.size(); ++c) {
        const std::string value = cell_text(task.cells[c]);
        // A keyword (lr=auto) is NaN in the numeric column and shown from NAME_spec beside it.
        const bool keyword = c > 0 && plan.columns[c].name == axis.name + kSpecSuffix && cell_text(task.cells[c - 1]) == "nan";
        if ((plan.columns[c].name == axis.name || keyword) && !value.empty() && value != "nan")
          std::cout << "  " << axis.name << "=" << value;
      }
    }
    if (plan.repeats > 1) std::cout << "  repeat=" << task.repeat << " seed=" << task.controls.seed;
    if (lockstep != nullptr && lockstep->grouped(i)) std::cout << "  group=" << lockstep->leader(i);
    std::cout << '\n';
  }
}

// BLAS threads x ranks never exceed the cores of a node: a rank gets at most
// cores / (ranks on this node) threads, and no more than the cores it is bound to. (kappa asks
// for one thread anyway unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is set: see
// conventions.md; oversubscribed BLAS threads spin against each other, measured 5x slower.)
int limit_blas_threads(const boost::mpi::communicator* world) {
  if (!openblas_get_num_threads || !openblas_set_num_threads) return 0;
  const int threads = openblas_get_num_threads();
  if (threads <= 1) return threads;
  MPI_Comm node = MPI_COMM_NULL;
  int ranks_on_node = 1;
  if (world && MPI_Comm_split_type(MPI_Comm(*world), MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_size(node, &ranks_on_node);
    MPI_Comm_free(&node);
  }
  const long cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  const long bound = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : cores;
  const long allowed = std::max(1L, std::min(cores / ranks_on_node, bound));
  if (threads > allowed) {
    openblas_set_num_threads(static_cast<int>(allowed));
    if (!world || world->rank() == 0)
      print_line("kappa study: note: " + std::to_string(ranks_on_node) + " rank(s) x " + std::to_string(threads) +
                 " BLAS threads exceed the " + std::to_string(cores) + " cores of this node (or the " + std::to_string(bound) +
                 " this rank may use): using " + std::to_string(allowed) + " BLAS thread(s) per rank");
    return static_cast<int>(allowed);
  }
  return threads;
}

// The job's shared data segments on this node (--share-data on; shared_segment.hpp). The node's
// first rank is the leader: its PID and start time name the job's segments, it removes the
// segments of jobs that no longer run when it starts, and its own when it ends (also on
// end_job). The task processes learn the job from kDataJobVariable.
constexpr const char* kDataJobVariable = "KAPPA_DATA_JOB";
std::optional<SegmentJob> led_job;  // set on the node leader while the job runs

class NodeSegments {
 public:
  explicit NodeSegments(const boost::mpi::communicator* world) {
    long leader = ::getpid();
    bool leading = true;
    if (world) {
      MPI_Comm node = MPI_COMM_NULL;
      if (MPI_Comm_split_type(MPI_Comm(*world), MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        throw Error("cannot find the ranks of this node (MPI_Comm_split_type); use --share-data off");
      int local_rank = 0;
      MPI_Comm_rank(node, &local_rank);
      MPI_Bcast(&leader, 1, MPI_LONG, 0, node);
      MPI_Comm_free(&node);
      leading = local_rank == 0;
    }
    job_ = SegmentJob::of_process(leader);
    if (leading) {
      remove_stale_segments();
      led_job = job_;
    }
    ::setenv(kDataJobVariable, job_.tag().c_str(), 1);  // for the task processes this rank starts
  }
  ~NodeSegments() {
    if (led_job) remove_job_segments(*led_job);
    led_job.reset();
  }
  NodeSegments(const NodeSegments&) = delete;
  NodeSegments& operator=(const NodeSegments&) = delete;
  const SegmentJob& job() const { return job_; }

 private:
  SegmentJob job_;
};

// Ends the process now: for a rank whose worker thread is still inside a task (it cannot be
// joined) or when other ranks must be stopped. MPI_Abort ends every rank of the job.
[[noreturn]] void end_job(const boost::mpi::communicator* world, int code) {
  if (led_job) remove_job_segments(*led_job);
  std::cout.flush();
  std::cerr.flush();
  if (world && world->size() > 1) world->abort(code);
  std::_Exit(code);
}

std::string signal_name(int signal) { return signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal " + std::to_string(signal); }

// Runs an action on every rank and agrees on the outcome: the highest exit code wins, and rank 0
// prints the first error (its own, or another rank's with its number).
template <class Action>
int agree(const boost::mpi::communicator* world, Action action) {
  int code = 0;
  std::string message;
  try {
    action();
  } catch (const UsageError& error) {
    code = 2;
    message = error.what();
  } catch (const std::bad_alloc&) {
    code = 1;
    message = "out of memory";
  } catch (const std::exception& error) {
    code = 1;
    message = error.what();
  }
  int agreed = code;
  if (world) boost::mpi::all_reduce(*world, code, agreed, boost::mpi::maximum<int>());
  if (agreed == 0) return 0;
  std::vector<std::string> messages{message};
  if (world) boost::mpi::gather(*world, message, messages, 0);
  if (!world || world->rank() == 0) {
    for (std::size_t rank = 0; rank < messages.size(); ++rank)
      if (!messages[rank].empty()) {
        print_line("kappa study: " + (rank == 0 ? std::string() : "rank " + std::to_string(rank) + ": ") + messages[rank]);
        break;
      }
  }
  return agreed;
}

int coordinate(const StudyPlan& plan, StudyResults& results, const StudyOptions& o, const boost::mpi::communicator* world,
               const std::string& host);

// `world` is null when no MPI launcher started this process: one rank, MPI not initialized.
int run_ranks(int argc, char** argv, const boost::mpi::communicator* world) {
  const std::string started = utc_time_text();  // the session's start, for the manifest
  const int rank = world ? world->rank() : 0;
  // Before any work: several tasks of one Slurm step in separate one-rank worlds would each run the study.
  if (const int code = agree(world, [&] { check_launch(world ? world->size() : 1); })) return code;
  Prepared prepared;
  if (const int code = agree(world, [&] { prepare(argc, argv, prepared, rank == 0); })) return code;
  const StudyOptions& o = prepared.options;
  const StudyPlan& plan = prepared.plan;

  // Every rank must have expanded the same grid (same plugins, same files).
  std::vector<std::string> hashes{plan.grid_hash};
  if (world) boost::mpi::gather(*world, plan.grid_hash, hashes, 0);
  std::vector<std::string> hosts{host_name()};  // for the manifest: the host of each rank
  if (world) boost::mpi::gather(*world, host_name(), hosts, 0);
  if (const int code = agree(world, [&] {
        for (std::size_t rank = 1; rank < hashes.size(); ++rank)
          if (hashes[rank] != hashes[0])
            throw InputError("rank " + std::to_string(rank) + " expanded another grid than rank 0 (different plugins or grid file?)");
      }))
    return code;

  plan_lockstep(prepared);

  if (o.dry_run) {
    if (rank == 0) {
      print_dry_run(plan, o.scheduler.lockstep.get(), static_cast<std::size_t>(o.show));
      warn_missing(plan);
    }
    return 0;
  }

  StudyResults results(plan);
  const std::string csv = csv_name(o.output);
  ResultsLock lock;  // held by rank 0 until the study ends
  if (const int code = agree(world, [&] {
        if (rank != 0) return;
        require_writable(o.output);
        require_writable(csv);  // written beside it at every flush: a directory there fails late
        std::error_code error;
        const bool exists = std::filesystem::exists(o.output, error);
        if (exists && !o.resume && !o.force)
          throw InputError("results file '" + o.output + "' exists: add --resume to continue it, --force to overwrite it, or choose another --output");
        // After the refusals that need no lock (they leave no file behind), before the results
        // are read: a resumed file is read and rewritten under the lock.
        lock.acquire(o.output, host_name());
        const std::vector<Fingerprint> fingerprints = study_fingerprints(plan, *prepared.registry);
        results.set_fingerprints(fingerprints);  // what the rows depend on, stored with them
        if (exists && o.resume) {
          const StudyResults::Rerun rerun = results.load(o.output, o.rerun_changed);
          for (const std::string& note : results.notes()) print_line("kappa study: note: " + note);
          for (const FingerprintChange& change : rerun.changes)
            print_line("kappa study: --rerun-changed: " + describe(change));
          if (o.rerun_changed)
            print_line("kappa study: --rerun-changed: " + std::to_string(rerun.dropped) + " task" + (rerun.dropped == 1 ? "" : "s") +
                       " of " + o.output + " run again");
        }
        results.set_manifest(study_manifest(argc, argv, started, *prepared.registry, fingerprints, hosts, exists && o.resume ? o.output : ""));
        if (o.retry_failed) {
          const std::size_t dropped = results.forget({Status::failed, Status::crashed});
          print_line("kappa study: --retry-failed: " + std::to_string(dropped) + " failed or crashed task" + (dropped == 1 ? "" : "s") +
                     " of " + o.output + " run again");
        }
      }))
    return code;

  prepared.options.scheduler.blas_threads = limit_blas_threads(world);
  std::optional<NodeSegments> segments;
  if (const int code = agree(world, [&] {
        if (o.share_data == "on") prepared.options.scheduler.shared_job = segments.emplace(world).job();
      }))
    return code;
  const std::string host = host_name();
  begin_running();  // from here on a signal stops the study gracefully (results written)
  if (rank != 0) {
    try {
      run_worker(plan, o.scheduler, *world, host);
    } catch (const std::exception& error) {
      print_line("kappa study: rank " + std::to_string(rank) + ": " + error.what());
      end_job(world, 1);
    }
    int code = 0;
    boost::mpi::broadcast(*world, code, 0);  // every rank exits with rank 0's status
    return code;
  }
  const int code = coordinate(plan, results, o, world, host);
  if (world && world->size() > 1) {
    // The results are complete; the job's end (this broadcast, MPI_Finalize) needs every rank. A
    // rank stopped after its last task (SIGSTOP) would hold rank 0 there for ever: after
    // --worker-timeout the process ends instead, with exit status 4 (a rank was lost).
    std::thread([timeout = o.scheduler.worker_timeout, code] {
      std::this_thread::sleep_for(std::chrono::duration<double>(timeout));
      print_line("kappa study: the results are written, but not every rank ended the job within --worker-timeout " +
                 format_number(timeout) + " s (a rank stopped or wedged?): lost; exit status 4");
      std::_Exit(code == 0 ? 4 : code);
    }).detach();
  }
  int shared = code;
  if (world) boost::mpi::broadcast(*world, shared, 0);
  return code;
}

int coordinate(const StudyPlan& plan, StudyResults& results, const StudyOptions& o, const boost::mpi::communicator* world,
               const std::string& host) {
  const int ranks = world ? world->size() : 1;
  const std::string csv = csv_name(o.output);

  std::cout << "kappa study: " << plan.grid_name << ": " << plan.tasks.size() << " tasks";
  if (results.size() > 0) std::cout << " (" << results.size() << " already in " << o.output << ")";
  std::cout << ", " << plan.problems.size() << " problem" << (plan.problems.size() == 1 ? "" : "s") << ", " << ranks
            << " rank" << (ranks == 1 ? "" : "s") << "; results: " << o.output << ", " << csv << std::endl;
  warn_missing(plan);
  CoordinatorSummary summary;
  try {
    summary = run_coordinator(plan, results, o.output, csv, o.scheduler, world, host);
  } catch (const std::exception& error) {
    print_line(std::string("kappa study: ") + error.what());
    end_job(world, 1);
  }
  const std::size_t done = results.size();
  if (!summary.lost.empty()) {
    // A lost rank cannot take part in the collective end of the job: MPI_Abort ends every rank.
    const std::size_t missing = plan.tasks.size() - done;
    print_line("kappa study: " + std::to_string(summary.lost.size()) + " rank" + (summary.lost.size() == 1 ? " was" : "s were") +
               " lost; " + std::to_string(done) + " of " + std::to_string(plan.tasks.size()) + " tasks in " + o.output +
               (missing > 0 ? " (" + std::to_string(missing) + " without a row: run the same command with --resume to finish)" : "") +
               "; exit status 4");
    end_job(world, 4);
  }
  if (summary.signal != 0) {
    std::ostringstream line;
    line << "kappa study: stopped by " << signal_name(summary.signal) << ": " << done << " of " << plan.tasks.size()
         << " tasks in " << o.output;
    if (summary.abandoned) line << " (tasks still running after --term-grace " << format_number(o.scheduler.term_grace) << " s were dropped)";
    line << "; run the same command with --resume to finish";
    print_line(line.str());
    if (summary.abandoned) end_job(world, 128 + summary.signal);
    return 128 + summary.signal;
  }
  if (done < plan.tasks.size()) {
    print_line("kappa study: " + std::to_string(done) + " of " + std::to_string(plan.tasks.size()) + " tasks done in " +
               o.output + " (a worker stopped early); run the same command with --resume to finish");
    return 3;
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3g", summary.seconds);
  std::cout << "kappa study: " << done << " tasks done (" << summary.ran << " in this run: " << summary.failed << " failed, "
            << summary.diverged << " diverged, " << summary.crashed << " crashed) in " << seconds << " s; wrote " << o.output
            << " and " << csv << std::endl;
  return 0;
}

// Whether an MPI launcher started this process: Open MPI's mpirun/mpiexec, or srun (or another
// launcher) with PMI or PMIx. srun without an MPI plugin sets none of these: each task would run
// the whole study alone (docs/study.md: use srun --mpi=pmix or pmi2).
bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name)) return true;
  return false;
}

}  // namespace

int run_task_process(int argc, char** argv) {
  // argv: task-process PARENT RANK THREADS study ARGS... (IsolatedRunner, study_scheduler.cpp)
  if (argc < 5 || std::string(argv[4]) != "study") {
    print_line("kappa task-process: started by kappa study itself, not by hand");
    return 2;
  }
  const auto number = [](const char* text) { return std::strtoll(text, nullptr, 10); };
  become_task_process(static_cast<pid_t>(number(argv[1])));
  const long long rank = number(argv[2]);
  if (openblas_set_num_threads && number(argv[3]) > 0) openblas_set_num_threads(static_cast<int>(number(argv[3])));
  ParentLink link(3, spawned_child_progress());
  link.start_heartbeat();  // also while the grid is planned
  Prepared prepared;
  prepare(argc - 4, argv + 4, prepared, false);
  if (prepared.options.share_data == "on") {
    const char* tag = std::getenv(kDataJobVariable);
    SegmentJob job;
    if (!tag || !SegmentJob::parse(tag, job)) {
      print_line(std::string("kappa task-process: ") + kDataJobVariable + " is not set: started by kappa study itself, not by hand");
      return 2;
    }
    prepared.options.scheduler.shared_job = job;
  }
  plan_lockstep(prepared);  // the same groups as the rank, whose units this process runs
  return serve_study_tasks(prepared.plan, prepared.options.scheduler, rank, host_name(), link);
}

int run_study(int argc, char** argv) {
  // --help needs no MPI.
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      StudyOptions o;
      po::positional_options_description positional;
      positional.add("grid", 1);
      parse_command_line(argc, argv, usage_text(), describe(o), &positional);
      return 0;
    }
  // Without a launcher MPI is not initialized at all: one process, the same code with no remote
  // workers (no MPI singleton, which would need Open MPI's run-time and cost half a second).
  if (!launched_by_mpi()) {
    install_stop_signals();
    return run_ranks(argc, argv, nullptr);
  }
  // Only the main thread calls MPI.
  boost::mpi::environment environment(argc, argv, boost::mpi::threading::funneled, false);
  const boost::mpi::communicator world;
  install_stop_signals();
  return run_ranks(argc, argv, &world);
}

}  // namespace kappa::cli
