// Preconditioners with a dense P: whiten (R^{-1} from the QR of the design), sketch (R^{-1}
// from the QR of a random sketch of it) and spectral (deflation of the top singular
// directions). See preconditioner.hpp. All three are evaluated on a materialized A P.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/preconditioners/fit.hpp"

namespace kappa::detail {
namespace {

constexpr real kEps = std::numeric_limits<real>::epsilon();

// Rows per block when a product is formed block by block: about 256 KiB of a d-column matrix.
Index block_rows(Index cols) { return std::max<Index>(64, (256 * 1024 / sizeof(real)) / std::max<Index>(cols, 1)); }

const auto kTriangular = arma::solve_opts::fast + arma::solve_opts::no_approx;

// P = R^{-1}, R upper triangular and nonsingular; every product is a triangular solve
// (backward stable: A R^{-1} is computed row by row as the exact product with a perturbation
// R + dR_i, |dR_i| <= O(eps) |R|).
class TriangularInverse final : public Preconditioner {
 public:
  TriangularInverse(std::string name, Mat R) : name_(std::move(name)), R_(std::move(R)), Rt_(R_.t()) {}
  std::string name() const override { return name_; }
  Vec to_original(const Vec& z) const override { return solve_upper(z); }
  Vec to_solver(const Vec& w) const override { return arma::trimatu(R_) * w; }
  Vec gradient_to_solver(const Vec& g) const override { return solve_lower(g); }  // R^{-T} g
  Mat transform_design(const Mat& M) const override {  // X R = M, i.e. R^T X^T = M^T, by row blocks
    Mat transformed(M.n_rows, M.n_cols);
    const Index block = block_rows(M.n_cols);
    for (Index first = 0; first < M.n_rows; first += block) {
      const Index last = std::min(M.n_rows, first + block) - 1;
      transformed.rows(first, last) = solve_lower(M.rows(first, last).t()).t();
    }
    return transformed;
  }
  bool needs_transformed_design() const override { return true; }

 private:
  Mat solve_upper(const Mat& b) const {
    Mat x;
    if (!arma::solve(x, arma::trimatu(R_), b, kTriangular)) throw NumericalError(name_ + ": triangular solve failed");
    return x;
  }
  Mat solve_lower(const Mat& b) const {
    Mat x;
    if (!arma::solve(x, arma::trimatl(Rt_), b, kTriangular)) throw NumericalError(name_ + ": triangular solve failed");
    return x;
  }

  std::string name_;
  Mat R_;
  Mat Rt_;
};

// P = I + V (diag(r) - I) V^T with V orthonormal (d x k): symmetric, P^{-1} = I + V (diag(1/r) - I) V^T.
class Deflation final : public Preconditioner {
 public:
  Deflation(std::string name, Mat V, Vec ratios) : name_(std::move(name)), V_(std::move(V)), ratios_(std::move(ratios)) {}
  std::string name() const override { return name_; }
  Vec to_original(const Vec& z) const override { return z + V_ * ((ratios_ - 1.0) % (V_.t() * z)); }
  Vec to_solver(const Vec& w) const override { return w + V_ * ((1.0 / ratios_ - 1.0) % (V_.t() * w)); }
  Vec gradient_to_solver(const Vec& g) const override { return to_original(g); }
  Mat transform_design(const Mat& M) const override {
    Mat MV = M * V_;
    MV.each_row() %= (ratios_ - 1.0).t();
    return M + MV * V_.t();
  }
  bool needs_transformed_design() const override { return true; }

 private:
  std::string name_;
  Mat V_;
  Vec ratios_;
};

// The upper triangular R of the Householder QR of K (LAPACK dgeqrf; Golub & Van Loan, Alg.
// 5.2.1), without forming Q. K is overwritten (it is the caller's copy).
Mat triangular_factor(Mat K) {
  arma::blas_int m = static_cast<arma::blas_int>(K.n_rows), n = static_cast<arma::blas_int>(K.n_cols);
  arma::blas_int lda = m, info = 0, lwork = -1;
  Vec tau(K.n_cols);
  real query = 0;
  arma::lapack::geqrf(&m, &n, K.memptr(), &lda, tau.memptr(), &query, &lwork, &info);
  lwork = std::max<arma::blas_int>(n, static_cast<arma::blas_int>(query));
  std::vector<real> work(static_cast<std::size_t>(lwork));
  arma::lapack::geqrf(&m, &n, K.memptr(), &lda, tau.memptr(), work.data(), &lwork, &info);
  if (info != 0) throw NumericalError("QR factorization failed (LAPACK dgeqrf info " + std::to_string(info) + ")");
  return arma::trimatu(K.head_rows(K.n_cols));
}

// R of the QR of K = [top; ridge rows], checked: NumericalError when it is numerically singular.
Mat checked_factor(const Mat& top, const FitContext& context, const PreconditionerItem& item, const std::string& advice) {
  const Mat ridge = context.ridge_rows();
  const Index rows = top.n_rows + ridge.n_rows, d = top.n_cols;
  if (rows < d)
    throw NumericalError(context.where(item) + ": the matrix to factor has " + std::to_string(rows) + " rows for " +
                         std::to_string(d) + " columns, so R is singular; " + advice);
  Mat K = std::sqrt(context.objective_scale) * arma::join_cols(top, ridge);
  if (!K.is_finite()) throw NumericalError(context.where(item) + ": the design has entries that are not finite");
  const Mat R = triangular_factor(std::move(K));
  const real reciprocal_condition = arma::rcond(R);
  const real threshold = kEps * static_cast<real>(std::max(rows, d));
  if (!(reciprocal_condition >= threshold))
    throw NumericalError(context.where(item) + ": R is numerically singular (rcond(R) = " + format_number(reciprocal_condition) +
                         " < " + format_number(threshold) + ": the design is rank deficient); " + advice);
  return R;
}

// S B for an m x n sketch S with E[S^T S] = I, formed block by block without storing S.
//   gaussian: S_ij ~ N(0, 1/m) (LSRN: Meng, Saunders & Mahoney 2014);
//   sparse:   CountSketch, one +-1 in each column of S at a uniformly random row (Clarkson &
//             Woodruff 2013): O(nnz(B)) work instead of O(m n d).
Mat sketch_of(const Mat& B, Index m, bool sparse, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  Mat sketched(m, B.n_cols, arma::fill::zeros);
  if (sparse) {
    std::uniform_int_distribution<Index> bucket(0, m - 1);
    std::vector<Index> buckets(B.n_rows);
    std::vector<real> signs(B.n_rows);
    for (Index i = 0; i < B.n_rows; ++i) {
      buckets[i] = bucket(generator);
      signs[i] = (generator() & 1U) ? 1.0 : -1.0;
    }
    for (Index j = 0; j < B.n_cols; ++j) {
      const real* column = B.colptr(j);
      real* out = sketched.colptr(j);
      for (Index i = 0; i < B.n_rows; ++i) out[buckets[i]] += signs[i] * column[i];
    }
    return sketched;
  }
  std::normal_distribution<real> normal(0.0, 1.0 / std::sqrt(static_cast<real>(m)));
  const Index block = std::max<Index>(1, (Index(1) << 18) / m);  // S block of at most ~2 MiB
  Mat S_block;
  for (Index first = 0; first < B.n_rows; first += block) {
    const Index last = std::min(B.n_rows, first + block) - 1;
    S_block.set_size(m, last - first + 1);
    for (real& x : S_block) x = normal(generator);
    sketched += S_block * B.rows(first, last);
  }
  return sketched;
}

}  // namespace

std::unique_ptr<Preconditioner> fit_whiten(const PreconditionerItem& item, const FitContext& context) {
  const Mat R = checked_factor(context.design, context, item,
                               "add a ridge penalty, remove dependent columns, or use spectral or equilibrate");
  return std::make_unique<TriangularInverse>(item.text, R);
}

std::unique_ptr<Preconditioner> fit_sketch(const PreconditionerItem& item, const FitContext& context) {
  const Mat& B = context.design;
  const bool sparse = option(item, "kind", "gaussian") == "sparse";
  const real gamma = parse_real(option(item, "gamma", "4"), context.where(item) + ": gamma");
  const long long seed = parse_integer(option(item, "seed", "1"), context.where(item) + ": seed");
  const real rows = std::ceil(gamma * static_cast<real>(B.n_cols));
  const std::string shape = std::to_string(B.n_rows) + " x " + std::to_string(B.n_cols);
  if (rows > static_cast<real>(B.n_rows))
    throw InputError(context.where(item) + " needs a tall design with at least m = ceil(gamma d) = " + format_number(rows) +
                     " rows (gamma " + format_number(gamma) + "): the design is " + shape +
                     " (n x d); use whiten, or a smaller gamma >= 1");
  const Mat sketched = sketch_of(B, static_cast<Index>(rows), sparse, static_cast<std::uint64_t>(seed));
  const Mat R = checked_factor(sketched, context, item,
                               "add a ridge penalty, remove dependent columns, or use a larger gamma or another seed");
  return std::make_unique<TriangularInverse>(item.text, R);
}

std::unique_ptr<Preconditioner> fit_spectral(const PreconditionerItem& item, const FitContext& context) {
  const Index d = context.design.n_cols;
  const std::string k_text = option(item, "k", "");
  const Index k = k_text.empty() ? std::min<Index>(10, d - 1)
                                 : static_cast<Index>(parse_integer(k_text, context.where(item) + ": k"));
  if (k >= d)
    throw InputError(context.where(item) + ": k = " + std::to_string(k) + " must be below the number of columns d = " +
                     std::to_string(d) + " (deflating all directions leaves nothing to scale them to)");
  if (k == 0) return std::make_unique<Deflation>(item.text, Mat(d, 0), Vec());
  const Mat K = std::sqrt(context.objective_scale) * arma::join_cols(context.design, context.ridge_rows());
  Mat U, V;
  Vec sigma;
  if (!K.is_finite() || !arma::svd_econ(U, sigma, V, K, "right"))
    throw NumericalError(context.where(item) + ": the singular value decomposition of the design failed");
  const real next = k < sigma.n_elem ? sigma(k) : 0.0;  // sigma_{k+1}
  const real threshold = kEps * static_cast<real>(std::max(K.n_rows, d)) * (sigma.is_empty() ? 0.0 : sigma(0));
  if (!(next > threshold))
    throw NumericalError(context.where(item) + ": sigma_" + std::to_string(k + 1) + " = " + format_number(next) +
                         " is numerically zero (the design has rank <= " + std::to_string(k) +
                         "); use a smaller k or add a ridge penalty");
  const Vec ratios = next / sigma.head(k);
  return std::make_unique<Deflation>(item.text, Mat(V.head_cols(k)), ratios);
}

}  // namespace kappa::detail
