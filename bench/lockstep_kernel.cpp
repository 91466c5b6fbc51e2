// The multi-point gradient kernel of lockstep groups (core/problems/multi_point.hpp) against the
// single-point fused pass and against this machine's dgemm roofline (docs/performance.md,
// "Lockstep groups"). For each size and k: seconds per run of LinearModelProblem::loss_grads
// with k points, of loss_grad (k = 1, the pass a run alone makes), and the roofline per run,
// max(read X once / k at the pass's own bandwidth with k = 1, 4 n d flops at the dgemm peak
// measured here on a 2000 x 2000 product). One BLAS thread.
//
//   lockstep_kernel_bench [N D]...     default: 200000 500 600 600
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <armadillo>

#include "core/problems/linear_model.hpp"

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double seconds_per_call(F&& f, double budget = 1.0) {
  f();  // warm up (buffers grown, data in cache where it fits)
  long calls = 0;
  const Clock::time_point start = Clock::now();
  double elapsed = 0;
  do {
    f();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < budget);
  return elapsed / static_cast<double>(calls);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<arma::uword, arma::uword>> sizes;
  for (int i = 1; i + 1 < argc; i += 2) sizes.emplace_back(std::strtoul(argv[i], nullptr, 10), std::strtoul(argv[i + 1], nullptr, 10));
  if (sizes.empty()) sizes = {{200000, 500}, {600, 600}};
  arma::arma_rng::set_seed(7);
  const arma::mat A(2000, 2000, arma::fill::randn), B(2000, 2000, arma::fill::randn);
  arma::mat C;
  const double gemm = seconds_per_call([&] { C = A * B; });
  const double peak = 2.0 * 2000 * 2000 * 2000 / gemm;
  std::printf("dgemm peak (2000^3): %.2f GFLOP/s\n", peak / 1e9);
  std::printf("%8s %5s %4s %12s %12s %12s %9s %9s\n", "n", "d", "k", "s/run", "alone s/run", "roofline", "speedup", "of roof");
  for (const auto& [n, d] : sizes) {
    const kappa::LinearModelProblem problem(arma::mat(n, d, arma::fill::randn), arma::vec(n, arma::fill::randn), kappa::LossSpec{});
    arma::vec w(d, arma::fill::randn), g;
    const double alone = seconds_per_call([&] { problem.loss_grad(w, g); });
    const double bytes_rate = static_cast<double>(n) * static_cast<double>(d) * 8 / alone;  // the single pass's bandwidth
    for (arma::uword k : {1u, 4u, 16u, 32u, 64u}) {
      const arma::mat W(d, k, arma::fill::randn);
      arma::vec losses;
      arma::mat G;
      const double per_run = seconds_per_call([&] { problem.loss_grads(W, losses, G); }) / static_cast<double>(k);
      const double roofline = std::max(static_cast<double>(n) * static_cast<double>(d) * 8 / bytes_rate / static_cast<double>(k),
                                       4.0 * static_cast<double>(n) * static_cast<double>(d) / peak);
      std::printf("%8llu %5llu %4llu %12.3e %12.3e %12.3e %8.2fx %8.0f%%\n", static_cast<unsigned long long>(n),
                  static_cast<unsigned long long>(d), static_cast<unsigned long long>(k), per_run, alone, roofline, alone / per_run,
                  100 * roofline / per_run);
    }
  }
  return 0;
}
