// kappa_bench: the kernel benchmarks of docs/performance.md, against the public API only.
//
//   kappa_bench suite [--quick] [--sections kernels,minibatch] [--tsv FILE] [--alloc-backtraces N]
//       full-batch L2 loss+gradient vs one dgemv over the same matrix (600x600, 200000x500) and
//       the naive two-pass version; minibatch steps (b = 1, 2 on 600 x 600) in ns and heap
//       allocations per step; float32 rows. Prints a table;
//       --tsv writes "key<TAB>value" lines for bench/report.py. --quick: tiny sizes (smoke test).
//   kappa_bench run --data FILE --optimizer NAME --lr X [--batch-size B] --max-iterations N
//       [--run-seed S] --weights OUT
//       one run of a plugin optimizer on the l2 problem of FILE (no intercept, no ridge, no
//       stopping rule but the iteration budget), as `kappa solve` would run it; prints the
//       run's seconds and writes the final weights, one per line (what bench/vs_torch.py needs
//       and `kappa solve` cannot output).
//
// Timing: an operation is repeated in a loop long enough to last `target` seconds; the loop is
// run `repetitions` times and the median ns per operation is reported (the median resists the
// other jobs of a shared machine better than the mean).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/data/dataset.hpp"
#include <kappa/error.hpp>
#include <kappa/first_order.hpp>
#include <kappa/monitor.hpp>
#include "core/loader/plugin_registry.hpp"
#include "core/problems/linear_model.hpp"
#include "core/experiment/run_monitor.hpp"

#include "alloc_counter.h"

extern "C" int openblas_get_num_threads(void) __attribute__((weak));
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace {

using Clock = std::chrono::steady_clock;
using kappa::Index;

struct Timing {
  double target_seconds = 0.25;  // one timed loop
  int repetitions = 7;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Median over `repetitions` loops of ns per call of `operation`.
double median_ns(const std::function<void()>& operation, const Timing& timing) {
  operation();  // warm-up: first touch of buffers, BLAS initialization
  long iterations = 1;
  for (;;) {  // calibrate the loop length
    const auto start = Clock::now();
    for (long i = 0; i < iterations; ++i) operation();
    const double elapsed = seconds_since(start);
    if (elapsed >= timing.target_seconds / 4 || iterations >= (1L << 40)) {
      iterations = std::max(1L, static_cast<long>(iterations * timing.target_seconds / std::max(elapsed, 1e-9)));
      break;
    }
    iterations *= 4;
  }
  std::vector<double> samples;
  for (int r = 0; r < timing.repetitions; ++r) {
    const auto start = Clock::now();
    for (long i = 0; i < iterations; ++i) operation();
    samples.push_back(seconds_since(start) * 1e9 / static_cast<double>(iterations));
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

// Results, in the order measured: printed as a table and optionally written as TSV.
struct Results {
  std::vector<std::pair<std::string, double>> values;
  void add(const std::string& key, double value, const std::string& unit) {
    values.emplace_back(key, value);
    std::printf("| %-44s | %14.6g | %-10s |\n", key.c_str(), value, unit.c_str());
    std::fflush(stdout);
  }
};

// y = alpha op(A) x + beta y through BLAS, element type T (dgemv / sgemv).
template <class T>
void gemv(char transpose, const arma::Mat<T>& A, T alpha, const T* x, T beta, T* y) {
  const arma::blas_int m = static_cast<arma::blas_int>(A.n_rows), n = static_cast<arma::blas_int>(A.n_cols), one = 1;
  arma::blas::gemv<T>(&transpose, &m, &n, &alpha, A.memptr(), &m, x, &one, &beta, y, &one);
}

// An l2 problem (no ridge, no intercept) in double or float32 arithmetic.
std::unique_ptr<kappa::Problem> make_l2_problem(const kappa::Mat& X, const kappa::Vec& y, bool float32) {
  return std::make_unique<kappa::LinearModelProblem>(X, y, kappa::LossSpec{},
                                                     float32 ? kappa::Precision::float32 : kappa::Precision::float64);
}

// ------------------------------------------------------------------ target 1: full batch

// Heap allocations (malloc family) per call of `operation`, over 10 calls after one.
double allocations_per_call(const std::function<void()>& operation) {
  operation();
  alloc_counter_start(0);
  for (int i = 0; i < 10; ++i) operation();
  alloc_counter_stop();
  return static_cast<double>(alloc_counter_malloc_calls()) / 10;
}

template <class T>
void blas_floor(const std::string& prefix, const kappa::Mat& design, const kappa::Vec& targets, const Timing& timing,
                Results& results) {
  const arma::Mat<T> A = arma::conv_to<arma::Mat<T>>::from(design);
  const arma::Col<T> y = arma::conv_to<arma::Col<T>>::from(targets);
  const arma::Col<T> w(A.n_cols, arma::fill::randu);
  arma::Col<T> product(A.n_rows), residual(A.n_rows), gradient(A.n_cols);
  const T scale = T(2) / static_cast<T>(A.n_rows);
  // The floor: one matrix-vector product reads A once, and so must any full gradient.
  results.add(prefix + "gemv_ns", median_ns([&] { gemv<T>('N', A, 1, w.memptr(), 0, product.memptr()); }, timing), "ns");
  // The other product of a gradient, A^T r, also one read of A (BLAS's faster direction may differ).
  results.add(prefix + "gemv_t_ns", median_ns([&] { gemv<T>('T', A, 1, product.memptr(), 0, gradient.memptr()); }, timing), "ns");
  // The naive gradient: r = A w - y, then g = (2/n) A^T r, two separate passes over A.
  results.add(prefix + "two_pass_ns",
              median_ns(
                  [&] {
                    residual = y;
                    gemv<T>('N', A, 1, w.memptr(), -1, residual.memptr());
                    gemv<T>('T', A, scale, residual.memptr(), 0, gradient.memptr());
                  },
                  timing),
              "ns");
}

void full_batch(Index n, Index d, const Timing& timing, Results& results) {
  const std::string prefix = "kernels." + std::to_string(n) + "x" + std::to_string(d) + ".";
  std::unique_ptr<kappa::Problem> problem;
  kappa::Vec targets;
  {
    arma::arma_rng::set_seed(1);
    const kappa::Mat X(n, d, arma::fill::randu);
    targets.randu(n);
    problem = make_l2_problem(X, targets, false);
  }  // X freed: the baselines use the problem's own design matrix, the very memory loss_grad reads
  // The problem's design (n x d, column-major, as arma's X * w reads it): the baselines read the
  // same values loss_grad reads, whatever layout the problem keeps them in.
  const kappa::Mat design = dynamic_cast<const kappa::LinearModelProblem&>(*problem).design();
  blas_floor<double>(prefix, design, targets, timing, results);
  const kappa::Vec w(d, arma::fill::randu);
  kappa::Vec gradient;
  results.add(prefix + "loss_grad_ns", median_ns([&] { problem->loss_grad(w, gradient); }, timing), "ns");
  results.add(prefix + "loss_grad_mallocs_per_call", allocations_per_call([&] { problem->loss_grad(w, gradient); }), "calls");

  // float32: the BLAS floor (what the hardware allows) and kappa's pass.
  blas_floor<float>(prefix + "float.", design, targets, timing, results);
  const auto float_problem = make_l2_problem(design, targets, true);
  results.add(prefix + "float.loss_grad_ns", median_ns([&] { float_problem->loss_grad(w, gradient); }, timing), "ns");
}

// ------------------------------------------------------------------ target 2: minibatch

struct StepCount {
  double ns = 0;
  double mallocs = 0;
  double news = 0;
};

// ns and heap allocations per step of `step`, after a warm-up.
StepCount measure_steps(const std::function<void()>& step, const Timing& timing, long counted_steps, int backtraces) {
  StepCount count;
  for (int i = 0; i < 1000; ++i) step();
  count.ns = median_ns(step, timing);
  alloc_counter_start(backtraces);
  for (long i = 0; i < counted_steps; ++i) step();
  alloc_counter_stop();
  count.mallocs = static_cast<double>(alloc_counter_malloc_calls()) / static_cast<double>(counted_steps);
  count.news = static_cast<double>(alloc_counter_new_calls()) / static_cast<double>(counted_steps);
  return count;
}

void add_steps(const std::string& prefix, const StepCount& count, Results& results) {
  results.add(prefix + "step_ns", count.ns, "ns");
  results.add(prefix + "mallocs_per_step", count.mallocs, "calls");
  results.add(prefix + "news_per_step", count.news, "calls");
}

// A whole run of the real sgd plugin (sampler, schedule, Monitor and its trace evaluations):
// seconds and allocations per update, start-up included.
StepCount plugin_run(const kappa::PluginRegistry& registry, const kappa::Problem& problem, Index batch_size, double lr,
                     long updates, int backtraces) {
  const auto sgd = registry.create(
      "sgd", {{"lr", std::to_string(lr)}, {"batch_size", std::to_string(batch_size)}, {"averaging", "none"}});
  kappa::RunControls controls;
  controls.max_iterations = updates;
  controls.grad_tol = 0;
  kappa::Vec w(problem.dim(), arma::fill::zeros);
  alloc_counter_start(backtraces);
  kappa::RunMonitor monitor(controls, [](const kappa::Vec&) { return arma::datum::nan; }, [&] { return problem.data_passes(); });
  const auto start = Clock::now();
  sgd->minimize(problem, w, monitor);
  const double seconds = seconds_since(start);
  alloc_counter_stop();
  if (monitor.status() != kappa::Status::max_iterations)
    throw kappa::NumericalError("bench: the sgd run ended with " + kappa::to_string(monitor.status()) + " " + monitor.message());
  const double steps = static_cast<double>(monitor.iterations());
  return {seconds * 1e9 / steps, alloc_counter_malloc_calls() / steps, alloc_counter_new_calls() / steps};
}

// The counter must see Armadillo's and C++'s allocations, or its zeros would mean nothing.
void check_alloc_counter() {
  alloc_counter_start(0);
  {
    kappa::Vec probe(1000, arma::fill::ones);  // above Armadillo's local buffer: posix_memalign or malloc
    const auto boxed = std::make_unique<double>(probe[0]);
    if (*boxed != 1.0) throw kappa::NumericalError("bench: allocation probe");
  }
  alloc_counter_stop();
  if (alloc_counter_malloc_calls() < 2 || alloc_counter_new_calls() < 1)
    throw kappa::NumericalError("bench: the allocation counter does not see allocations (malloc " +
                                std::to_string(alloc_counter_malloc_calls()) + ", new " +
                                std::to_string(alloc_counter_new_calls()) + ")");
}

void minibatch(Index n, Index d, const Timing& timing, long counted_steps, long plugin_updates, int backtraces,
               Results& results) {
  check_alloc_counter();
  arma::arma_rng::set_seed(2);
  const kappa::Mat X(n, d, arma::fill::randu);
  const kappa::Vec y(n, arma::fill::randu);
  // A step well inside the stable range (2 |a_i|^2 ~ 2 d/3 per sample) so w stays bounded.
  const double lr = 0.1 / static_cast<double>(d);
  kappa::PluginRegistry registry;
  registry.load_directories({KAPPA_BENCH_PLUGIN_DIR});
  for (const bool float32 : {false, true}) {
    const auto problem = make_l2_problem(X, y, float32);
    const std::string precision = float32 ? "float." : "";
    for (const Index batch : {Index(1), Index(2)}) {
      const std::string prefix = "minibatch." + std::to_string(n) + "x" + std::to_string(d) + ".b" + std::to_string(batch) + "." + precision;
      // The step of minimize_gradient_steps (first_order.hpp): rows from the sampler, the
      // public batch gradient, w -= lr g.
      kappa::MinibatchSampler sampler(n, batch, 7);
      kappa::Vec w(d, arma::fill::zeros), gradient;
      const auto step = [&] {
        problem->batch_loss_grad(w, sampler.next(), gradient);
        w -= lr * gradient;
      };
      add_steps(prefix, measure_steps(step, timing, counted_steps, backtraces), results);
      add_steps(prefix + "sgd_plugin.", plugin_run(registry, *problem, batch, lr, plugin_updates, backtraces), results);
    }
  }
}

int run_suite(const std::vector<std::string>& args) {
  bool quick = false;
  std::string tsv, sections = "kernels,minibatch";
  int backtraces = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw kappa::InputError("option " + args[i] + " needs a value");
      return args[++i];
    };
    if (args[i] == "--quick") quick = true;
    else if (args[i] == "--tsv") tsv = value();
    else if (args[i] == "--sections") sections = value();
    else if (args[i] == "--alloc-backtraces") backtraces = std::stoi(value());
    else throw kappa::InputError("unknown option '" + args[i] + "'");
  }
  Timing timing;
  if (quick) timing = {0.002, 3};
  const int threads = openblas_get_num_threads ? openblas_get_num_threads() : 0;
  std::printf("kappa_bench: BLAS threads %d, median of %d loops of >= %.3g s each%s\n\n", threads, timing.repetitions,
              timing.target_seconds, quick ? " (quick: tiny sizes, figures meaningless)" : "");
  std::printf("| %-44s | %14s | %-10s |\n|%s|%s|%s|\n", "figure", "value", "unit", std::string(46, '-').c_str(),
              std::string(16, '-').c_str(), std::string(12, '-').c_str());
  Results results;
  if (sections.find("kernels") != std::string::npos) {
    if (quick) {
      full_batch(60, 60, timing, results);
    } else {
      full_batch(600, 600, timing, results);
      full_batch(200000, 500, timing, results);
    }
  }
  if (sections.find("minibatch") != std::string::npos) {
    if (quick) minibatch(60, 60, timing, 100, 200, backtraces, results);
    else minibatch(600, 600, timing, 20000, 300000, backtraces, results);
  }
  if (!tsv.empty()) {
    std::ofstream out(tsv);
    out.precision(17);
    for (const auto& [key, value] : results.values) out << key << '\t' << value << '\n';
    if (!out) throw kappa::InputError("cannot write " + tsv);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // One BLAS thread unless the environment says otherwise, as the kappa executable does.
  if (openblas_set_num_threads && !std::getenv("OPENBLAS_NUM_THREADS") && !std::getenv("OMP_NUM_THREADS"))
    openblas_set_num_threads(1);
  const std::vector<std::string> args(argv + std::min(argc, 2), argv + argc);
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "suite") return run_suite(args);
    std::cerr << "usage: kappa_bench suite [--quick] [--sections kernels,minibatch] [--tsv FILE] [--alloc-backtraces N]\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "kappa_bench: " << error.what() << '\n';
    return 1;
  }
}
