#pragma once
// Running a study's tasks over MPI ranks with dynamic scheduling (docs/study.md).
//
// Rank 0 is the coordinator: its main thread hands out chunks of task indices on request,
// collects the results, rewrites the results file at intervals and shows progress; a second
// thread on rank 0 runs tasks like any other worker. Ranks 1..N-1 are workers. Without mpirun
// (or with -np 1) the same code runs with the one local worker: serially, in one process.
// Only rank 0's main thread calls MPI (MPI_THREAD_FUNNELED). Which tasks go where, and how
// many at a time, is decided by kappa::SchedulePolicy (lib/study/schedule.hpp, no MPI); this
// file carries its answers as messages.
//
// Every rank runs its tasks in a task process (task_process.hpp: kappa itself, started as
// `kappa task-process`, serving tasks until it dies), so a plugin that crashes costs its task's
// row (status crashed) and the rank starts another task process. Worker ranks send rank 0 a
// heartbeat every second while they run a task; a rank with tasks that sends nothing for
// `worker_timeout` seconds is lost: its unfinished tasks go to other ranks, and the study ends
// with exit status 4 after writing every row it has.
//
// SIGTERM and SIGINT (Slurm's time limit, Ctrl-C) set a flag: no more tasks are handed out,
// workers finish their current task and drop the rest of their chunk, rank 0 waits up to
// `term_grace` seconds for them, writes the results and the study exits with 128 + signal.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/mpi/communicator.hpp>

#include "core/data/shared_segment.hpp"
#include "study/grid.hpp"
#include "study/lockstep_groups.hpp"
#include "study/results.hpp"
#include "study_progress.hpp"
#include "task_process.hpp"

namespace kappa::cli {

struct SchedulerOptions {
  std::size_t chunk = 0;           // tasks per request; 0: adaptive (about 1 s of work, at most
                                   // 1/(2 ranks) of what is left)
  double flush_interval = 5;       // seconds between rewrites of the results file (at least)
  double progress_interval = 30;   // seconds between progress lines when stderr is no terminal
  ProgressMode progress = ProgressMode::automatic;  // --progress
  double term_grace = 10;          // seconds to wait for running tasks after SIGTERM/SIGINT
  std::size_t cache_bytes = 2048ull << 20;  // per rank, for the Experiments
  double worker_timeout = 60;      // seconds without a message from a rank or a task process
                                   // (running a task) before it counts as lost
  bool isolated = true;            // tasks in task processes (--isolation process); false: in
                                   // the rank's own process, where a crash ends the study
  std::vector<std::string> arguments;  // the study's command line after "study", for the task
                                       // processes, which plan the same grid
  int blas_threads = 0;                // BLAS threads per rank for the task processes (0: default)
  std::shared_ptr<const LockstepGroups> lockstep;  // the plan's lockstep groups (--lockstep);
                                                   // null: every task alone
  // --share-data on: the job whose node-wide data segments the processes that build Experiments
  // use (shared_segment.hpp); none: --share-data off, every such process has its own copy.
  std::optional<SegmentJob> shared_job;
};

// SIGTERM/SIGINT handling: install on every rank before anything else; stop_signal() is 0
// until one arrived, then its number. SIGXFSZ is ignored (a write past a file size limit then fails).
// Until begin_running() (while the grid is read and planned, before the first write) a stop
// signal ends the process at once, with one line and exit status 128 + signal: a 1e7-task grid
// takes minutes to plan, and a grid on a FIFO blocks its reader.
void install_stop_signals();
void begin_running();
int stop_signal();

struct CoordinatorSummary {
  std::size_t ran = 0;       // tasks run by this invocation
  std::size_t failed = 0;    // of them with status failed
  std::size_t diverged = 0;  // ... diverged
  std::size_t crashed = 0;   // ... crashed (their task process died or was killed)
  std::vector<std::string> lost;  // the ranks found lost, one line each
  int signal = 0;            // the signal that stopped the study, or 0
  bool abandoned = false;    // workers still ran tasks when the grace period ended
  double seconds = 0;
};

// Rank 0. `results` holds the rows already done (--resume); runs every other task of `plan`,
// writing `results` to `file` and `csv_file` at intervals and at the end. `world` is null when
// the process was not started by an MPI launcher (one process, MPI not initialized). Throws
// for an error that stops the study (results file unwritable); the caller then ends the job.
CoordinatorSummary run_coordinator(const StudyPlan& plan, StudyResults& results, const std::string& file,
                                   const std::string& csv_file, const SchedulerOptions& options,
                                   const boost::mpi::communicator* world, const std::string& host);

// The task process of a study (`kappa task-process PARENT RANK THREADS study ARGS...`), once it
// has planned the grid of ARGS like the rank that started it: says so (ready: the grid hash)
// and runs the tasks it is sent, each reporting to link.progress(), until its socket closes.
// Returns the process's exit status.
int serve_study_tasks(const StudyPlan& plan, const SchedulerOptions& options, long long rank, const std::string& host,
                      ParentLink& link);

// Ranks 1..N-1: request, run and report tasks until rank 0 says stop.
void run_worker(const StudyPlan& plan, const SchedulerOptions& options, const boost::mpi::communicator& world,
                const std::string& host);

}  // namespace kappa::cli
