// simd_math.h — double-precision exp and log1p on AVX-512 packets for the
// output heads, and NADE's float sigmoid (each lane's result depends only on
// its input, so a value never depends on its neighbours). Accurate to a few ulp:
//   exp_pd: x = n ln 2 + r (Cody-Waite), e^r by its Taylor series to r^13
//           (|r| <= ln2 / 2: truncation < 2e-17), times 2^n by scalef (0 below
//           about -745, +inf above 709);
//   log1p_pd (x in [0, 1]): 2 atanh(z) with z = x / (2 + x) <= 1/3, the odd
//           series to z^33 (truncation < 2e-17), accurate for tiny x too;
//   sigmoid_ps (16 floats): 1 / (1 + e^-x) within 6e-7 relative for x >= -10
//           (tests/nn/simd_math_test.cc); sigmoid_exp2_ps the same of t = -x log2 e.
// Under AVX-512; exp_pd4, log1p_pd4 and the 8-float sigmoid_ps and
// sigmoid_exp2_ps (with reduce_add_8 of 8 rows of 8 floats) under AVX2 without
// it. Callers keep a scalar path for other builds.
#pragma once

#include <cstdint>

namespace dgm::nn::simd {
// The factor of sigmoid_exp2_ps's argument: t = x * kNegLog2e (any build).
constexpr float kNegLog2e = -1.44269504088896341f;
// exp_pd's Taylor coefficients 1/k!, k = 13 .. 0, for Horner's scheme.
constexpr double kExpSeries[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                   1.0 / 362880.0,     1.0 / 40320.0,     1.0 / 5040.0,       1.0 / 720.0,
                                   1.0 / 120.0,        1.0 / 24.0,        1.0 / 6.0,          0.5,
                                   1.0,                1.0};
}  // namespace dgm::nn::simd

#include "nn/packet.h"  // simd::store, lane_mask, load_lanes and masks of 16-float packets

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)

namespace dgm::nn::simd {

// exp_pd and log1p_pd below for 4 doubles under AVX2: the same reduction and
// series; 2^n by exponent bits, in two factors 2^(n >> 1) 2^(n - (n >> 1))
// so that results below the normal range come out subnormal or 0 as
// vscalefpd's do (n clamped to [-2044, 2046], where they are 0 and inf).
// exp_pd4 of x[u], u < U, into out[u]: the U vectors' steps interleaved
// (independent chains of fused multiply-adds in flight together), each
// lane's operations those of exp_pd4 alone.
template <int U>
inline void exp_pd4_n(const __m256d* x, __m256d* out) {
  __m256d n[U], r[U], p[U];
  #pragma GCC unroll 8
  for (int u = 0; u < U; ++u) {
    n[u] = _mm256_round_pd(_mm256_mul_pd(x[u], _mm256_set1_pd(1.4426950408889634074)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r[u] = _mm256_fnmadd_pd(n[u], _mm256_set1_pd(6.93147180369123816490e-01), x[u]);
    r[u] = _mm256_fnmadd_pd(n[u], _mm256_set1_pd(1.90821492927058770002e-10), r[u]);
    p[u] = _mm256_set1_pd(kExpSeries[0]);
  }
  #pragma GCC unroll 16
  for (int k = 1; k < 14; ++k)
    #pragma GCC unroll 8
    for (int u = 0; u < U; ++u) p[u] = _mm256_fmadd_pd(p[u], r[u], _mm256_set1_pd(kExpSeries[k]));
  #pragma GCC unroll 8
  for (int u = 0; u < U; ++u) {
    // A NaN n converts to INT_MIN and clamps; p is NaN then, and stays NaN.
    const __m256d m = _mm256_max_pd(_mm256_set1_pd(-2044.0), _mm256_min_pd(_mm256_set1_pd(2046.0), n[u]));
    const __m128i ni = _mm256_cvtpd_epi32(m), n1 = _mm_srai_epi32(ni, 1), n2 = _mm_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi64x(1023);
    const __m256d f1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n1), bias), 52));
    const __m256d f2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n2), bias), 52));
    out[u] = _mm256_mul_pd(_mm256_mul_pd(p[u], f1), f2);
  }
}
inline __m256d exp_pd4(__m256d x) {
  __m256d e;
  exp_pd4_n<1>(&x, &e);
  return e;
}

// log1p_pd4 of x[u], u < U, into out[u], interleaved as exp_pd4_n; with
// `plus`, out[u] = log1p(x[u]) + plus[u] with the last product and the sum
// in one rounding (one fused multiply-add, as GCC contracts the separate
// product and sum of an inlined log1p_pd4).
template <int U>
inline void log1p_pd4_n(const __m256d* x, __m256d* out, const __m256d* plus = nullptr) {
  __m256d z[U], z2[U], p[U];
  #pragma GCC unroll 8
  for (int u = 0; u < U; ++u) {
    z[u] = _mm256_div_pd(x[u], _mm256_add_pd(_mm256_set1_pd(2.0), x[u]));
    z2[u] = _mm256_mul_pd(z[u], z[u]);
    p[u] = _mm256_set1_pd(1.0 / 33.0);
  }
  #pragma GCC unroll 16
  for (int k = 15; k >= 0; --k)
    #pragma GCC unroll 8
    for (int u = 0; u < U; ++u) p[u] = _mm256_fmadd_pd(p[u], z2[u], _mm256_set1_pd(1.0 / double(2 * k + 1)));
  #pragma GCC unroll 8
  for (int u = 0; u < U; ++u)
    out[u] = plus ? _mm256_fmadd_pd(_mm256_add_pd(z[u], z[u]), p[u], plus[u]) : _mm256_mul_pd(_mm256_add_pd(z[u], z[u]), p[u]);
}
inline __m256d log1p_pd4(__m256d x) {
  __m256d l;
  log1p_pd4_n<1>(&x, &l);
  return l;
}

// sigmoid_exp2_ps below for 8 floats under AVX2: 1 / (1 + 2^t), the same
// degree-5 polynomial of 2^g, g = t - floor(t) in [0, 1); 2^floor(t) by the
// exponent bits, t clamped to [-127, 125] first (2^-127 packs to +0: below
// t = -25 1 + 2^t rounds to 1 anyway, so the lower clamp changes no result
// and t = -inf gives 1; the upper keeps 1 / d a normal float as on AVX-512).
// A NaN passes both clamps (min and max return their second operand, t, when
// it is NaN) and stays NaN. d = 1 + p 2^floor(t) in one fused step, and 1 / d
// by a division: on Zen 3 as fast as vrcpps with one Newton step (0.46 and
// 0.49 ns a float) and correctly rounded, where the 12-bit estimate and one
// step leave 1.4e-7 below 1 (two steps: 0.59 ns).
inline __m256 sigmoid_exp2_ps(__m256 t) {
  t = _mm256_max_ps(_mm256_set1_ps(-127.0f), _mm256_min_ps(_mm256_set1_ps(125.0f), t));
  const __m256 f = _mm256_floor_ps(t);
  const __m256 g = _mm256_sub_ps(t, f);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.8775766752169808e-3f), g, _mm256_set1_ps(8.989340090433699e-3f));
  p = _mm256_fmadd_ps(p, g, _mm256_set1_ps(5.582631805334362e-2f));
  p = _mm256_fmadd_ps(p, g, _mm256_set1_ps(0.24015361704436247f));
  p = _mm256_fmadd_ps(p, g, _mm256_set1_ps(0.6931530732001695f));
  p = _mm256_fmadd_ps(p, g, _mm256_set1_ps(0.9999999250635262f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(f), _mm256_set1_epi32(127)), 23);
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_fmadd_ps(p, _mm256_castsi256_ps(e), one));
}

// sigmoid(x) = 1 / (1 + e^-x) for 8 floats: sigmoid_exp2_ps(-x log2 e).
inline __m256 sigmoid_ps(__m256 x) { return sigmoid_exp2_ps(_mm256_mul_ps(x, _mm256_set1_ps(kNegLog2e))); }

// out[k] = the lane sum of x[k], k < 8, each ((x0 + x1) + (x2 + x3)) +
// ((x4 + x5) + (x6 + x7)) by horizontal adds of two rows at a time: the
// same float as reduce_add(x[k]) of the row alone, so that a row's sum does
// not depend on the rows reduced beside it.
inline void reduce_add_8(const __m256 x[8], float* out) {
  const __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(x[0], x[1]), _mm256_hadd_ps(x[2], x[3]));
  const __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(x[4], x[5]), _mm256_hadd_ps(x[6], x[7]));
  // q0: lanes k < 4 hold (x0 + x1) + (x2 + x3) of row k, lanes 4 + k (x4 + x5) + (x6 + x7); q1 rows 4 .. 7.
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31)));
}
inline float reduce_add(__m256 x) {
  const __m256 h = _mm256_hadd_ps(x, x);
  const __m256 q = _mm256_hadd_ps(h, h);
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(q), _mm256_extractf128_ps(q, 1)));
}

}  // namespace dgm::nn::simd

#endif  // AVX2 without AVX-512

#if defined(__AVX512F__)

namespace dgm::nn::simd {

inline void store(double* p, __mmask8 m, __m512d v) {
  if (m == __mmask8(0xFF)) _mm512_storeu_pd(p, v);
  else _mm512_mask_storeu_pd(p, m, v);
}
inline void store(float* p, __mmask8 m, __m256 v) {
  if (m == __mmask8(0xFF)) _mm256_storeu_ps(p, v);
  else _mm256_mask_storeu_ps(p, m, v);
}

// out[k] = _mm512_reduce_add_ps(x[k]), k < 8, the same floats (GCC's
// reduction adds lanes i and i + 8, then i and i + 4, i and i + 2, i and
// i + 1; float addition is commutative) in 24 operations instead of about 64:
// each level adds two vectors' halves packed into one.
inline void reduce_add_8(const __m512 x[8], float* out) {
  __m512 s[4], u[2];
  for (int k = 0; k < 4; ++k)  // lanes i + (i + 8): (x[2k] | x[2k + 1]) by 128-bit quarters 0 1 | 0 1
    s[k] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int k = 0; k < 2; ++k)  // i + (i + 4): quarter q holds x[4k + q]
    u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * k], s[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(s[2 * k], s[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  // i + (i + 2): quarter q holds x[q] in lanes 0 1 and x[4 + q] in lanes 2 3; then i + (i + 1).
  const __m512 v = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 w = _mm512_add_ps(v, _mm512_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  _mm256_storeu_ps(out, _mm512_castps512_ps256(_mm512_permutexvar_ps(idx, w)));
}

inline __m512d exp_pd(__m512d x) {
  const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(1.4426950408889634074)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(6.93147180369123816490e-01), x);
  r = _mm512_fnmadd_pd(n, _mm512_set1_pd(1.90821492927058770002e-10), r);
  // Horner over 1/k!, k = 13 .. 0.
  __m512d p = _mm512_set1_pd(kExpSeries[0]);
  for (int k = 1; k < 14; ++k) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kExpSeries[k]));
  return _mm512_scalef_pd(p, n);
}

inline __m512d log1p_pd(__m512d x) {
  const __m512d z = _mm512_div_pd(x, _mm512_add_pd(_mm512_set1_pd(2.0), x));
  const __m512d z2 = _mm512_mul_pd(z, z);
  // 2 z sum_k z^(2k) / (2k + 1), k = 16 .. 0.
  __m512d p = _mm512_set1_pd(1.0 / 33.0);
  for (int k = 15; k >= 0; --k) p = _mm512_fmadd_pd(p, z2, _mm512_set1_pd(1.0 / double(2 * k + 1)));
  return _mm512_mul_pd(_mm512_add_pd(z, z), p);
}

// 1 / (1 + 2^t) for 16 floats, t = -x log2 e, so sigmoid(x) for a caller that
// keeps its sums pre-scaled by -log2 e (NADE's binary passes): without a
// branch, in 12 vector operations: t = floor(t) + g, g in [0, 1) exactly
// (vreduceps), 2^g by its minimax polynomial of degree 5 (relative error
// 7.5e-8, below float's half ulp; degree 6 cost one more FMA for 1.9e-9 that
// the float rounding of its Horner steps hid) and 2^floor(t) by vscalefps,
// which floors t itself; then 1 / d, d = 1 + 2^t, by the hardware reciprocal
// estimate and one Newton step r + r (1 - d r). t is capped at 125 so that
// 1 / d stays a normal float; t = -inf gives g = 0, 2^t = 0 and 1; a NaN
// stays NaN. (vdivps was the single most expensive instruction of NADE's
// training; a Taylor series with round-to-nearest took 19 operations.)
inline __m512 sigmoid_exp2_ps(__m512 t) {
  t = _mm512_min_ps(_mm512_set1_ps(125.0f), t);
#if defined(__AVX512DQ__)
  const __m512 g = _mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);  // t - floor(t)
#else
  const __m512 g = _mm512_sub_ps(t, _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
#endif
  // Horner over the minimax coefficients (relative error) of 2^g on [0, 1), degree 5 .. 0.
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.8775766752169808e-3f), g, _mm512_set1_ps(8.989340090433699e-3f));
  p = _mm512_fmadd_ps(p, g, _mm512_set1_ps(5.582631805334362e-2f));
  p = _mm512_fmadd_ps(p, g, _mm512_set1_ps(0.24015361704436247f));
  p = _mm512_fmadd_ps(p, g, _mm512_set1_ps(0.6931530732001695f));
  p = _mm512_fmadd_ps(p, g, _mm512_set1_ps(0.9999999250635262f));
  const __m512 d = _mm512_add_ps(_mm512_scalef_ps(p, t), _mm512_set1_ps(1.0f));
  const __m512 r = _mm512_rcp14_ps(d);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}

// sigmoid(x) = 1 / (1 + e^-x) for 16 floats: sigmoid_exp2_ps(-x log2 e), 13
// vector operations (x >= -86.6 below the cap; x = +inf gives 1).
inline __m512 sigmoid_ps(__m512 x) { return sigmoid_exp2_ps(_mm512_mul_ps(x, _mm512_set1_ps(kNegLog2e))); }

}  // namespace dgm::nn::simd

#endif  // __AVX512F__
