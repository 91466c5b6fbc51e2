#pragma once
// The statistics of `kappa report` that need no results file: medians with percentile-bootstrap
// intervals, performance and data profiles (Dolan & More 2002, More & Wild 2009), their area,
// and the expected best of k settings. docs/report-semantics.md defines each of them; these
// functions are those definitions, and tests/report/profiles_test.py recomputes them in numpy.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kappa {

// SplitMix64 (Steele, Lea, Flood 2014): a generator short enough to state in the docs, so that a
// reader can repeat every resample (docs/report-semantics.md gives the three lines).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();

 private:
  std::uint64_t state_;
};

struct Interval {
  double low, high;  // NaN when there is no value
};

// Median of the values that are not NaN (+-inf count), the mean of the middle two of an even
// count; NaN when none.
double median_of(std::vector<double> values);

// The 95% percentile-bootstrap interval of median_of(values): `resamples` resamples of the non-NaN
// values with replacement, index = next() % n from a SplitMix64 seeded with `seed` (a fresh one per
// interval, so that an interval depends only on its values), low = the sorted resample medians at
// index floor(0.025 (B-1)), high = at ceil(0.975 (B-1)).
Interval bootstrap_median_interval(const std::vector<double>& values, std::size_t resamples, std::uint64_t seed);

// The cost of a (problem, solver) from the costs of its repeats (+inf: not solved): their median,
// +inf included, which is finite exactly when more than half of the repeats solved it; +inf of none.
double combine_repeats(const std::vector<double>& costs);

// r[p][s] = cost[p][s] / min_s cost[p][s]; +inf when cost[p][s] is +inf; when the least cost is 0,
// 1 for the solvers of cost 0 and +inf for the others.
std::vector<std::vector<double>> performance_ratios(const std::vector<std::vector<double>>& cost);

// The share of the values <= x (the profiles rho_s(tau) and d_s(alpha)); 0 of no values.
double share_at_most(const std::vector<double>& values, double x);

// (1 / (r_max - 1)) * integral from 1 to r_max of rho(tau) d tau for the ratios of one solver over
// all problems, exactly: the mean over problems of max(0, r_max - r) / (r_max - 1).
double profile_area(const std::vector<double>& ratios, double r_max);

// The expected least value of a uniformly random k-subset of the values (NaN counts as +inf):
// sum over the ascending values v_(i) of v_(i) C(m - i, k - 1) / C(m, k).
double expected_best_of_k(std::vector<double> values, std::size_t k);

}  // namespace kappa
