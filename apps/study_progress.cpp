#include "study_progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli.hpp"

namespace kappa::cli {
namespace {

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long total = std::llround(seconds);
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, (total / 60) % 60, total % 60);
  return text;
}

constexpr double kFirstLine = 2;  // seconds before the first plain progress line

bool is_terminal_path(const std::string& path) { return path.rfind("/dev/pts/", 0) == 0 || path.rfind("/dev/tty", 0) == 0; }

}  // namespace

ProgressMode parse_progress_mode(const std::string& text) {
  if (text == "auto") return ProgressMode::automatic;
  if (text == "tty") return ProgressMode::tty;
  if (text == "lines") return ProgressMode::lines;
  if (text == "none") return ProgressMode::none;
  throw UsageError("--progress '" + text + "': expected auto, tty, lines or none");
}

bool stderr_reaches_terminal() {
  if (::isatty(STDERR_FILENO) == 1) return true;
  if (!std::getenv("OMPI_COMM_WORLD_SIZE")) return false;
  // Where the parent's stderr leads (/proc/PID/fd/2); on another node the parent is an orted
  // whose stderr is no terminal, and the answer is no.
  char target[256] = {};
  const std::string link = "/proc/" + std::to_string(::getppid()) + "/fd/2";
  const ssize_t length = ::readlink(link.c_str(), target, sizeof target - 1);
  return length > 0 && is_terminal_path(std::string(target, static_cast<std::size_t>(length)));
}

StudyProgress::StudyProgress(std::ostream& out, ProgressMode mode, double interval, std::size_t total, std::size_t already)
    : out_(out),
      terminal_(mode == ProgressMode::tty || (mode == ProgressMode::automatic && stderr_reaches_terminal())),
      silent_(mode == ProgressMode::none),
      interval_(interval),
      total_(total),
      already_(already) {}

double StudyProgress::elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void StudyProgress::record(const std::string& status) { record(parse_status(status)); }

void StudyProgress::record(Status status) {
  ++ran_;
  if (status == Status::failed) ++failed_;
  if (status == Status::diverged) ++diverged_;
  if (status == Status::crashed) ++crashed_;
}

std::string StudyProgress::line() const {
  const double seconds = elapsed();
  const double rate = seconds > 0 ? static_cast<double>(ran_) / seconds : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done()) / rate : NAN;
  char text[192];
  const std::string crashed = crashed_ > 0 ? ", " + std::to_string(crashed_) + " crashed" : "";
  std::snprintf(text, sizeof text, "%zu/%zu done, %zu failed, %zu diverged%s, %.3g tasks/s, ETA %s", done(), total_, failed_,
                diverged_, crashed.c_str(), rate, ran_ > 0 ? clock_text(eta).c_str() : "?");
  return text;
}

void StudyProgress::tick() {
  if (silent_) return;
  const double since = std::chrono::duration<double>(Clock::now() - last_print_).count();
  if (since < (terminal_ ? 0.25 : first_line_ ? std::min(kFirstLine, interval_) : interval_)) return;
  last_print_ = Clock::now();
  first_line_ = false;
  const std::string text = "kappa study: " + line();
  if (terminal_) {
    out_ << '\r' << text << std::string(last_width_ > text.size() ? last_width_ - text.size() : 0, ' ') << std::flush;
    last_width_ = text.size();
    printed_ = true;
  } else {
    out_ << text << std::endl;
  }
}

void StudyProgress::finish() {
  if (terminal_ && printed_) out_ << '\n' << std::flush;
  printed_ = false;
}

}  // namespace kappa::cli
