#include "study/profiles.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kappa {
namespace {
const double nan = std::numeric_limits<double>::quiet_NaN();
const double inf = std::numeric_limits<double>::infinity();

// Median of values without NaN, sorted in place.
double sorted_median(std::vector<double>& values) {
  if (values.empty()) return nan;
  std::sort(values.begin(), values.end());
  const std::size_t half = values.size() / 2;
  return values.size() % 2 ? values[half] : (values[half - 1] + values[half]) / 2;
}
}  // namespace

std::uint64_t SplitMix64::next() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double median_of(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  return sorted_median(values);
}

Interval bootstrap_median_interval(const std::vector<double>& values, std::size_t resamples, std::uint64_t seed) {
  std::vector<double> kept;
  for (double value : values)
    if (!std::isnan(value)) kept.push_back(value);
  if (kept.empty() || resamples == 0) return {nan, nan};
  SplitMix64 random(seed);
  std::vector<double> medians(resamples), sample(kept.size());
  for (double& median : medians) {
    for (double& value : sample) value = kept[random.next() % kept.size()];
    median = sorted_median(sample);
  }
  std::sort(medians.begin(), medians.end());
  const double last = static_cast<double>(resamples - 1);
  return {medians[static_cast<std::size_t>(std::floor(0.025 * last))], medians[static_cast<std::size_t>(std::ceil(0.975 * last))]};
}

double combine_repeats(const std::vector<double>& costs) {
  std::vector<double> values = costs;
  return values.empty() ? inf : sorted_median(values);  // no repeat: not solved
}

std::vector<std::vector<double>> performance_ratios(const std::vector<std::vector<double>>& cost) {
  std::vector<std::vector<double>> ratios;
  for (const std::vector<double>& problem : cost) {
    const double least = problem.empty() ? inf : *std::min_element(problem.begin(), problem.end());
    std::vector<double> row;
    for (double t : problem)
      row.push_back(std::isinf(t) ? inf : least == 0 ? (t == 0 ? 1.0 : inf) : t / least);
    ratios.push_back(row);
  }
  return ratios;
}

double share_at_most(const std::vector<double>& values, double x) {
  if (values.empty()) return 0;
  const auto count = std::count_if(values.begin(), values.end(), [&](double v) { return v <= x; });
  return static_cast<double>(count) / static_cast<double>(values.size());
}

double profile_area(const std::vector<double>& ratios, double r_max) {
  if (ratios.empty()) return 0;
  double sum = 0;
  for (double r : ratios)
    if (r <= r_max) sum += (r_max - std::max(r, 1.0)) / (r_max - 1);
  return sum / static_cast<double>(ratios.size());
}

double expected_best_of_k(std::vector<double> values, std::size_t k) {
  const std::size_t m = values.size();
  if (k == 0 || k > m) return nan;
  for (double& value : values)
    if (std::isnan(value)) value = inf;
  std::sort(values.begin(), values.end());
  // weight of the i-th smallest (1-based): C(m-i, k-1)/C(m, k); w_1 = k/m, w_{i+1} = w_i (m-i-k+1)/(m-i).
  double weight = static_cast<double>(k) / static_cast<double>(m), sum = 0;
  for (std::size_t i = 1; i + k <= m + 1; ++i) {
    sum += weight * values[i - 1];
    if (i < m) weight *= static_cast<double>(m - i - k + 1) / static_cast<double>(m - i);
  }
  return sum;
}

}  // namespace kappa
