// The cost of saving a study's results, and the work a kill -9 loses, before and after the
// results journal (docs/performance.md, "Saving results"). Drives StudyResults directly for a
// study of N tiny tasks (optimizer = gd, max_iterations = 1, repeats = N) whose rows arrive at
// RATE rows/s on a simulated clock: producing rows costs no real time, every save costs its real
// (measured) duration, during which rows keep arriving, as in kappa study. Policies:
//   old      StudyResults::write at most every max(INTERVAL, 10 x the last write's time) (the
//            Coordinator::flush before the journal)
//   journal  StudyResults::checkpoint every INTERVAL minus the last save's duration, with a
//            rewrite budget of INTERVAL / 10, and append_pending() before the final write (the
//            Coordinator::flush now)
// and write() at the end in both. Prints the time spent saving (total, per save: mean and
// largest) and the work lost by a kill -9 at a uniformly random moment: rows finished but not
// yet durable, mean and largest over the run, and as seconds of work (rows / RATE).
//
// usage: journal_flush_bench DIR N RATE INTERVAL old|journal
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/loader/plugin_registry.hpp"
#include "study/grid.hpp"
#include "study/results.hpp"

using namespace kappa;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s DIR N RATE INTERVAL old|journal\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::size_t n = std::strtoull(argv[2], nullptr, 10);
  const double rate = std::strtod(argv[3], nullptr), interval = std::strtod(argv[4], nullptr);
  const bool journal = std::string(argv[5]) == "journal";
  PluginRegistry registry;
  registry.load_directories({KAPPA_BENCH_PLUGIN_DIR});
  const StudyPlan plan = plan_study(
      parse_grid("optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nmax_iterations = 1\nrepeats = " + std::to_string(n) + "\n", "bench.ini"),
      registry);
  const std::string h5 = dir + "/bench.h5", csv = dir + "/bench.csv";
  std::filesystem::remove(h5);
  std::filesystem::remove(journal_name(h5));
  StudyResults results(plan);
  results.set_rewrite_budget(interval / 10);  // as Coordinator: rewrites during the study stay short

  // A tiny task's outcome: 3 trace points, as max_iterations = 1 gives (iterations 0, 1).
  const auto outcome = [&](std::size_t task) {
    TaskOutcome o;
    o.task = task;
    o.key = plan.tasks[task].key;
    o.status = "max-iterations";
    o.iterations = 1;
    o.epochs = 1;
    o.seconds = 1e-4;
    o.final_loss = 1.0 / static_cast<double>(task + 1);
    o.samples = 20;
    o.features = 4;
    o.host = "bench";
    for (long k = 0; k < 2; ++k) o.trace.push_back({k, 1e-5 * k, 1.0 * k, 1.0 / (k + 1), 0.5, 0.25});
    return o;
  };
  using Clock = std::chrono::steady_clock;
  double now = 0;                // simulated seconds
  std::size_t added = 0;         // rows received
  std::size_t durable = 0;       // rows that survive a kill -9 now
  double lost_area = 0;          // integral of (finished - durable) dt
  double lost_max = 0;
  double save_total = 0, save_max = 0, last_save = 0;
  std::size_t saves = 0;
  double append_total = 0, append_max = 0;  // the checkpoints that appended (journal)
  std::size_t appends = 0;
  const auto finished = [&](double t) { return std::min(static_cast<double>(n), rate * t); };
  // Advances the clock to `t` with `durable` fixed; accumulates the loss.
  const auto advance = [&](double t) {
    const double steps = 64;
    for (int s = 0; s < steps; ++s) {
      const double a = now + (t - now) * s / steps, b = now + (t - now) * (s + 1) / steps;
      const double lost = (finished(a) + finished(b)) / 2 - static_cast<double>(durable);
      lost_area += lost * (b - a);
      lost_max = std::max(lost_max, finished(b) - static_cast<double>(durable));
    }
    now = t;
  };
  double last_append_per_row = 0;
  const auto save = [&](bool final) {
    while (added < static_cast<std::size_t>(finished(now))) results.add(outcome(added++));
    const std::size_t rows = added;
    const std::size_t saved_before = durable;
    const Clock::time_point start = Clock::now();
    double appended = 0;
    if (final && journal) {  // as Coordinator::flush(true): the new rows appended, then the rewrite
      results.append_pending();
      appended = std::chrono::duration<double>(Clock::now() - start).count();
      advance(now + appended);
      durable = rows;
    }
    if (final || !journal) results.write(h5, csv);
    else results.checkpoint(h5, csv);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    advance(now + took - appended);
    durable = rows;  // on disk once the save returns
    save_total += took;
    save_max = std::max(save_max, took);
    last_save = took;
    ++saves;
    if (journal && !final && results.journal_rows() > 0) {
      last_append_per_row = took / std::max(1.0, static_cast<double>(rows - saved_before));
      append_total += took;
      append_max = std::max(append_max, took);
      ++appends;
    }
  };
  save(true);  // the file exists from the start
  double last_start = 0;
  while (finished(now) < static_cast<double>(n)) {
    // The journal's saves begin early by the last one's duration, so that they end an interval apart.
    double wait = std::max(interval, 10 * last_save);
    if (journal) {
      // As Coordinator::flush: begun early by the likely duration of this save, the rows it will
      // find times the append's time a row (StudyResults::estimated_append_seconds), or the last.
      const double rows_due = finished(last_start + interval) - static_cast<double>(durable);
      wait = std::max(0.0, interval - std::max(last_save, rows_due * std::max(last_append_per_row, StudyResults::kAppendSecondsPerRow)));
    }
    const double next = std::max(now, last_start + wait);
    advance(std::min(next, static_cast<double>(n) / rate));
    if (finished(now) >= static_cast<double>(n)) break;
    last_start = now;
    save(false);
  }
  const double work_seconds = now;
  save(true);
  const double lost_mean = lost_area / now;
  std::printf("%-8s rows %zu rate %.0f/s interval %.1f s: %zu saves, saving %.2f s in total (%.1f%% of %.0f s), "
              "per save mean %.4f s, largest %.3f s; kill -9 loses mean %.0f rows (%.2f s of work), at most %.0f rows (%.2f s)\n",
              journal ? "journal" : "old", n, rate, interval, saves, save_total, 100 * save_total / work_seconds, work_seconds,
              save_total / static_cast<double>(saves), save_max, lost_mean, lost_mean / rate, lost_max, lost_max / rate);
  if (journal)
    std::printf("         of which %zu appends: %.2f s in total, mean %.4f s (%.1f us a row), largest %.3f s; %zu rewrites: %.2f s\n", appends,
                append_total, append_total / static_cast<double>(std::max<std::size_t>(appends, 1)),
                1e6 * append_total / (rate * interval * static_cast<double>(std::max<std::size_t>(appends, 1))), append_max, saves - appends,
                save_total - append_total);
  std::filesystem::remove(h5);
  std::filesystem::remove(csv);
  std::filesystem::remove(journal_name(h5));
  return 0;
}
