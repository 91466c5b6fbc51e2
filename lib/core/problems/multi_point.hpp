#pragma once
// Problems that evaluate their loss and gradient at several points in one pass over the data:
// what lets the runs of a lockstep group (core/experiment/lockstep.hpp) share each pass. With
// the points as the columns of W (dim x k), the residuals of a block of samples are one matrix
// product R = A_block W - y_block 1^T and its gradient contribution another, A_block^T rho'(R):
// the block is read from memory once for all k points (BLAS-3 instead of BLAS-2 work).
//
// The results are those of compute_loss_grad / compute_batch_loss_grad at each column, up to
// rounding: the sums are the same sums in another order (a relative difference of a few units
// of the arithmetic's roundoff per gradient; docs/study.md, "Lockstep groups").

#include "kappa/problem.hpp"

namespace kappa {

class MultiPointEvaluation {
 public:
  virtual ~MultiPointEvaluation() = default;
  // Whether this problem can evaluate several points at once (a wrapper answers for what it wraps).
  virtual bool multi_point_available() const { return true; }
  // losses(j) and G.col(j): the loss and gradient of the full objective at W.col(j). Not counted
  // as work (the caller counts each point's pass as if it had been alone).
  virtual void loss_grads(const Mat& W, Vec& losses, Mat& G) const = 0;
  // The same for the minibatch `rows` (the mean over them plus the ridge term, problem.hpp).
  virtual void batch_loss_grads(const Mat& W, const IndexVec& rows, Vec& losses, Mat& G) const = 0;
};

// The multi-point evaluation of `problem`, or null when it has none.
inline const MultiPointEvaluation* multi_point_evaluation(const Problem& problem) {
  const auto* evaluation = dynamic_cast<const MultiPointEvaluation*>(&problem);
  return evaluation != nullptr && evaluation->multi_point_available() ? evaluation : nullptr;
}

}  // namespace kappa
