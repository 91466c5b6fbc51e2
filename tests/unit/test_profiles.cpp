// The statistics of kappa report (lib/study/profiles.hpp) on cases checkable by hand: the rules
// of docs/report-semantics.md that the study in tests/report/profiles_test.py does not reach
// (zero costs, ties, exact half of the repeats) and the closed forms against enumeration.
#define BOOST_TEST_MODULE profiles
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "study/profiles.hpp"

namespace kappa {
namespace {
const double inf = std::numeric_limits<double>::infinity();

BOOST_AUTO_TEST_CASE(splitmix64_matches_the_published_sequence) {
  // The first outputs for seed 0 (Vigna's reference splitmix64.c).
  SplitMix64 random(0);
  BOOST_TEST(random.next() == 0xE220A8397B1DCDAFULL);
  BOOST_TEST(random.next() == 0x6E789E6AA1B965F4ULL);
}

BOOST_AUTO_TEST_CASE(repeats_solve_by_strict_majority) {
  BOOST_TEST(combine_repeats({3, 5, inf}) == 5);
  BOOST_TEST(std::isinf(combine_repeats({3, inf})));  // half and half: not solved
  BOOST_TEST(combine_repeats({3, 5, 7, inf}) == 6);
  BOOST_TEST(std::isinf(combine_repeats({})));
}

BOOST_AUTO_TEST_CASE(ratios_ties_zero_costs_and_unsolved_problems) {
  const auto r = performance_ratios({{2, 4, inf}, {0, 0, 3}, {inf, inf, inf}, {5, 5, 10}});
  BOOST_TEST((r[0] == std::vector<double>{1, 2, inf}));
  BOOST_TEST((r[1] == std::vector<double>{1, 1, inf}));
  BOOST_TEST((r[2] == std::vector<double>{inf, inf, inf}));
  BOOST_TEST((r[3] == std::vector<double>{1, 1, 2}));
}

BOOST_AUTO_TEST_CASE(area_is_the_integral_of_the_step_function) {
  // rho jumps at 1 (one problem of two) and at 2.5 (the other): area (3 + 1.5) / 2 / 3 = 0.75.
  BOOST_TEST(profile_area({1, 2.5}, 4) == 0.75);
  BOOST_TEST(profile_area({4, inf, 7}, 4) == 0);
  const std::vector<double> ratios{1, 1.3, 2, 3.9, 8};
  double sum = 0;  // midpoint rule on a fine grid
  const int steps = 300000;
  for (int i = 0; i < steps; ++i) sum += share_at_most(ratios, 1 + 3 * (i + 0.5) / steps);
  BOOST_TEST(std::abs(profile_area(ratios, 4) - sum / steps) < 1e-5);
  BOOST_TEST(share_at_most(ratios, 2) == 0.6);
}

BOOST_AUTO_TEST_CASE(best_of_k_equals_the_mean_over_every_subset) {
  const std::vector<double> values{0.5, 0.1, std::nan(""), 0.3, 0.9};
  for (std::size_t k = 1; k <= values.size(); ++k) {
    double sum = 0;
    int count = 0;
    for (unsigned mask = 0; mask < (1u << values.size()); ++mask) {
      if (static_cast<std::size_t>(__builtin_popcount(mask)) != k) continue;
      double least = inf;
      for (std::size_t i = 0; i < values.size(); ++i)
        if (mask & (1u << i)) least = std::min(least, std::isnan(values[i]) ? inf : values[i]);
      sum += least;
      ++count;
    }
    const double expected = sum / count;
    BOOST_TEST((std::isinf(expected) ? std::isinf(expected_best_of_k(values, k))
                                     : std::abs(expected_best_of_k(values, k) - expected) < 1e-15),
               "k = " << k);
  }
  BOOST_TEST(std::isinf(expected_best_of_k({inf, inf}, 1)));
}

BOOST_AUTO_TEST_CASE(bootstrap_interval_is_deterministic_and_brackets_the_median) {
  const std::vector<double> values{1, 2, 3, 4, 100, std::nan("")};
  const Interval a = bootstrap_median_interval(values, 1000, 7), b = bootstrap_median_interval(values, 1000, 7);
  BOOST_TEST(a.low == b.low);
  BOOST_TEST(a.high == b.high);
  BOOST_TEST(a.low <= median_of(values));
  BOOST_TEST(median_of(values) <= a.high);
  BOOST_TEST(a.low >= 1);
  BOOST_TEST(a.high <= 100);
  const Interval one = bootstrap_median_interval({5}, 1000, 1);
  BOOST_TEST((one.low == 5 && one.high == 5));
  BOOST_TEST(std::isnan(bootstrap_median_interval({std::nan("")}, 1000, 1).low));
}

}  // namespace
}  // namespace kappa
