#define BOOST_TEST_MODULE synthetic
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kappa/error.hpp"
#include "core/data/synthetic.hpp"

namespace tt = boost::test_tools;
using kappa::Dataset;
using kappa::Index;
using kappa::KernelKind;
using kappa::KernelSpec;
using kappa::Mat;
using kappa::SpectrumProfile;
using kappa::SpectrumSpec;
using kappa::Vec;

namespace {

bool identical(const Mat& a, const Mat& b) {
  if (a.n_rows != b.n_rows || a.n_cols != b.n_cols) return false;
  for (Index i = 0; i < a.n_elem; ++i)
    if (a(i) != b(i)) return false;
  return true;
}

bool identical(const Dataset& a, const Dataset& b) {
  return identical(a.X_train, b.X_train) && identical(a.y_train, b.y_train) &&
         identical(a.X_test, b.X_test) && identical(a.y_test, b.y_test);
}

// The profiles exactly as synthetic.hpp writes them, with i counted from 1.
std::vector<double> profile_values(Index k, double cond, SpectrumProfile profile) {
  std::vector<double> sigma;
  const Index upper = (k + 1) / 2, lower = k - upper;  // clustered: ceil(k/2) near 1
  for (Index i = 1; i <= k; ++i) {
    const double t = double(i - 1) / double(k - 1);
    if (profile == SpectrumProfile::geometric) sigma.push_back(std::pow(cond, -t));
    if (profile == SpectrumProfile::linear) sigma.push_back(1.0 - (1.0 - 1.0 / cond) * t);
    if (profile == SpectrumProfile::clustered) {
      if (i <= upper) sigma.push_back(1.0 - 0.1 * double(i - 1) / double(upper - 1));
      else sigma.push_back((1.1 - 0.1 * double(i - upper - 1) / double(lower - 1)) / cond);
    }
  }
  return sigma;
}

SpectrumSpec spectrum(Index n, Index d, double cond, SpectrumProfile profile, Index n_test = 0) {
  SpectrumSpec spec;
  spec.n = n;
  spec.d = d;
  spec.condition = cond;
  spec.profile = profile;
  spec.n_test = n_test;
  spec.seed = 5;
  return spec;
}

// A kernel problem's spec; noise at its default (0).
KernelSpec kernel(KernelKind kind, Index n, Index n_test, Index input_dim, double width, std::uint64_t seed) {
  KernelSpec spec;
  spec.kernel = kind;
  spec.n = n;
  spec.n_test = n_test;
  spec.input_dim = input_dim;
  spec.width = width;
  spec.seed = seed;
  return spec;
}

double squared_distance(const Mat& a, Index i, const Mat& b, Index j) {
  double sum = 0.0;
  for (Index c = 0; c < a.n_cols; ++c) sum += (a(i, c) - b(j, c)) * (a(i, c) - b(j, c));
  return sum;
}

double kernel_formula(KernelKind kind, double squared, double width) {
  if (kind == KernelKind::gaussian) return std::exp(-squared / (2.0 * width * width));
  return std::exp(-std::sqrt(squared) / width);
}

double target_formula(const Mat& points, Index i) {
  double s = 0.0;
  for (Index c = 0; c < points.n_cols; ++c) s += points(i, c);
  s /= double(points.n_cols);
  return std::sin(2.0 * std::acos(-1.0) * s) + s * s;
}

// Expects generate_from_spec(spec) to throw InputError whose message holds every fragment.
void expect_input_error(const std::string& spec, const std::vector<std::string>& fragments) {
  BOOST_TEST_CONTEXT("spec \"" << spec << "\"") {
    try {
      kappa::generate_from_spec(spec);
      BOOST_ERROR("no exception");
    } catch (const kappa::InputError& error) {
      const std::string message = error.what();
      for (const std::string& fragment : fragments)
        BOOST_CHECK_MESSAGE(message.find(fragment) != std::string::npos,
                            "message \"" << message << "\" lacks \"" << fragment << "\"");
    } catch (const std::exception& error) {
      BOOST_ERROR("wrong exception type: " << error.what());
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reproducibility

// The factors U, V are Haar: the first cols columns of an orthogonal matrix distributed uniformly
// over O(rows). Checked against closed-form Haar moments (e.g. Meckes, "The Random Matrix Theory
// of the Classical Compact Groups", 2019, ch. 2): every entry has mean 0, E q^2 = 1/n and
// E q^4 = 3 / (n (n + 2)); for a square Q, E tr Q = 0 and E (tr Q)^2 = 1; det Q is +1 or -1 with
// probability 1/2 each. QR of a Gaussian without the sign fix fails the first (q_11 < 0 always).
// Each sample mean is compared with its expectation within 5 standard errors (estimated from the
// same samples), which a correct sampler fails with probability below 1e-5 per check.
BOOST_AUTO_TEST_CASE(haar_factors_have_the_haar_moments) {
  const std::vector<std::pair<Index, Index>> shapes = {{4, 4}, {5, 3}, {2, 2}};
  for (const auto& [rows, cols] : shapes) {
    BOOST_TEST_CONTEXT(rows << " x " << cols) {
      const int samples = 20000;
      std::mt19937_64 rng(2024);
      const double n = static_cast<double>(rows);
      struct Moment {
        const char* name;
        double expected;
        double sum = 0, sum_squares = 0;
        void add(double x) { sum += x, sum_squares += x * x; }
        void check(int count) const {
          const double mean = sum / count;
          const double error = std::sqrt(std::max(sum_squares / count - mean * mean, 1e-300) / count);
          BOOST_TEST(std::fabs(mean - expected) <= 5 * error, name << ": mean " << mean << ", expected " << expected
                                                                    << " (standard error " << error << ")");
        }
      };
      std::vector<Moment> moments = {{"q_11", 0.0},           {"q_rc (last entry)", 0.0}, {"q_11^2", 1 / n},
                                     {"q_rc^2", 1 / n},       {"q_11^4", 3 / (n * (n + 2))},
                                     {"q_11 q_21", 0.0},      {"columns' dot product", 0.0}};
      Moment trace{"tr Q", 0.0}, trace_squared{"(tr Q)^2", 1.0}, determinant{"det Q", 0.0};
      for (int s = 0; s < samples; ++s) {
        const Mat Q = kappa::detail::haar_orthonormal(rows, cols, rng);
        BOOST_REQUIRE(Q.n_rows == rows);
        BOOST_REQUIRE(Q.n_cols == cols);
        if (s < 20) BOOST_TEST(arma::norm(Q.t() * Q - arma::eye<Mat>(cols, cols), "fro") <= 1e-14);
        const double last = Q(rows - 1, cols - 1);
        moments[0].add(Q(0, 0));
        moments[1].add(last);
        moments[2].add(Q(0, 0) * Q(0, 0));
        moments[3].add(last * last);
        moments[4].add(std::pow(Q(0, 0), 4));
        moments[5].add(Q(0, 0) * Q(1, 0));
        moments[6].add(Q(0, 0) * Q(0, cols - 1) + Q(1, 0) * Q(1, cols - 1));  // rows 0-1 of two columns
        if (rows == cols) {
          const double t = arma::trace(Q);
          trace.add(t);
          trace_squared.add(t * t);
          determinant.add(arma::det(Q));
        }
      }
      for (const Moment& m : moments) m.check(samples);
      if (rows == cols) {
        trace.check(samples);
        trace_squared.check(samples);
        determinant.check(samples);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(same_spec_gives_identical_data) {
  const std::string spectrum_spec = "kind=spectrum,n=30,d=10,n_test=7,noise=0.1,seed=7";
  const std::string kernel_spec = "kind=kernel,n=40,n_test=9,noise=0.1,seed=7";
  const Dataset spectrum_first = kappa::generate_from_spec(spectrum_spec);
  const Dataset kernel_first = kappa::generate_from_spec(kernel_spec);
  // Other draws in between, including Armadillo's global RNG, must not matter.
  kappa::generate_from_spec("kind=spectrum,n=30,d=10,seed=8");
  arma::arma_rng::set_seed(12345);
  arma::mat ignored = arma::randn(5, 5);
  BOOST_TEST(identical(spectrum_first, kappa::generate_from_spec(spectrum_spec)));
  BOOST_TEST(identical(kernel_first, kappa::generate_from_spec(kernel_spec)));
}

BOOST_AUTO_TEST_CASE(different_seed_gives_different_data) {
  const Dataset a = kappa::generate_from_spec("kind=spectrum,n=30,d=10,seed=1");
  const Dataset b = kappa::generate_from_spec("kind=spectrum,n=30,d=10,seed=2");
  BOOST_TEST(!identical(a.X_train, b.X_train));
  BOOST_TEST(!identical(a.y_train, b.y_train));
  const Dataset c = kappa::generate_from_spec("kind=kernel,n=30,seed=1");
  const Dataset d = kappa::generate_from_spec("kind=kernel,n=30,seed=2");
  BOOST_TEST(!identical(c.X_train, d.X_train));
}

// ---------------------------------------------------------------------------------------------
// Spectrum problems

BOOST_AUTO_TEST_CASE(spectrum_singular_values_follow_the_profiles) {
  const std::vector<std::pair<Index, Index>> shapes = {{40, 12}, {13, 40}};  // k even and odd
  for (SpectrumProfile profile :
       {SpectrumProfile::geometric, SpectrumProfile::linear, SpectrumProfile::clustered})
    for (const auto& [n, d] : shapes) {
      BOOST_TEST_CONTEXT("profile " << int(profile) << ", n " << n << ", d " << d) {
        const Vec computed = arma::svd(kappa::generate(spectrum(n, d, 1e3, profile)).X_train);
        const std::vector<double> expected = profile_values(std::min(n, d), 1e3, profile);
        BOOST_TEST_REQUIRE(computed.n_elem == expected.size());
        for (Index i = 0; i < computed.n_elem; ++i)
          BOOST_TEST(computed(i) == expected[i], tt::tolerance(1e-10));
      }
    }
}

// Forming X and computing its SVD both make absolute errors of about eps * sigma_max = eps, so
// the smallest singular value 1/cond carries a relative error of about eps * cond: 2e-15 for
// cond 1e1, 2e-10 for 1e6, 2e-6 for 1e10 (times a small constant, both ways). Hence relative
// tolerances of 1e-13, 1e-9 and 1e-6; a tighter one at 1e10 would be testing the SVD's luck.
BOOST_AUTO_TEST_CASE(spectrum_condition_number_is_the_requested_one) {
  const std::vector<std::pair<double, double>> cases = {{1e1, 1e-13}, {1e6, 1e-9}, {1e10, 1e-6}};
  for (const auto& [cond, tolerance] : cases) {
    BOOST_TEST_CONTEXT("cond " << cond) {
      const Vec sigma =
          arma::svd(kappa::generate(spectrum(60, 20, cond, SpectrumProfile::geometric)).X_train);
      BOOST_TEST(sigma.max() / sigma.min() == cond, tt::tolerance(tolerance));
    }
  }
}

BOOST_AUTO_TEST_CASE(spectrum_shapes) {
  const Dataset wide = kappa::generate(spectrum(12, 40, 1e2, SpectrumProfile::geometric, 5));
  BOOST_TEST(wide.X_train.n_rows == 12u);
  BOOST_TEST(wide.X_train.n_cols == 40u);
  BOOST_TEST(wide.y_train.n_elem == 12u);
  BOOST_TEST(wide.X_test.n_rows == 5u);
  BOOST_TEST(wide.X_test.n_cols == 40u);
  BOOST_TEST(wide.y_test.n_elem == 5u);
  BOOST_TEST(arma::rank(wide.X_train) == 12u);

  const Dataset tall = kappa::generate(spectrum(40, 12, 1e2, SpectrumProfile::geometric));
  BOOST_TEST(tall.X_train.n_rows == 40u);
  BOOST_TEST(tall.X_train.n_cols == 12u);
  BOOST_TEST(tall.y_train.n_elem == 40u);
  BOOST_TEST(!tall.has_test());
  BOOST_TEST(arma::rank(tall.X_train) == 12u);
}

// Without noise y = X w_true for one w_true shared by train and test: w recovered from the
// (full column rank) training part predicts the test targets.
BOOST_AUTO_TEST_CASE(spectrum_targets_follow_one_linear_model) {
  const Dataset data = kappa::generate(spectrum(40, 12, 1e2, SpectrumProfile::geometric, 30));
  const Vec w = arma::solve(data.X_train, data.y_train);
  BOOST_TEST(arma::norm(data.X_train * w - data.y_train) <= 1e-12 * arma::norm(data.y_train));
  BOOST_TEST(arma::norm(data.X_test * w - data.y_test) <= 1e-10 * arma::norm(data.y_test));
}

// Test rows follow the training distribution: same mean squared row norm (within sampling
// error; the expected value is sum(sigma^2) / n for both).
BOOST_AUTO_TEST_CASE(spectrum_test_rows_have_the_training_scale) {
  const Dataset data = kappa::generate(spectrum(200, 10, 1e2, SpectrumProfile::linear, 400));
  const double train = arma::accu(arma::square(data.X_train)) / 200.0;
  const double test = arma::accu(arma::square(data.X_test)) / 400.0;
  BOOST_TEST(test / train > 0.8);
  BOOST_TEST(test / train < 1.25);
}

BOOST_AUTO_TEST_CASE(spectrum_noise_changes_targets_not_design) {
  SpectrumSpec clean = spectrum(400, 10, 1e2, SpectrumProfile::geometric, 20);
  SpectrumSpec noisy = clean;
  noisy.noise = 0.5;
  const Dataset a = kappa::generate(clean), b = kappa::generate(noisy);
  BOOST_TEST(identical(a.X_train, b.X_train));
  BOOST_TEST(identical(a.X_test, b.X_test));
  const double noise_std = arma::stddev(b.y_train - a.y_train);
  BOOST_TEST(noise_std > 0.4);
  BOOST_TEST(noise_std < 0.6);
}

BOOST_AUTO_TEST_CASE(spectrum_with_one_singular_value_needs_cond_one) {
  BOOST_CHECK_THROW(kappa::generate(spectrum(1, 5, 1e3, SpectrumProfile::geometric)),
                    kappa::InputError);
  const Dataset single = kappa::generate(spectrum(1, 5, 1.0, SpectrumProfile::geometric));
  BOOST_TEST(arma::norm(single.X_train) == 1.0, tt::tolerance(1e-14));
  BOOST_CHECK_THROW(kappa::generate(spectrum(20, 5, 1.1, SpectrumProfile::clustered)),
                    kappa::InputError);
}

// ---------------------------------------------------------------------------------------------
// Kernel problems

void check_kernel_problem(const KernelSpec& spec) {
  const Dataset data = kappa::generate(spec);
  const kappa::KernelPoints points = kappa::kernel_points(spec);
  BOOST_TEST_REQUIRE(data.X_train.n_rows == spec.n);
  BOOST_TEST_REQUIRE(data.X_train.n_cols == spec.n);
  BOOST_TEST_REQUIRE(data.X_test.n_rows == spec.n_test);
  BOOST_TEST_REQUIRE(data.X_test.n_cols == spec.n);
  BOOST_TEST_REQUIRE(points.train.n_cols == spec.input_dim);
  BOOST_TEST(points.train.min() >= 0.0);
  BOOST_TEST(points.train.max() <= 1.0);

  BOOST_TEST(identical(data.X_train, data.X_train.t()));
  BOOST_TEST(arma::all(data.X_train.diag() == 1.0));
  BOOST_TEST(arma::eig_sym(data.X_train).min() >= -1e-10);

  const std::vector<std::pair<Index, Index>> pairs = {{0, 1}, {3, 17}, {19, 2}, {7, 7}};
  for (const auto& [i, j] : pairs) {
    BOOST_TEST(data.X_train(i, j) ==
                   kernel_formula(spec.kernel, squared_distance(points.train, i, points.train, j),
                                  spec.width),
               tt::tolerance(1e-13));
    BOOST_TEST(data.X_test(i, j) ==
                   kernel_formula(spec.kernel, squared_distance(points.test, i, points.train, j),
                                  spec.width),
               tt::tolerance(1e-13));
    BOOST_TEST(data.y_train(i) == target_formula(points.train, i), tt::tolerance(1e-13));
    BOOST_TEST(data.y_test(i) == target_formula(points.test, i), tt::tolerance(1e-13));
  }
}

BOOST_AUTO_TEST_CASE(gaussian_kernel_matrices) {
  check_kernel_problem(kernel(KernelKind::gaussian, 80, 30, 2, 0.3, 11));
}

BOOST_AUTO_TEST_CASE(laplacian_kernel_matrices) {
  check_kernel_problem(kernel(KernelKind::laplacian, 70, 25, 3, 0.5, 4));
}

BOOST_AUTO_TEST_CASE(kernel_noise_changes_targets_not_design) {
  KernelSpec clean;
  clean.n = 50;
  clean.n_test = 10;
  KernelSpec noisy = clean;
  noisy.noise = 0.1;
  const Dataset a = kappa::generate(clean), b = kappa::generate(noisy);
  BOOST_TEST(identical(a.X_train, b.X_train));
  BOOST_TEST(identical(a.X_test, b.X_test));
  BOOST_TEST(!identical(a.y_train, b.y_train));
}

BOOST_AUTO_TEST_CASE(seedlike_is_the_default_kernel_problem) {
  const Dataset data = kappa::generate_from_spec("seedlike");
  BOOST_TEST(data.source == "seedlike");
  BOOST_TEST(data.X_train.n_rows == 600u);
  BOOST_TEST(data.X_train.n_cols == 600u);
  BOOST_TEST(data.X_test.n_rows == 300u);
  BOOST_TEST(identical(data, kappa::generate(KernelSpec{})));
  BOOST_TEST(arma::eig_sym(data.X_train).min() >= -1e-10);

  KernelSpec reseeded;
  reseeded.seed = 3;
  reseeded.kernel = KernelKind::laplacian;
  BOOST_TEST(identical(kappa::generate_from_spec("seedlike,seed=3,kernel=laplacian"),
                       kappa::generate(reseeded)));
}

// ---------------------------------------------------------------------------------------------
// Specification strings

BOOST_AUTO_TEST_CASE(spec_strings_match_the_structs) {
  SpectrumSpec spectrum_spec = spectrum(20, 5, 100.0, SpectrumProfile::linear, 3);
  spectrum_spec.noise = 0.25;
  spectrum_spec.seed = 4;
  const std::string text =
      "kind=spectrum,n=20,d=5,cond=1e2,profile=linear,noise=0.25,n_test=3,seed=4";
  const Dataset parsed = kappa::generate_from_spec(text);
  BOOST_TEST(identical(parsed, kappa::generate(spectrum_spec)));
  BOOST_TEST(parsed.source == text);
  BOOST_TEST(identical(kappa::generate_from_spec(" kind=spectrum , seed = 4,n=20,d=5,cond=100,"
                                                 "profile=linear,noise=0.25,n_test=3"),
                       parsed));

  KernelSpec kernel_spec = kernel(KernelKind::laplacian, 50, 10, 2, 0.5, 2);
  kernel_spec.noise = 0.0;
  BOOST_TEST(identical(kappa::generate_from_spec("kind=kernel,kernel=laplacian,n=50,n_test=10,"
                                                 "input_dim=2,width=0.5,noise=0,seed=2"),
                       kappa::generate(kernel_spec)));
  BOOST_TEST(!kappa::generate_from_spec("kind=kernel,n=5,n_test=0").has_test());
}

BOOST_AUTO_TEST_CASE(spec_errors_name_the_key) {
  expect_input_error("kind=foo,n=3", {"'kind'", "'foo'", "'spectrum' or 'kernel'"});
  expect_input_error("kind=spectrum,foo=1", {"unknown key 'foo'", "kind=spectrum"});
  expect_input_error("kind=kernel,cond=10", {"unknown key 'cond'", "kind=kernel"});
  expect_input_error("kind=spectrum,cond=abc",
                     {"key 'cond' has value 'abc', expected a number >= 1"});
  expect_input_error("kind=spectrum,cond=nan", {"'cond'", "'nan'"});
  expect_input_error("kind=spectrum,n=10x", {"key 'n'", "'10x'"});
  expect_input_error("kind=spectrum,n=1.5", {"key 'n'", "'1.5'"});
  expect_input_error("kind=spectrum,noise=-0.1", {"key 'noise'", "'-0.1'", ">= 0"});
  expect_input_error("kind=kernel,noise=-1", {"key 'noise'", "'-1'"});
  expect_input_error("kind=spectrum,cond=0.5", {"key 'cond'", "'0.5'", ">= 1"});
  expect_input_error("kind=kernel,width=0", {"key 'width'", "'0'", "> 0"});
  expect_input_error("kind=kernel,width=-0.2", {"key 'width'", "'-0.2'"});
  // width^2 underflows to 0: the Gaussian kernel would be 0/0 = NaN.
  expect_input_error("kind=kernel,width=1e-300", {"width must be >= 1e-100", "underflows"});
  expect_input_error("kind=spectrum,n=0", {"key 'n'", "'0'", ">= 1"});
  expect_input_error("kind=spectrum,n=-5", {"key 'n'", "'-5'"});
  expect_input_error("kind=spectrum,d=0", {"key 'd'", "'0'"});
  expect_input_error("kind=kernel,n=0", {"key 'n'", "'0'"});
  expect_input_error("kind=kernel,input_dim=0", {"key 'input_dim'", "'0'"});
  expect_input_error("seedlike,seed=-1", {"key 'seed'", "'-1'"});
  expect_input_error("kind=kernel,kernel=cubic", {"key 'kernel'", "'cubic'"});
  expect_input_error("kind=spectrum,profile=flat", {"key 'profile'", "'flat'"});
  expect_input_error("kind=spectrum,n=3,n=4", {"key 'n'", "twice"});
  expect_input_error("kind=spectrum,kind=kernel", {"'kind'", "first"});
  expect_input_error("kind=spectrum,n", {"'n'", "key=value"});
  expect_input_error("n=5,kind=spectrum", {"must start with", "'n=5'"});
  expect_input_error("kind=spectrum,,n=3", {"synthetic spec", "empty"});
  expect_input_error("", {"synthetic spec"});
  expect_input_error("kind=spectrum,n=1,d=5", {"cond"});
  expect_input_error("kind=spectrum,profile=clustered,cond=1.1", {"clustered", "cond"});
}

BOOST_AUTO_TEST_CASE(smallest_kernel_width_gives_finite_data) {
  // At the smallest accepted width every off-diagonal entry underflows to 0: K = I, no NaN.
  const Dataset data = kappa::generate_from_spec("kind=kernel,n=20,n_test=5,input_dim=1,width=1e-100");
  BOOST_TEST(data.X_train.is_finite());
  BOOST_TEST(data.X_test.is_finite());
  BOOST_TEST(identical(data.X_train, Mat(20, 20, arma::fill::eye)));
  BOOST_CHECK_THROW(kappa::generate(kernel(KernelKind::gaussian, 20, 5, 1, 1e-300, 1)), kappa::InputError);
}
