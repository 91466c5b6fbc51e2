#include "study_progress.hpp"

#include <cmath>
#include <cstdio>

namespace kappa::cli {
namespace {

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long total = std::llround(seconds);
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, (total / 60) % 60, total % 60);
  return text;
}

}  // namespace

StudyProgress::StudyProgress(std::ostream& out, bool terminal, double interval, std::size_t total, std::size_t already)
    : out_(out), terminal_(terminal), interval_(interval), total_(total), already_(already) {}

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
  const double since = std::chrono::duration<double>(Clock::now() - last_print_).count();
  if (since < (terminal_ ? 0.25 : interval_)) return;
  last_print_ = Clock::now();
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
