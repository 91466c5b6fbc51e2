// Register-tiled AVX2 + FMA kernels for the two products of a multi-point block
// (multi_point_products.hpp). The tiles are the classic ones of a GEMM micro-kernel (Goto & van
// de Geijn, "Anatomy of high-performance matrix multiplication", ACM TOMS 34(3), 2008) without
// the packing: the residual product is 3 samples x 4 points of dot products (12 accumulators,
// 7 loads per 12 FMAs), the gradient product 12 features x 4 points of rank-1 updates
// (12 accumulators, 3 loads and 4 broadcasts per 12 FMAs): one Tile3x4 for both.
//
// Summation order, the same for every point whatever the tile it falls in: a dot product runs
// four lanes over the features (lane l takes features l, l + 4, ...), adds them as
// (l0 + l2) + (l1 + l3), then the last features % 4 terms one by one with fused multiply-adds;
// a gradient element is one chain of fused multiply-adds over the samples in order.
#include "core/problems/multi_point_products.hpp"

#include <cmath>
#include <stdexcept>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KAPPA_AVX2_PRODUCTS 1
#include <immintrin.h>
#endif

namespace kappa::detail {

#ifdef KAPPA_AVX2_PRODUCTS
namespace {

#define KAPPA_AVX2 __attribute__((target("avx2,fma")))

KAPPA_AVX2 inline double lane_sum(__m256d v) {
  const __m128d pairs = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));  // (l0 + l2, l1 + l3)
  return _mm_cvtsd_f64(_mm_add_sd(pairs, _mm_unpackhi_pd(pairs, pairs)));
}

// The 3 x 4 tile of both products: a[s][c] += v_s * q(c) (a sample's features times a point's,
// or features times a residual broadcast). Named members, not an array: GCC keeps an array of
// __m256d in memory across the loop. q(c) is loaded just before its three FMAs: with all four
// loaded first, 12 accumulators + 7 operands exceed the 16 registers and GCC re-reads each q
// from memory three times (measured 30% slower).
struct Tile3x4 {
  __m256d a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23;
};
template <class Operand>
KAPPA_AVX2 inline __attribute__((always_inline)) void multiply_add(Tile3x4& t, __m256d v0, __m256d v1, __m256d v2, Operand&& q) {
  __m256d w = q(0);
  t.a00 = _mm256_fmadd_pd(v0, w, t.a00), t.a10 = _mm256_fmadd_pd(v1, w, t.a10), t.a20 = _mm256_fmadd_pd(v2, w, t.a20);
  w = q(1);
  t.a01 = _mm256_fmadd_pd(v0, w, t.a01), t.a11 = _mm256_fmadd_pd(v1, w, t.a11), t.a21 = _mm256_fmadd_pd(v2, w, t.a21);
  w = q(2);
  t.a02 = _mm256_fmadd_pd(v0, w, t.a02), t.a12 = _mm256_fmadd_pd(v1, w, t.a12), t.a22 = _mm256_fmadd_pd(v2, w, t.a22);
  w = q(3);
  t.a03 = _mm256_fmadd_pd(v0, w, t.a03), t.a13 = _mm256_fmadd_pd(v1, w, t.a13), t.a23 = _mm256_fmadd_pd(v2, w, t.a23);
}

// The scalar end of a dot product, from feature `from` on.
KAPPA_AVX2 inline double dot_tail(double sum, const double* x, const double* p, Index from, Index features) {
  for (Index t = from; t < features; ++t) sum = std::fma(x[t], p[t], sum);
  return sum;
}

// The next triple of samples (when it is in the block) is prefetched by the first tile of points
// that reads a triple: the residual product is the pass's first touch of the block.
KAPPA_AVX2 void dot_3x4(const double* x0, Index features, const double* P, Index ld_points, double* R, Index ld_r, bool prefetch) {
  const double* x1 = x0 + features;
  const double* x2 = x1 + features;
  const double* p0 = P;
  const double* p1 = p0 + ld_points;
  const double* p2 = p1 + ld_points;
  const double* p3 = p2 + ld_points;
  const double* points[4] = {p0, p1, p2, p3};
  const __m256d zero = _mm256_setzero_pd();
  Tile3x4 t{zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero};
  const Index ahead = 3 * features;
  Index j = 0;
  for (; j + 4 <= features; j += 4) {
    if (prefetch && (j & 7) == 0) {
      _mm_prefetch(reinterpret_cast<const char*>(x0 + ahead + j), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(x1 + ahead + j), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(x2 + ahead + j), _MM_HINT_T0);
    }
    multiply_add(t, _mm256_loadu_pd(x0 + j), _mm256_loadu_pd(x1 + j), _mm256_loadu_pd(x2 + j),
                 [&](int c) KAPPA_AVX2 { return _mm256_loadu_pd(points[c] + j); });
  }
  const __m256d sums[3][4] = {{t.a00, t.a01, t.a02, t.a03}, {t.a10, t.a11, t.a12, t.a13}, {t.a20, t.a21, t.a22, t.a23}};
  const double* samples[3] = {x0, x1, x2};
  for (int s = 0; s < 3; ++s)
    for (int c = 0; c < 4; ++c) R[s + c * ld_r] = dot_tail(lane_sum(sums[s][c]), samples[s], points[c], j, features);
}

// Any number of samples (1-3) by fewer points (1-3), or one sample by up to 4: the edges.
template <int Samples, int Points>
KAPPA_AVX2 void dot_edge(const double* x0, Index features, const double* P, Index ld_points, double* R, Index ld_r) {
  __m256d a[Samples][Points];
  for (int s = 0; s < Samples; ++s)
    for (int c = 0; c < Points; ++c) a[s][c] = _mm256_setzero_pd();
  Index j = 0;
  for (; j + 4 <= features; j += 4)
    for (int c = 0; c < Points; ++c) {
      const __m256d p = _mm256_loadu_pd(P + c * ld_points + j);
      for (int s = 0; s < Samples; ++s) a[s][c] = _mm256_fmadd_pd(_mm256_loadu_pd(x0 + s * features + j), p, a[s][c]);
    }
  for (int s = 0; s < Samples; ++s)
    for (int c = 0; c < Points; ++c)
      R[s + c * ld_r] = dot_tail(lane_sum(a[s][c]), x0 + s * features, P + c * ld_points, j, features);
}

template <int Samples>
KAPPA_AVX2 void dot_edge_points(Index remaining, const double* x0, Index features, const double* P, Index ld_points, double* R,
                                Index ld_r) {
  switch (remaining) {
    case 1: dot_edge<Samples, 1>(x0, features, P, ld_points, R, ld_r); break;
    case 2: dot_edge<Samples, 2>(x0, features, P, ld_points, R, ld_r); break;
    case 3: dot_edge<Samples, 3>(x0, features, P, ld_points, R, ld_r); break;
    default: break;
  }
}

// The last one or two samples of a block, all points.
template <int Samples>
KAPPA_AVX2 void dot_samples(const double* x0, Index features, const double* P, Index ld_points, Index points, double* R, Index ld_r) {
  Index c = 0;
  for (; c + 4 <= points; c += 4) dot_edge<Samples, 4>(x0, features, P + c * ld_points, ld_points, R + c * ld_r, ld_r);
  dot_edge_points<Samples>(points - c, x0, features, P + c * ld_points, ld_points, R + c * ld_r, ld_r);
}

// Points outermost: a tile of 4 points (4 x features doubles) stays in L1 while the block's
// sample triples stream past it from L2 (measured 3% faster than triples outermost, which read
// all k points from L2 for every triple).
KAPPA_AVX2 void residual_products_avx2(const double* S, Index features, Index count, const double* P, Index ld_points, Index points,
                                       double* R) {
  const Index triples = count / 3 * 3;  // samples in whole triples
  const Index tiled = points / 4 * 4;     // points in whole tiles of 4
  for (Index c = 0; c < tiled; c += 4)
    for (Index i = 0; i < triples; i += 3)
      dot_3x4(S + i * features, features, P + c * ld_points, ld_points, R + i + c * count, count, c == 0 && i + 6 <= count);
  for (Index i = 0; i < triples; i += 3)
    dot_edge_points<3>(points - tiled, S + i * features, features, P + tiled * ld_points, ld_points, R + i + tiled * count, count);
  const double* rest = S + triples * features;
  if (count - triples == 2) dot_samples<2>(rest, features, P, ld_points, points, R + triples, count);
  if (count - triples == 1) dot_samples<1>(rest, features, P, ld_points, points, R + triples, count);
}

// G(j .. j + 11, c .. c + 3) (+)= sum_i S(j .., i) T(i, c ..).
KAPPA_AVX2 void update_12x4(const double* S, Index features, Index count, const double* T, double* G, Index ld_g, bool accumulate) {
  double* g0 = G;
  double* g1 = g0 + ld_g;
  double* g2 = g1 + ld_g;
  double* g3 = g2 + ld_g;
  Tile3x4 t;
  if (accumulate) {
    t = Tile3x4{_mm256_loadu_pd(g0), _mm256_loadu_pd(g1), _mm256_loadu_pd(g2), _mm256_loadu_pd(g3),
                _mm256_loadu_pd(g0 + 4), _mm256_loadu_pd(g1 + 4), _mm256_loadu_pd(g2 + 4), _mm256_loadu_pd(g3 + 4),
                _mm256_loadu_pd(g0 + 8), _mm256_loadu_pd(g1 + 8), _mm256_loadu_pd(g2 + 8), _mm256_loadu_pd(g3 + 8)};
  } else {
    const __m256d zero = _mm256_setzero_pd();
    t = Tile3x4{zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero, zero};
  }
  const double* t0 = T;
  const double* t1 = t0 + count;
  const double* t2 = t1 + count;
  const double* t3 = t2 + count;
  const double* residuals[4] = {t0, t1, t2, t3};
  const double* x = S;
  for (Index i = 0; i < count; ++i, x += features)
    multiply_add(t, _mm256_loadu_pd(x), _mm256_loadu_pd(x + 4), _mm256_loadu_pd(x + 8),
                 [&](int c) KAPPA_AVX2 { return _mm256_broadcast_sd(residuals[c] + i); });
  _mm256_storeu_pd(g0, t.a00), _mm256_storeu_pd(g0 + 4, t.a10), _mm256_storeu_pd(g0 + 8, t.a20);
  _mm256_storeu_pd(g1, t.a01), _mm256_storeu_pd(g1 + 4, t.a11), _mm256_storeu_pd(g1 + 8, t.a21);
  _mm256_storeu_pd(g2, t.a02), _mm256_storeu_pd(g2 + 4, t.a12), _mm256_storeu_pd(g2 + 8, t.a22);
  _mm256_storeu_pd(g3, t.a03), _mm256_storeu_pd(g3 + 4, t.a13), _mm256_storeu_pd(g3 + 8, t.a23);
}

// The edges: 4 x Vectors features by 1-4 points.
template <int Vectors, int Points>
KAPPA_AVX2 void update_edge(const double* S, Index features, Index count, const double* T, double* G, Index ld_g, bool accumulate) {
  __m256d a[Vectors][Points];
  for (int v = 0; v < Vectors; ++v)
    for (int c = 0; c < Points; ++c) a[v][c] = accumulate ? _mm256_loadu_pd(G + c * ld_g + 4 * v) : _mm256_setzero_pd();
  const double* x = S;
  for (Index i = 0; i < count; ++i, x += features)
    for (int c = 0; c < Points; ++c) {
      const __m256d t = _mm256_broadcast_sd(T + i + c * count);
      for (int v = 0; v < Vectors; ++v) a[v][c] = _mm256_fmadd_pd(_mm256_loadu_pd(x + 4 * v), t, a[v][c]);
    }
  for (int v = 0; v < Vectors; ++v)
    for (int c = 0; c < Points; ++c) _mm256_storeu_pd(G + c * ld_g + 4 * v, a[v][c]);
}

template <int Vectors>
KAPPA_AVX2 void update_features(const double* S, Index features, Index count, const double* T, Index points, double* G, Index ld_g,
                                bool accumulate) {
  Index c = 0;
  for (; c + 4 <= points; c += 4) {
    if constexpr (Vectors == 3) {
      update_12x4(S, features, count, T + c * count, G + c * ld_g, ld_g, accumulate);
    } else {
      update_edge<Vectors, 4>(S, features, count, T + c * count, G + c * ld_g, ld_g, accumulate);
    }
  }
  const double* Tc = T + c * count;
  double* Gc = G + c * ld_g;
  switch (points - c) {
    case 1: update_edge<Vectors, 1>(S, features, count, Tc, Gc, ld_g, accumulate); break;
    case 2: update_edge<Vectors, 2>(S, features, count, Tc, Gc, ld_g, accumulate); break;
    case 3: update_edge<Vectors, 3>(S, features, count, Tc, Gc, ld_g, accumulate); break;
    default: break;
  }
}

KAPPA_AVX2 void gradient_products_avx2(const double* S, Index features, Index count, const double* T, Index points, double* G,
                                       Index ld_g, bool accumulate) {
  Index j = 0;
  for (; j + 12 <= features; j += 12) update_features<3>(S + j, features, count, T, points, G + j, ld_g, accumulate);
  for (; j + 4 <= features; j += 4) update_features<1>(S + j, features, count, T, points, G + j, ld_g, accumulate);
  for (; j < features; ++j)
    for (Index c = 0; c < points; ++c) {
      double sum = accumulate ? G[j + c * ld_g] : 0.0;
      for (Index i = 0; i < count; ++i) sum = std::fma(S[j + i * features], T[i + c * count], sum);
      G[j + c * ld_g] = sum;
    }
}

#undef KAPPA_AVX2

}  // namespace

bool vectorized_multi_point_products() {
  static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return supported;
}

void residual_products(const double* S, Index features, Index count, const double* P, Index ld_points, Index points, double* R) {
  residual_products_avx2(S, features, count, P, ld_points, points, R);
}

void gradient_products(const double* S, Index features, Index count, const double* T, Index points, double* G, Index ld_gradients,
                       bool accumulate) {
  gradient_products_avx2(S, features, count, T, points, G, ld_gradients, accumulate);
}

#else  // not x86-64 GCC/Clang: the BLAS path only

bool vectorized_multi_point_products() { return false; }
void residual_products(const double*, Index, Index, const double*, Index, Index, double*) {
  throw std::logic_error("residual_products: no vectorized kernel in this build (check vectorized_multi_point_products())");
}
void gradient_products(const double*, Index, Index, const double*, Index, double*, Index, bool) {
  throw std::logic_error("gradient_products: no vectorized kernel in this build (check vectorized_multi_point_products())");
}

#endif

}  // namespace kappa::detail
