#pragma once
// Numeric conventions shared by all of kappa.
//
// Every iterative computation uses `kappa::real` as its element type. It is double today; a
// single-precision mode changes it here (or turns the classes using it into templates) and
// nowhere else. Direct reference solutions are always computed in double.

#include <armadillo>

namespace kappa {

using real = double;
using Vec = arma::Col<real>;
using Mat = arma::Mat<real>;
using Index = arma::uword;
using IndexVec = arma::uvec;

}  // namespace kappa
