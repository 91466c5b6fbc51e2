#pragma once
// Helpers shared by the unit tests: random data, a small kernel system, relative errors, the
// design matrix written out independently of kappa::design_matrix, and a check that an action throws a given exception
// whose message names some fragments. Header-only; include it after <boost/test/unit_test.hpp>.

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <armadillo>
#include <boost/test/unit_test.hpp>

#include "core/data/synthetic.hpp"
#include "kappa/types.hpp"

namespace kappa::test {

// rows x cols with independent standard normal entries, drawn in column-major order from one
// normal distribution (so the same rng state always gives the same matrix).
inline Mat gaussian(std::mt19937_64& rng, Index rows, Index cols) {
  std::normal_distribution<double> normal;
  Mat m(rows, cols);
  for (double& x : m) x = normal(rng);
  return m;
}

// A standard normal vector of length n: the same draws as gaussian(rng, n, 1).
inline Vec gaussian_vec(std::mt19937_64& rng, Index n) { return Vec(gaussian(rng, n, 1)); }

// rows x cols with orthonormal columns (rows >= cols).
inline Mat orthonormal(std::mt19937_64& rng, Index rows, Index cols) {
  Mat Q, R;
  arma::qr_econ(Q, R, gaussian(rng, rows, cols));
  return Q;
}

// |a - b| / |b| (2-norm for vectors, Frobenius norm for matrices), |b| floored at 1e-300.
// A small Gaussian kernel system (40 training points in 2 dimensions, 10 test points): cheap
// enough for every method, and well conditioned once a ridge of 1e-3 or more is added.
inline KernelSpec small_gaussian_kernel() {
  KernelSpec spec;
  spec.n = 40;
  spec.n_test = 10;
  spec.input_dim = 2;
  spec.width = 0.2;
  return spec;
}

inline double relative(const Vec& a, const Vec& b) { return arma::norm(a - b) / std::max(arma::norm(b), 1e-300); }
inline double relative(const Mat& a, const Mat& b) {
  return arma::norm(a - b, "fro") / std::max(arma::norm(b, "fro"), 1e-300);
}
inline double relative(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }

// The design A = X or [X 1] (intercept last), written out independently of kappa::design_matrix.
inline Mat design_of(const Mat& X, bool intercept) {
  if (!intercept) return X;
  return arma::join_rows(X, Mat(X.n_rows, 1, arma::fill::ones));
}

// Checks that `action` throws E and that the message names every fragment: one assertion per
// fragment when it throws, plus one that it threw.
template <class E>
void require_throws_naming(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  bool thrown = false;
  try {
    action();
  } catch (const E& error) {
    thrown = true;
    const std::string message = error.what();
    for (const std::string& fragment : fragments)
      BOOST_TEST(message.find(fragment) != std::string::npos, "message '" << message << "' should name '" << fragment << "'");
  }
  BOOST_TEST(thrown, "expected an exception naming '" << (fragments.empty() ? std::string() : fragments.front()) << "'");
}

// The same with one fragment. A template (for anything convertible to std::string) rather than
// a `const std::string&` overload so that a braced list such as {"qr", "rank"} or {"qr"} still
// selects the vector overload: with two non-template overloads such a call is ambiguous.
template <class E, class Fragment, std::enable_if_t<std::is_convertible_v<const Fragment&, std::string>, int> = 0>
void require_throws_naming(const std::function<void()>& action, const Fragment& fragment) {
  require_throws_naming<E>(action, std::vector<std::string>{std::string(fragment)});
}

}  // namespace kappa::test
