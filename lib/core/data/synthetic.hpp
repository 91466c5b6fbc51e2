#pragma once
// Seeded, reproducible synthetic regression problems.
//
// A synthetic problem is described by a one-line specification string of comma-separated
// key=value pairs, the first of which names its kind:
//
//   kind=spectrum,n=200,d=50,cond=1e6,profile=geometric,noise=0.01,n_test=100,seed=1
//   kind=kernel,kernel=gaussian,n=600,n_test=300,input_dim=6,width=0.8,noise=0,seed=1
//   seedlike                      (shorthand for the built-in seed-shaped kernel problem)
//
// The same specification and seed give the same data bit for bit on the same build.
//
// kSyntheticGeneratorVersion numbers the generators' algorithms: it goes up when a specification
// starts giving other data (2: Stewart's construction of the Haar factors), and is part of a
// study's fingerprint of synthetic data (study/fingerprint.cpp), so that --resume notices rows
// computed on the data of an earlier generator.

#include <cstdint>
#include <random>
#include <string>
#include <variant>

#include "core/data/dataset.hpp"

namespace kappa {

constexpr int kSyntheticGeneratorVersion = 2;

// How the singular values sigma_1 >= ... >= sigma_k (k = min(n, d)) of a spectrum problem fall
// from 1 to 1/cond:
//   geometric: sigma_i = cond^(-(i-1)/(k-1))
//   linear:    sigma_i = 1 - (1 - 1/cond) (i-1)/(k-1)
//   clustered: the first ceil(k/2) spread evenly over [0.9, 1], the rest over [1/cond, 1.1/cond]
enum class SpectrumProfile { geometric, linear, clustered };

// X = U diag(sigma) V^T with U, V Haar-random orthonormal (Stewart's method, synthetic.cpp), so that
// cond(X) = `condition` exactly up to rounding. Targets y = X w_true + noise * N(0, 1) with
// w_true ~ N(0, I/d). The test part (n_test rows) is drawn from the same model with fresh
// Gaussian rows mapped through the same V and sigma. (Those rows are scaled by 1/sqrt(n), the
// scale of a row of U, so test rows follow the training distribution.) A condition other than
// 1 needs min(n, d) >= 2, and the clustered profile needs cond >= 11/9 so that its two clusters
// do not overlap; generate() throws InputError otherwise.
struct SpectrumSpec {
  Index n = 200;
  Index d = 50;
  Index n_test = 0;
  real condition = 1e3;
  SpectrumProfile profile = SpectrumProfile::geometric;
  real noise = 0.0;
  std::uint64_t seed = 1;
};

enum class KernelKind { gaussian, laplacian };

// Points a_1..a_n (train) and b_1..b_m (test) uniform in [0, 1]^input_dim. The design is the
// kernel matrix K_ij = k(a_i, a_j) (n x n) and the test design K(b_i, a_j) (m x n), with
//   gaussian:  k(a, b) = exp(-|a - b|^2 / (2 width^2))
//   laplacian: k(a, b) = exp(-|a - b| / width)
// Targets are a smooth function of the points, y = sin(2 pi s) + s^2 with s the mean of the
// coordinates, plus noise * N(0, 1).
struct KernelSpec {
  KernelKind kernel = KernelKind::gaussian;
  Index n = 600;
  Index n_test = 300;
  Index input_dim = 6;
  real width = 0.8;
  real noise = 0.0;
  std::uint64_t seed = 1;
};

Dataset generate(const SpectrumSpec& spec);
Dataset generate(const KernelSpec& spec);

namespace detail {
// The Haar-random orthonormal factors of a spectrum problem (rows x cols, rows >= cols: the first
// cols columns of a Haar-distributed orthogonal matrix), drawn from `rng`; declared here for
// its test (tests/unit/test_synthetic.cpp).
Mat haar_orthonormal(Index rows, Index cols, std::mt19937_64& rng);
}  // namespace detail

// The points a kernel problem is built from, one per row: train (n x input_dim) and test
// (n_test x input_dim). The same points generate(spec) uses, for plots and for checks.
struct KernelPoints {
  Mat train;
  Mat test;
};
KernelPoints kernel_points(const KernelSpec& spec);

// Parses a specification string (see the top of this file) and generates the data. Throws
// InputError naming the key and value for an unknown kind or key, a malformed number, or a
// value out of range (n, d >= 1, cond >= 1, width >= 1e-100, noise >= 0).
Dataset generate_from_spec(const std::string& spec);

// The keys of each kind with their defaults and meanings, one per line (kappa generate --help).
std::string synthetic_spec_help();

// The same checks without generating anything (for planning many problems up front): throws
// what generate_from_spec would throw, and otherwise gives the training shape.
struct SyntheticShape {
  Index samples = 0;   // n
  Index features = 0;  // d (n for a kernel problem: its design is the n x n kernel matrix)
};
SyntheticShape check_spec(const std::string& spec);

}  // namespace kappa
