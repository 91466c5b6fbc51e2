#pragma once
// The progress of a study on rank 0: done/total, failed, rate and ETA. On a terminal one line
// rewritten in place; otherwise (Slurm logs) a plain line a few seconds after the start and then
// every `interval` seconds, so that a log shows progress soon and without a flood of lines.

#include <chrono>
#include <cstddef>
#include <ostream>
#include <string>

#include <kappa/monitor.hpp>

namespace kappa::cli {

// --progress: auto (redraw on a terminal, else lines), tty (redraw), lines, none.
enum class ProgressMode { automatic, tty, lines, none };
ProgressMode parse_progress_mode(const std::string& text);  // UsageError naming --progress when unknown

// Whether `auto` redraws: rank 0's stderr is a terminal, or, under mpirun (OMPI_COMM_WORLD_SIZE
// set), the stderr of the launcher that started this rank (its parent on the same node) is: mpirun
// passes the rank's output on to it.
bool stderr_reaches_terminal();

class StudyProgress {
 public:
  // `total` tasks in the grid, `already` of them done by an earlier run (--resume).
  StudyProgress(std::ostream& out, ProgressMode mode, double interval, std::size_t total, std::size_t already);

  void record(Status status);               // one task finished in this run
  void record(const std::string& status);  // the same, of its name (parse_status: InputError when unknown)
  void tick();                              // prints when due
  void finish();                            // ends a terminal line

  std::size_t done() const { return already_ + ran_; }
  std::size_t ran() const { return ran_; }
  std::size_t failed() const { return failed_; }
  std::size_t diverged() const { return diverged_; }
  std::size_t crashed() const { return crashed_; }
  double elapsed() const;

  // "12/40 done, 1 failed, 0 diverged, 2.30 tasks/s, ETA 0:00:12" (", 1 crashed" when any)
  std::string line() const;

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  bool terminal_;
  bool silent_;
  double interval_;
  std::size_t total_;
  std::size_t already_;
  std::size_t ran_ = 0;
  std::size_t failed_ = 0;
  std::size_t diverged_ = 0;
  std::size_t crashed_ = 0;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_print_ = Clock::now();
  bool first_line_ = true;  // the first plain line comes after kFirstLine seconds, not `interval`
  std::size_t last_width_ = 0;
  bool printed_ = false;
};

}  // namespace kappa::cli
