#pragma once
// Memory-lean reduction of a tall least-squares problem min |B w - c| (B: rows x cols, rows
// possibly >> cols) to an equivalent small triangular one, without ever holding B.
//
// The rows of the augmented matrix [B c] are streamed in blocks; the state is the
// (cols+1) x (cols+1) triangular factor of the rows seen so far. Each block is appended below it
// and the stack is re-triangularized by Householder QR (LAPACK geqrf, R only; Q is never formed):
// the sequential variant of TSQR (Demmel, Grigori, Hoemmen, Langou 2012). The result is as
// backward stable as one Householder QR of [B c]: R^T R = B^T B and R^T rhs = B^T c up to
// rounding, and for every w
//     |B w - c|^2 = |R w - rhs|^2 + discarded_residual_norm^2,
// since the last diagonal entry of the augmented factor is the norm of the part of c orthogonal
// to range(B). Memory: about (block_rows + cols + 1) x (cols + 1) doubles for a block and the
// state (block_rows: default_block_rows).

#include <functional>

#include "core/references/reference.hpp"
#include "core/problems/linear_model.hpp"

namespace kappa {

struct ReducedLeastSquares {
  Mat R;                             // cols x cols, upper triangular, diagonal >= 0
  Vec rhs;                           // cols
  real discarded_residual_norm = 0;  // min over w of |B w - c| minus what R and rhs keep: see above
  Index rows = 0;                    // rows of B reduced
};

// Writes rows first_row .. first_row + count - 1 of [B c] into block_out, which the caller has
// sized count x (cols + 1) (B's columns, then c); it must not be resized.
using LeastSquaresRowSource = std::function<void(Index first_row, Index count, Mat& block_out)>;

// Rows per block: enough to keep LAPACK's blocked QR efficient and the triangular state's share
// of the work small, bounded so that a block stays a few tens of MB.
Index default_block_rows(Index cols);

// Reduces the rows x cols problem served by `source`, block_rows at a time (0: the default).
// Throws InputError for cols == 0, a source that resizes its block, or a non-finite entry (naming
// the rows), NumericalError if LAPACK fails.
ReducedLeastSquares reduce_least_squares(Index rows, Index cols, const LeastSquaresRowSource& source,
                                         Index block_rows = 0);

// The l2 problem of (X, y, spec) (problem.hpp: f(w) = (1/n) |A w - y|^2 + (ridge/2) |w_f|^2),
// reduced without copying X. Blocks are built on the fly from rows of X:
//   without intercept: B = [X / sqrt(n); sqrt(ridge/2) I], c = [y / sqrt(n); 0] (the ridge rows
//     only when ridge > 0), so that f(w) = |B w - c|^2 exactly;
//   with intercept: as reference_solution (direct.hpp), the centred system of the feature weights,
//     B = [X_c / sqrt(n); sqrt(ridge/2) I], c = [y_c / sqrt(n); 0] with X_c = X - 1 feature_means,
//     y_c = y - target_mean (means corrected by a second pass), and then
//     f(w_f, b) = |B w_f - c|^2 + (feature_means w_f + b - target_mean)^2,
//     so the best intercept is b = target_mean - feature_means w_f. Centring first keeps columns
//     with a large offset from losing their rank against the intercept column.
// Three passes over X with an intercept (means, their correction, the reduction), one without.
struct ReducedLinearModel {
  ReducedLeastSquares features;   // the system of the feature weights w_f (centred with intercept)
  bool intercept = false;
  arma::rowvec feature_means;     // intercept only
  real target_mean = 0;           // intercept only
};
ReducedLinearModel reduce_linear_model(const Mat& X, const Vec& y, const LossSpec& spec, Index block_rows = 0);

// reference_solution(X, y, spec, method) for the l2 loss, through reduce_linear_model: the same
// DirectSolution (w, rank, singular values of the stacked system [X(_c); sqrt(n ridge/2) I],
// residual |A w - y|, normal residual |A^T r + n ridge w_f / 2|, the same refusals of qr and
// cholesky), with memory O(cols^2 + n) beyond X; with `design`, the same ReferenceDesign too.
// Throws InputError for another loss.
DirectSolution reduced_reference_solution(const Mat& X, const Vec& y, const LossSpec& spec,
                                          DirectMethod method = DirectMethod::svd, Index block_rows = 0,
                                          ReferenceDesign* design = nullptr);
// The same from the samples stored as LinearModelProblem keeps them, S = X^T (d x n): blocks of
// rows of X are transposed blocks of columns of S, so no copy of X is made. Equal to the above
// to rounding (the sums run in another order), not bit for bit.
DirectSolution reduced_reference_solution_from_samples(const Mat& samples, const Vec& y, const LossSpec& spec,
                                                       DirectMethod method = DirectMethod::svd, Index block_rows = 0,
                                                       ReferenceDesign* design = nullptr);

}  // namespace kappa
