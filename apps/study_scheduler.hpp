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
// SIGTERM and SIGINT (Slurm's time limit, Ctrl-C) set a flag: no more tasks are handed out,
// workers finish their current task and drop the rest of their chunk, rank 0 waits up to
// `term_grace` seconds for them, writes the results and the study exits with 128 + signal.

#include <cstddef>
#include <string>

#include <boost/mpi/communicator.hpp>

#include "study/grid.hpp"
#include "study/results.hpp"

namespace kappa::cli {

struct SchedulerOptions {
  std::size_t chunk = 0;           // tasks per request; 0: adaptive (about 1 s of work, at most
                                   // 1/(2 ranks) of what is left)
  double flush_interval = 5;       // seconds between rewrites of the results file (at least)
  double progress_interval = 30;   // seconds between progress lines when stderr is no terminal
  double term_grace = 10;          // seconds to wait for running tasks after SIGTERM/SIGINT
  std::size_t cache_bytes = 2048ull << 20;  // per rank, for the Experiments
};

// SIGTERM/SIGINT handling: install on every rank before running; stop_signal() is 0 until one
// arrived, then its number. SIGXFSZ is ignored (a write past a file size limit then fails).
void install_stop_signals();
int stop_signal();

struct CoordinatorSummary {
  std::size_t ran = 0;       // tasks run by this invocation
  std::size_t failed = 0;    // of them with status failed
  std::size_t diverged = 0;  // ... diverged
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

// Ranks 1..N-1: request, run and report tasks until rank 0 says stop.
void run_worker(const StudyPlan& plan, const SchedulerOptions& options, const boost::mpi::communicator& world,
                const std::string& host);

}  // namespace kappa::cli
