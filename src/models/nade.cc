// nade.cc — NADE, the Neural Autoregressive Distribution Estimator (Larochelle
// & Murray, 2011): h_d = sigmoid(a_d), P(x_d | x_<d) = softmax(0, b_d + V_d h_d),
// with one shared input matrix and the running sum a_1 = c (+ U y),
// a_{d+1} = a_d + W[:, d] x_d, so all D conditionals cost O(D H) a sample.
//
// Batched over a chunk of n rows: A (n, H) advances position by position; the
// gradient (hand-written, eq. 3 of the paper generalised to softmax outputs)
// runs backwards over blocks of kBlock positions, recomputing each block's
// hidden states from a checkpoint of A so every sigmoid is evaluated once and
// memory stays O(n H D / kBlock). Binary data does less work: after x_d = 0
// the running sum does not move, so h_{d+1} = h_d and sigmoids are evaluated
// only where a run of equal states starts (a third of the positions of
// binarised Fashion-MNIST), each fused with its first logit; the backward pass
// sums dz V over a run before multiplying by sigma' once. Binary scoring runs
// over tiles of 16 rows and blocks of 8 positions, row by row within a block,
// so that a row's running sum and hidden state stay in the first-level cache
// over the block, and a run's logits in the block come with its sigmoids.
#include <algorithm>
#include <cmath>
#include <memory>

#include "nn/eigen.h"

#include "dgm/error.h"
#include "dgm/model_file.h"
#include "dgm/models/autoregressive.h"
#include "nn/simd_math.h"
#include "nn/workspace.h"

namespace dgm {

namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;
using RowF = Eigen::Matrix<float, 1, Eigen::Dynamic>;

constexpr int64_t kBlock = 16;  // positions a checkpoint block
constexpr size_t kScoreTile = 16;  // rows a binary scoring pass
constexpr int64_t kScoreSpan = 8;  // positions a block of it, row by row (at most 8: add_sigmoid_dots)

// AVX2 without AVX-512 (Zen 3 and older cores): the kernels below on 8-float
// vectors, sigmoid_exp2_ps and reduce_add_8 of simd_math.h; a dot product a
// row keeps one 8-lane accumulator, so 8 rows fill 8 of the 16 ymm registers.
#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#define DGM_NADE_AVX2 1
// Lanes [0, remaining) of an 8-float vector on (none at 0 or below, all from 8).
inline __m256i lanes8(long remaining) {
  const int r = int(std::clamp(remaining, 0L, 8L));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// A plain load and store when Full, masked ones (lanes off read as 0, not written) otherwise.
template <bool Full>
inline __m256 load8(const float* p, __m256i m) {
  if constexpr (Full) return _mm256_loadu_ps(p);
  else return _mm256_maskload_ps(p, m);
}
template <bool Full>
inline void store8(float* p, __m256i m, __m256 x) {
  if constexpr (Full) _mm256_storeu_ps(p, x);
  else _mm256_maskstore_ps(p, m, x);
}
#endif

// The hot loop of NADE is the float sigmoid, nn::simd::sigmoid_ps (simd_math.h)
// with AVX-512 (sigmoid_exp2_ps on pre-scaled sums in the binary passes).
void sigmoid(const float* a, float* h, long n) {
  long i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(h + i, nn::simd::sigmoid_ps(_mm512_loadu_ps(a + i)));
#elif defined(DGM_NADE_AVX2)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(h + i, nn::simd::sigmoid_ps(_mm256_loadu_ps(a + i)));
#endif
  for (; i < n; ++i) h[i] = 1.0f / (1.0f + std::exp(-a[i]));
}

// h = sigmoid(a) and returns dot(h, v) over n floats in one pass (the binary
// logit while h is still in registers); a fixed summation order.
float sigmoid_dot(const float* a, float* h, const float* v, long n) {
  long i = 0;
  float dot = 0.0f;
#if defined(__AVX512F__)
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m512 y = nn::simd::sigmoid_ps(_mm512_loadu_ps(a + i));
    _mm512_storeu_ps(h + i, y);
    acc = _mm512_fmadd_ps(y, _mm512_loadu_ps(v + i), acc);
  }
  dot = _mm512_reduce_add_ps(acc);
#elif defined(DGM_NADE_AVX2)
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 y = nn::simd::sigmoid_ps(_mm256_loadu_ps(a + i));
    _mm256_storeu_ps(h + i, y);
    acc = _mm256_fmadd_ps(y, _mm256_loadu_ps(v + i), acc);
  }
  dot = nn::simd::reduce_add(acc);
#endif
  for (; i < n; ++i) {
    h[i] = 1.0f / (1.0f + std::exp(-a[i]));
    dot += h[i] * v[i];
  }
  return dot;
}

#if defined(__AVX512F__)
// z[k] = the lane sum of acc0[k] + acc1[k] for K <= 8 rows; from 4 rows on
// through reduce_add_8, which gives the same floats as one reduction a row.
template <int K>
inline void reduce_pairs(const __m512* acc0, const __m512* acc1, float* z) {
  if constexpr (K >= 4) {
    __m512 s[8];
    #pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) s[k] = k < K ? _mm512_add_ps(acc0[k], acc1[k]) : _mm512_setzero_ps();
    float t[8];
    nn::simd::reduce_add_8(s, t);
    #pragma GCC unroll 8
    for (int k = 0; k < K; ++k) z[k] = t[k];
  } else {
    #pragma GCC unroll 8
    for (int k = 0; k < K; ++k) z[k] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[k], acc1[k]));
  }
}
#elif defined(DGM_NADE_AVX2)
// z[k] = the lane sum of acc[k] for K <= 8 rows, all through reduce_add_8
// (each row's sum in one order, whatever K).
template <int K>
inline void reduce_rows(const __m256* acc, float* z) {
  __m256 s[8];
  #pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) s[k] = k < K ? acc[k] : _mm256_setzero_ps();
  float t[8];
  nn::simd::reduce_add_8(s, t);
  #pragma GCC unroll 8
  for (int k = 0; k < K; ++k) z[k] = t[k];
}
#endif

// The binary model's hidden states are reused: h_{d+1} = h_d whenever x_d = 0
// (a does not move), so add_sigmoid_dot runs only where a run of positions
// sharing one state starts, and dot_rows forms the other rows' logits V_d . h.

// A run's start fused, on sums pre-scaled by -log2 e (t = -a log2 e, w the
// same of the input weights): t += w (Add; else t as it is), h = sigmoid(a) =
// 1 / (1 + 2^t) (stored when Keep: a run that ends where it is formed never
// reads it again), and z[k] = v[k] . h for the K rows v (the logits of the
// run's first K positions) while h is in registers, each summed exactly as
// dot_tile sums a row (even and odd vectors in two accumulators), so the same
// floats as dot_rows over the stored h.
template <bool Add, bool Keep, int K>
void add_sigmoid_dots(float* a, const float* w, float* h, const float* const* v, long n, float* z) {
#if defined(__AVX512F__)
  __m512 acc0[K], acc1[K];
  #pragma GCC unroll 8
  for (int k = 0; k < K; ++k) acc0[k] = acc1[k] = _mm512_setzero_ps();
  long i = 0;
  for (; i + 32 <= n; i += 32) {  // whole pairs of vectors, no masks
    __m512 a0 = _mm512_loadu_ps(a + i), a1 = _mm512_loadu_ps(a + i + 16);
    if (Add) {
      a0 = _mm512_add_ps(a0, _mm512_loadu_ps(w + i));
      a1 = _mm512_add_ps(a1, _mm512_loadu_ps(w + i + 16));
      _mm512_storeu_ps(a + i, a0);
      _mm512_storeu_ps(a + i + 16, a1);
    }
    const __m512 h0 = nn::simd::sigmoid_exp2_ps(a0), h1 = nn::simd::sigmoid_exp2_ps(a1);
    if (Keep) {
      _mm512_storeu_ps(h + i, h0);
      _mm512_storeu_ps(h + i + 16, h1);
    }
    #pragma GCC unroll 8
    for (int k = 0; k < K; ++k) {
      acc0[k] = _mm512_fmadd_ps(_mm512_loadu_ps(v[k] + i), h0, acc0[k]);
      acc1[k] = _mm512_fmadd_ps(_mm512_loadu_ps(v[k] + i + 16), h1, acc1[k]);
    }
  }
  if (i < n) {  // the last pair, masked
    const __mmask16 m0 = nn::simd::lane_mask(n - i), m1 = nn::simd::lane_mask(n - i - 16);
    __m512 a0 = _mm512_maskz_loadu_ps(m0, a + i), a1 = _mm512_maskz_loadu_ps(m1, a + i + 16);
    if (Add) {
      a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, w + i));
      a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, w + i + 16));
      _mm512_mask_storeu_ps(a + i, m0, a0);
      _mm512_mask_storeu_ps(a + i + 16, m1, a1);
    }
    const __m512 h0 = nn::simd::sigmoid_exp2_ps(a0), h1 = nn::simd::sigmoid_exp2_ps(a1);
    if (Keep) {
      _mm512_mask_storeu_ps(h + i, m0, h0);
      _mm512_mask_storeu_ps(h + i + 16, m1, h1);
    }
    #pragma GCC unroll 8
    for (int k = 0; k < K; ++k) {
      acc0[k] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, v[k] + i), h0, acc0[k]);
      acc1[k] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, v[k] + i + 16), h1, acc1[k]);
    }
  }
  reduce_pairs<K>(acc0, acc1, z);
#elif defined(DGM_NADE_AVX2)
  // One accumulator a row over 8-float vectors, as dot_tile sums a row.
  __m256 acc[K];
  #pragma GCC unroll 8
  for (int k = 0; k < K; ++k) acc[k] = _mm256_setzero_ps();
  auto step = [&](long i, auto full, __m256i m) {
    constexpr bool Full = decltype(full)::value;
    __m256 t = load8<Full>(a + i, m);
    if (Add) {
      t = _mm256_add_ps(t, load8<Full>(w + i, m));
      store8<Full>(a + i, m, t);
    }
    const __m256 hv = nn::simd::sigmoid_exp2_ps(t);
    if (Keep) store8<Full>(h + i, m, hv);
    #pragma GCC unroll 8
    for (int k = 0; k < K; ++k) acc[k] = _mm256_fmadd_ps(load8<Full>(v[k] + i, m), hv, acc[k]);
  };
  long i = 0;
  for (; i + 8 <= n; i += 8) step(i, std::true_type{}, __m256i{});
  if (i < n) step(i, std::false_type{}, lanes8(n - i));  // the last vector, masked
  reduce_rows<K>(acc, z);
#else
  float acc[K][2] = {};
  for (long i = 0; i < n; ++i) {
    if (Add) a[i] += w[i];
    const float hi = 1.0f / (1.0f + std::exp2(a[i]));
    if (Keep) h[i] = hi;
    for (int k = 0; k < K; ++k) acc[k][(i / 16) & 1] += v[k][i] * hi;
  }
  for (int k = 0; k < K; ++k) z[k] = acc[k][0] + acc[k][1];
#endif
}

// The logit of one position: add_sigmoid_dots of one row v.
template <bool Add, bool Keep>
float add_sigmoid_dot(float* a, const float* w, float* h, const float* v, long n) {
  float z;
  add_sigmoid_dots<Add, Keep, 1>(a, w, h, &v, n, &z);
  return z;
}

// add_sigmoid_dots for k = 1 .. 8 rows chosen at run time.
template <bool Add, bool Keep>
void add_sigmoid_dots(float* a, const float* w, float* h, const float* const* v, int64_t k, long n, float* z) {
  switch (k) {
    case 1: add_sigmoid_dots<Add, Keep, 1>(a, w, h, v, n, z); break;
    case 2: add_sigmoid_dots<Add, Keep, 2>(a, w, h, v, n, z); break;
    case 3: add_sigmoid_dots<Add, Keep, 3>(a, w, h, v, n, z); break;
    case 4: add_sigmoid_dots<Add, Keep, 4>(a, w, h, v, n, z); break;
    case 5: add_sigmoid_dots<Add, Keep, 5>(a, w, h, v, n, z); break;
    case 6: add_sigmoid_dots<Add, Keep, 6>(a, w, h, v, n, z); break;
    case 7: add_sigmoid_dots<Add, Keep, 7>(a, w, h, v, n, z); break;
    case 8: add_sigmoid_dots<Add, Keep, 8>(a, w, h, v, n, z); break;
    default: break;
  }
}

// z[r] = v . rows[r] (n floats) for nr rows, 8 rows at a time sharing each
// load of v; per row two accumulators (even and odd vectors) summed at the end,
// so a row's value does not depend on the rows beside it.
template <int M>
void dot_tile(const float* v, const float* const* rows, long n, float* z) {
#if defined(__AVX512F__)
  __m512 acc0[M], acc1[M];
  #pragma GCC unroll 8
  for (int r = 0; r < M; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (long i = 0; i < n; i += 32) {
    const __mmask16 m0 = nn::simd::lane_mask(n - i), m1 = nn::simd::lane_mask(n - i - 16);
    const __m512 v0 = _mm512_maskz_loadu_ps(m0, v + i), v1 = _mm512_maskz_loadu_ps(m1, v + i + 16);
    #pragma GCC unroll 8
    for (int r = 0; r < M; ++r) {
      acc0[r] = _mm512_fmadd_ps(v0, _mm512_maskz_loadu_ps(m0, rows[r] + i), acc0[r]);
      acc1[r] = _mm512_fmadd_ps(v1, _mm512_maskz_loadu_ps(m1, rows[r] + i + 16), acc1[r]);
    }
  }
  reduce_pairs<M>(acc0, acc1, z);
#elif defined(DGM_NADE_AVX2)
  __m256 acc[M];
  #pragma GCC unroll 8
  for (int r = 0; r < M; ++r) acc[r] = _mm256_setzero_ps();
  auto step = [&](long i, auto full, __m256i m) {
    constexpr bool Full = decltype(full)::value;
    const __m256 v0 = load8<Full>(v + i, m);
    #pragma GCC unroll 8
    for (int r = 0; r < M; ++r) acc[r] = _mm256_fmadd_ps(v0, load8<Full>(rows[r] + i, m), acc[r]);
  };
  long i = 0;
  for (; i + 8 <= n; i += 8) step(i, std::true_type{}, __m256i{});
  if (i < n) step(i, std::false_type{}, lanes8(n - i));
  reduce_rows<M>(acc, z);
#else
  for (int r = 0; r < M; ++r) {
    float acc[2] = {0.0f, 0.0f};
    for (long i = 0; i < n; ++i) acc[(i / 16) & 1] += v[i] * rows[r][i];
    z[r] = acc[0] + acc[1];
  }
#endif
}

void dot_rows(const float* v, const float* const* rows, int64_t nr, long n, float* z) {
  int64_t r0 = 0;
  for (; r0 + 8 <= nr; r0 += 8) dot_tile<8>(v, rows + r0, n, z + r0);
  switch (nr - r0) {
    case 7: dot_tile<7>(v, rows + r0, n, z + r0); break;
    case 6: dot_tile<6>(v, rows + r0, n, z + r0); break;
    case 5: dot_tile<5>(v, rows + r0, n, z + r0); break;
    case 4: dot_tile<4>(v, rows + r0, n, z + r0); break;
    case 3: dot_tile<3>(v, rows + r0, n, z + r0); break;
    case 2: dot_tile<2>(v, rows + r0, n, z + r0); break;
    case 1: dot_tile<1>(v, rows + r0, n, z + r0); break;
    default: break;
  }
}

// Vectors of 16 floats a pass of add_weighted_rows, advance_rows and run_sum
// keeps in registers: eight independent FMA chains, each row's broadcast
// shared by 128 columns.
constexpr int kStrip = 8;

#if defined(DGM_NADE_AVX2)
// The lane-wise passes on AVX2 over strips of S 8-float vectors: whole strips
// with plain loads, then the last (partial) strip with masks. Each column's
// sum runs over the rows in order whatever S, so S only sets register use:
// S accumulators (two sets of them in add_weighted_rows2) of 16 registers.
template <int S, class Pass>
inline void strips(long& j, long n, Pass pass) {
  for (; j + 8 * S <= n; j += 8 * S) pass(std::true_type{});
  if (j < n) pass(std::false_type{});
  j = n;
}
template <int S, bool Full>
inline void masks8(long n, long j, __m256i m[S]) {
  for (int u = 0; u < S; ++u) m[u] = Full ? _mm256_setzero_si256() : lanes8(n - j - 8 * u);
}
constexpr int kStrip8 = 8;   // add_weighted_rows, advance_rows, run_sum
constexpr int kStrip8x2 = 6;  // add_weighted_rows2
#endif

// dst[j] += sum_r c[r] * rows[r][j], j < n: the rows' weighted sum formed in
// registers, 16 kStrip values at a time, with one store (dV of a position over the rows).
void add_weighted_rows(float* dst, const float* const* rows, const float* c, int64_t nr, long n) {
  long j = 0;
#if defined(__AVX512F__)
  for (; j < n; j += 16 * kStrip) {
    __mmask16 m[kStrip];
    nn::simd::masks<kStrip>(n, j, m);
    __m512 acc[kStrip];
    for (int v = 0; v < kStrip; ++v) acc[v] = _mm512_setzero_ps();
    for (int64_t r = 0; r < nr; ++r) {
      const __m512 cr = _mm512_set1_ps(c[r]);
      for (int v = 0; v < kStrip; ++v) acc[v] = _mm512_fmadd_ps(cr, _mm512_maskz_loadu_ps(m[v], rows[r] + j + 16 * v), acc[v]);
    }
    for (int v = 0; v < kStrip; ++v)
      nn::simd::store(dst + j + 16 * v, m[v], _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], dst + j + 16 * v), acc[v]));
  }
#elif defined(DGM_NADE_AVX2)
  constexpr int S = kStrip8;
  strips<S>(j, n, [&](auto full) {
    constexpr bool Full = decltype(full)::value;
    __m256i m[S];
    masks8<S, Full>(n, j, m);
    __m256 acc[S];
    for (int u = 0; u < S; ++u) acc[u] = _mm256_setzero_ps();
    for (int64_t r = 0; r < nr; ++r) {
      const __m256 cr = _mm256_set1_ps(c[r]);
      for (int u = 0; u < S; ++u) acc[u] = _mm256_fmadd_ps(cr, load8<Full>(rows[r] + j + 8 * u, m[u]), acc[u]);
    }
    for (int u = 0; u < S; ++u)
      store8<Full>(dst + j + 8 * u, m[u], _mm256_add_ps(load8<Full>(dst + j + 8 * u, m[u]), acc[u]));
  });
#else
  for (; j < n; ++j) {
    float acc = 0.0f;
    for (int64_t r = 0; r < nr; ++r) acc += c[r] * rows[r][j];
    dst[j] += acc;
  }
#endif
}

// add_weighted_rows for two positions at once (dst0 from rows0 and c0, dst1
// from rows1 and c1, each the same sums in the same order): a row whose state
// both positions use (rows1[r] == rows0[r], its run going on) is loaded once.
void add_weighted_rows2(float* dst0, float* dst1, const float* const* rows0, const float* const* rows1,
                        const float* c0, const float* c1, int64_t nr, long n) {
#if defined(__AVX512F__)
  constexpr int kS = kStrip;
  for (long j = 0; j < n; j += 16 * kS) {
    __mmask16 m[kS];
    nn::simd::masks<kS>(n, j, m);
    __m512 a0[kS], a1[kS];
    for (int v = 0; v < kS; ++v) a0[v] = a1[v] = _mm512_setzero_ps();
    for (int64_t r = 0; r < nr; ++r) {
      const __m512 k0 = _mm512_set1_ps(c0[r]), k1 = _mm512_set1_ps(c1[r]);
      if (rows1[r] == rows0[r]) {
        for (int v = 0; v < kS; ++v) {
          const __m512 x = _mm512_maskz_loadu_ps(m[v], rows0[r] + j + 16 * v);
          a0[v] = _mm512_fmadd_ps(k0, x, a0[v]);
          a1[v] = _mm512_fmadd_ps(k1, x, a1[v]);
        }
      } else {
        for (int v = 0; v < kS; ++v) {
          a0[v] = _mm512_fmadd_ps(k0, _mm512_maskz_loadu_ps(m[v], rows0[r] + j + 16 * v), a0[v]);
          a1[v] = _mm512_fmadd_ps(k1, _mm512_maskz_loadu_ps(m[v], rows1[r] + j + 16 * v), a1[v]);
        }
      }
    }
    for (int v = 0; v < kS; ++v) {
      nn::simd::store(dst0 + j + 16 * v, m[v], _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], dst0 + j + 16 * v), a0[v]));
      nn::simd::store(dst1 + j + 16 * v, m[v], _mm512_add_ps(_mm512_maskz_loadu_ps(m[v], dst1 + j + 16 * v), a1[v]));
    }
  }
#elif defined(DGM_NADE_AVX2)
  constexpr int S = kStrip8x2;
  long j = 0;
  strips<S>(j, n, [&](auto full) {
    constexpr bool Full = decltype(full)::value;
    __m256i m[S];
    masks8<S, Full>(n, j, m);
    __m256 a0[S], a1[S];
    for (int u = 0; u < S; ++u) a0[u] = a1[u] = _mm256_setzero_ps();
    for (int64_t r = 0; r < nr; ++r) {
      const __m256 k0 = _mm256_set1_ps(c0[r]), k1 = _mm256_set1_ps(c1[r]);
      if (rows1[r] == rows0[r]) {
        for (int u = 0; u < S; ++u) {
          const __m256 x = load8<Full>(rows0[r] + j + 8 * u, m[u]);
          a0[u] = _mm256_fmadd_ps(k0, x, a0[u]);
          a1[u] = _mm256_fmadd_ps(k1, x, a1[u]);
        }
      } else {
        for (int u = 0; u < S; ++u) {
          a0[u] = _mm256_fmadd_ps(k0, load8<Full>(rows0[r] + j + 8 * u, m[u]), a0[u]);
          a1[u] = _mm256_fmadd_ps(k1, load8<Full>(rows1[r] + j + 8 * u, m[u]), a1[u]);
        }
      }
    }
    for (int u = 0; u < S; ++u) {
      store8<Full>(dst0 + j + 8 * u, m[u], _mm256_add_ps(load8<Full>(dst0 + j + 8 * u, m[u]), a0[u]));
      store8<Full>(dst1 + j + 8 * u, m[u], _mm256_add_ps(load8<Full>(dst1 + j + 8 * u, m[u]), a1[u]));
    }
  });
#else
  add_weighted_rows(dst0, rows0, c0, nr, n);
  add_weighted_rows(dst1, rows1, c1, nr, n);
#endif
}

// dst[j] = (((src[j] + rows[0][j]) + rows[1][j]) + ...), j < n: a running sum
// advanced over nr positions in registers, in the order the position-by-position
// additions make (the same floats), with one store (the next checkpoint).
void advance_rows(float* dst, const float* src, const float* const* rows, int64_t nr, long n) {
  long j = 0;
#if defined(__AVX512F__)
  for (; j < n; j += 16 * kStrip) {
    __mmask16 m[kStrip];
    nn::simd::masks<kStrip>(n, j, m);
    __m512 acc[kStrip];
    for (int v = 0; v < kStrip; ++v) acc[v] = _mm512_maskz_loadu_ps(m[v], src + j + 16 * v);
    for (int64_t r = 0; r < nr; ++r)
      for (int v = 0; v < kStrip; ++v) acc[v] = _mm512_add_ps(acc[v], _mm512_maskz_loadu_ps(m[v], rows[r] + j + 16 * v));
    for (int v = 0; v < kStrip; ++v) nn::simd::store(dst + j + 16 * v, m[v], acc[v]);
  }
#elif defined(DGM_NADE_AVX2)
  constexpr int S = kStrip8;
  strips<S>(j, n, [&](auto full) {
    constexpr bool Full = decltype(full)::value;
    __m256i m[S];
    masks8<S, Full>(n, j, m);
    __m256 acc[S];
    for (int u = 0; u < S; ++u) acc[u] = load8<Full>(src + j + 8 * u, m[u]);
    for (int64_t r = 0; r < nr; ++r)
      for (int u = 0; u < S; ++u) acc[u] = _mm256_add_ps(acc[u], load8<Full>(rows[r] + j + 8 * u, m[u]));
    for (int u = 0; u < S; ++u) store8<Full>(dst + j + 8 * u, m[u], acc[u]);
  });
#else
  for (; j < n; ++j) {
    float acc = src[j];
    for (int64_t r = 0; r < nr; ++r) acc += rows[r][j];
    dst[j] = acc;
  }
#endif
}

// The open run's sum S += sum_k c[k] * rows[k] (rows = V of its positions in
// this block; S taken as 0, not read, when `fresh`); when `close` (the run
// starts here, h its hidden state) G += S . h (1 - h) and S is left as it is
// (the row's next run starts fresh), else S is stored.
void run_sum(float* S, float* G, const float* h, const float* const* rows, const float* c, int64_t nr, long n,
             bool fresh, bool close) {
  long j = 0;
#if defined(__AVX512F__)
  for (; j < n; j += 16 * kStrip) {
    __mmask16 m[kStrip];
    nn::simd::masks<kStrip>(n, j, m);
    __m512 acc[kStrip];
    for (int v = 0; v < kStrip; ++v) acc[v] = fresh ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[v], S + j + 16 * v);
    for (int64_t r = 0; r < nr; ++r) {
      const __m512 cr = _mm512_set1_ps(c[r]);
      for (int v = 0; v < kStrip; ++v) acc[v] = _mm512_fmadd_ps(cr, _mm512_maskz_loadu_ps(m[v], rows[r] + j + 16 * v), acc[v]);
    }
    for (int v = 0; v < kStrip; ++v) {
      if (!close) {
        nn::simd::store(S + j + 16 * v, m[v], acc[v]);
        continue;
      }
      const __m512 hv = _mm512_maskz_loadu_ps(m[v], h + j + 16 * v);
      const __m512 dsig = _mm512_fnmadd_ps(hv, hv, hv);  // h - h^2
      float* g = G + j + 16 * v;
      nn::simd::store(g, m[v], _mm512_fmadd_ps(acc[v], dsig, _mm512_maskz_loadu_ps(m[v], g)));
    }
  }
#elif defined(DGM_NADE_AVX2)
  constexpr int U = kStrip8;
  strips<U>(j, n, [&](auto full) {
    constexpr bool Full = decltype(full)::value;
    __m256i m[U];
    masks8<U, Full>(n, j, m);
    __m256 acc[U];
    for (int u = 0; u < U; ++u) acc[u] = fresh ? _mm256_setzero_ps() : load8<Full>(S + j + 8 * u, m[u]);
    for (int64_t r = 0; r < nr; ++r) {
      const __m256 cr = _mm256_set1_ps(c[r]);
      for (int u = 0; u < U; ++u) acc[u] = _mm256_fmadd_ps(cr, load8<Full>(rows[r] + j + 8 * u, m[u]), acc[u]);
    }
    for (int u = 0; u < U; ++u) {
      if (!close) {
        store8<Full>(S + j + 8 * u, m[u], acc[u]);
        continue;
      }
      const __m256 hv = load8<Full>(h + j + 8 * u, m[u]);
      const __m256 dsig = _mm256_fnmadd_ps(hv, hv, hv);  // h - h^2
      float* g = G + j + 8 * u;
      store8<Full>(g, m[u], _mm256_fmadd_ps(acc[u], dsig, load8<Full>(g, m[u])));
    }
  });
#else
  for (; j < n; ++j) {
    float acc = fresh ? 0.0f : S[j];
    for (int64_t r = 0; r < nr; ++r) acc += c[r] * rows[r][j];
    if (close) {
      G[j] += acc * (h[j] - h[j] * h[j]);
    } else {
      S[j] = acc;
    }
  }
#endif
}

class Nade : public AutoregressiveModel {
 public:
  Nade(const Space& space, ConfigSection& m, ConfigSection& t)
      : AutoregressiveModel(space, "nade", m, t, TrainOptions{}) {
    H_ = m.get_int("hidden", 500, 1, 1 << 20);
    w_ = params_.add("w", {uint64_t(F_), uint64_t(H_)});          // (F, H): row f = input weights of feature f
    c_ = params_.add("c", {uint64_t(H_)});                         // (H)
    v_ = params_.add("v", {uint64_t(D_ * Km1_), uint64_t(H_)});    // (D*(K-1), H)
    b_ = params_.add("b", {uint64_t(D_ * Km1_)});                  // (D*(K-1))
    if (L_ > 0) {
      u_ = params_.add("u", {uint64_t(L_), uint64_t(H_)});          // (L, H) label -> hidden
      q_ = params_.add("q", {uint64_t(L_), uint64_t(D_ * Km1_)});   // (L, D*(K-1)) label -> output bias
    }
    params_.allocate();
  }

  size_t chunk_rows() const override { return 50; }
  size_t score_chunk_rows() const override { return 64; }

 protected:
  void init_parameters(Rng& rng) override {
    float* p = params_.data();
    std::fill(p, p + params_.size(), 0.0f);
    auto fill = [&](size_t off, int64_t count, double bound) {
      for (int64_t i = 0; i < count; ++i) p[off + size_t(i)] = float((2.0 * rng.uniform() - 1.0) * bound);
    };
    fill(w_, F_ * H_, 1.0 / std::sqrt(double(F_)));
    fill(v_, D_ * Km1_ * H_, 1.0 / std::sqrt(double(H_)));
    if (L_ > 0) fill(u_, L_ * H_, 1.0 / std::sqrt(double(F_)));
  }

  void describe_extra(json& j) const override { j["hidden"] = H_; }

  // A = c + U[y].
  void init_state(const int32_t* y, size_t n, MatR& A) const {
    const float* p = params_.data();
    Eigen::Map<const RowF> c(p + c_, long(H_));
    A.resize(long(n), long(H_));
    for (size_t i = 0; i < n; ++i) {
      A.row(long(i)) = c;
      if (L_ > 0) A.row(long(i)) += Eigen::Map<const RowF>(p + u_ + size_t(y[i]) * size_t(H_), long(H_));
    }
  }

  // A += the input weights of x_d, for every row.
  void advance(const int32_t* x, size_t n, int64_t d, MatR& A) const {
    const float* p = params_.data();
    for (size_t i = 0; i < n; ++i) {
      int64_t col;
      float val;
      if (feature(d, x[i * size_t(D_) + size_t(d)], &col, &val))
        A.row(long(i)) += val * Eigen::Map<const RowF>(p + w_ + size_t(col) * size_t(H_), long(H_));
    }
  }

  // Z (n, K-1) = Hd V_d^T + b_d + Q[y, d].
  void logits(const float* Hd, const int32_t* y, size_t n, int64_t d, MatR& Z) const {
    const float* p = params_.data();
    CMapR Hm(Hd, long(n), long(H_));
    CMapR V(p + v_ + size_t(d * Km1_) * size_t(H_), long(Km1_), long(H_));
    // Row by row: one product kernel for every sample, whatever the batch's
    // size (a matrix product's kernels take rows in blocks and the rows left
    // over another way, so a sample's logits, and with them the sum of the
    // probabilities over a space, depended on its place in the batch).
    Z.resize(long(n), long(Km1_));
    for (size_t i = 0; i < n; ++i) Z.row(long(i)).noalias() = Hm.row(long(i)) * V.transpose();
    for (size_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < Km1_; ++k) {
        float bias = p[b_ + size_t(d * Km1_ + k)];
        if (L_ > 0) bias += p[q_ + size_t(y[i]) * size_t(D_ * Km1_) + size_t(d * Km1_ + k)];
        Z(long(i), long(k)) += bias;
      }
  }

  // Hd (n, H) = sigmoid(A) and Z (n, K-1) its logits; for binary data the
  // dot product is fused into the sigmoid pass.
  void hidden_and_logits(const MatR& A, float* Hd, const int32_t* y, size_t n, int64_t d, MatR& Z) const {
    if (Km1_ != 1) {
      // Row by row, so that every sample's hidden units go through the same
      // (vector or scalar) sigmoid whatever its place in the batch: a sample's
      // probability must not depend on its neighbours.
      for (size_t i = 0; i < n; ++i) sigmoid(A.data() + i * size_t(H_), Hd + i * size_t(H_), long(H_));
      logits(Hd, y, n, d, Z);
      return;
    }
    const float* p = params_.data();
    Z.resize(long(n), 1);
    for (size_t i = 0; i < n; ++i) {
      float bias = p[b_ + size_t(d)];
      if (L_ > 0) bias += p[q_ + size_t(y[i]) * size_t(D_) + size_t(d)];
      Z(long(i), 0) = sigmoid_dot(A.data() + i * size_t(H_), Hd + i * size_t(H_), p + v_ + size_t(d) * size_t(H_), long(H_)) + bias;
    }
  }

  // Per scoring call (binary data): binary_weights() once for all its chunks.
  struct Scaled : Derived {
    FloatBuffer w, v;  // binary_weights()
  };
  std::unique_ptr<const Derived> derive() const override {
    if (Km1_ != 1) return nullptr;
    auto d = std::make_unique<Scaled>();
    const size_t count = size_t(D_) * size_t(padded_hidden());
    d->w.resize(count);
    d->v.resize(count);
    binary_weights(d->w.data(), d->v.data());
    return d;
  }

  void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int, const uint8_t* known, double* out,
                     const Derived* derived) const override {
    if (Km1_ == 1) {
      // Tiles of kScoreTile rows: their running sums and hidden states stay in
      // the first-level cache over the whole pass (rows are independent, so the
      // tiling does not change a value).
      nn::Workspace& ws = nn::thread_workspace();
      nn::Workspace::Frame frame(ws);
      const auto* scaled = dynamic_cast<const Scaled*>(derived);
      const BinaryWeights bw = scaled ? BinaryWeights{scaled->w.data(), scaled->v.data()} : binary_weights(ws);
      for (size_t r0 = 0; r0 < n; r0 += kScoreTile) {
        const size_t m = std::min(kScoreTile, n - r0);
        binary_score(x + r0 * size_t(D_), y + r0, m, known ? known + r0 * size_t(D_) : nullptr, out + r0, bw);
      }
      return;
    }
    MatR A, Hd, Z;
    FloatBuffer tcol(n);            // (n) binary targets of one position
    std::vector<double> lpcol(n);   // (n) their log-probabilities
    init_state(y, n, A);
    std::fill(out, out + n, 0.0);
    for (int64_t d = 0; d < D_; ++d) {
      Hd.resize(A.rows(), A.cols());
      hidden_and_logits(A, Hd.data(), y, n, d, Z);
      if (Km1_ == 1 && !known) {
        for (size_t i = 0; i < n; ++i) tcol[i] = float(x[i * size_t(D_) + size_t(d)]);
        binary_log_probs(Z.data(), tcol.data(), long(n), lpcol.data(), nullptr);
        for (size_t i = 0; i < n; ++i) out[i] += lpcol[i];
      } else {
        for (size_t i = 0; i < n; ++i)
          if (!known || known[i * size_t(D_) + size_t(d)])
            out[i] += log_softmax_ref(Z.data() + i * size_t(Km1_), x[i * size_t(D_) + size_t(d)], 0.0f, nullptr);
      }
      advance(x, n, d, A);
    }
  }

  void sample_rows(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, int, double temperature,
                   Rng& rng) const override {
    if (Km1_ == 1) {
      binary_sample(x, y, n, known, rng, temperature);
      return;
    }
    MatR A, Hd, Z;
    SampleScratch sc;
    init_state(y, n, A);
    for (int64_t d = 0; d < D_; ++d) {
      Hd.resize(A.rows(), A.cols());
      hidden_and_logits(A, Hd.data(), y, n, d, Z);
      for (size_t i = 0; i < n; ++i)
        if (!known || !known[i * size_t(D_) + size_t(d)])
          x[i * size_t(D_) + size_t(d)] = sample_ref(Z.data() + i * size_t(Km1_), temperature, rng, sc);
      advance(x, n, d, A);
    }
  }

  void loss_grad_rows(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad,
                      double* nll) const override {
    if (!grad) {
      log_prob_rows(x, y, n, 0, nullptr, nll, nullptr);
      for (size_t i = 0; i < n; ++i) nll[i] = -nll[i];
      return;
    }
    if (Km1_ == 1) {
      binary_grad(x, y, w, n, grad, nll);
      return;
    }
    const float* p = params_.data();
    const long N = long(n), H = long(H_);
    const int64_t blocks = (D_ + kBlock - 1) / kBlock;
    // Forward: only the running sums, checkpointed at each block start.
    MatR A;
    init_state(y, n, A);
    std::unique_ptr<float[]> ck(new float[size_t(blocks) * n * size_t(H_)]);  // (blocks, n, H), not zeroed
    for (int64_t d = 0; d < D_; ++d) {
      if (d % kBlock == 0) std::copy(A.data(), A.data() + n * size_t(H_), ck.get() + size_t(d / kBlock) * n * size_t(H_));
      advance(x, n, d, A);
    }
    std::fill(nll, nll + n, 0.0);
    MatR dA = MatR::Zero(N, H);  // d loss / d a_{d+1}, then a_d
    MatR Hs(long(kBlock) * N, H);  // (kBlock * n, H) hidden states of the block
    MatR Zs(long(kBlock) * N, long(Km1_));  // (kBlock * n, K-1) their logits
    MatR Z, dZ(N, long(Km1_));
    RowF dh(H);
    FloatBuffer tcol(n);            // (n) binary targets of one position
    std::vector<double> lpcol(n);   // (n) their log-probabilities
    for (int64_t k = blocks - 1; k >= 0; --k) {
      const int64_t d0 = k * kBlock, d1 = std::min(D_, d0 + kBlock);
      std::copy(ck.get() + size_t(k) * n * size_t(H_), ck.get() + size_t(k + 1) * n * size_t(H_), A.data());
      for (int64_t d = d0; d < d1; ++d) {
        hidden_and_logits(A, Hs.data() + size_t(d - d0) * n * size_t(H_), y, n, d, Z);
        Zs.middleRows(long(d - d0) * N, N) = Z;
        if (d + 1 < d1) advance(x, n, d, A);
      }
      for (int64_t d = d1 - 1; d >= d0; --d) {
        // Input weights of x_d feed a_{d+1}: dW[f] += val * dA_i.
        for (size_t i = 0; i < n; ++i) {
          int64_t col;
          float val;
          if (feature(d, x[i * size_t(D_) + size_t(d)], &col, &val))
            Eigen::Map<RowF>(grad + w_ + size_t(col) * size_t(H_), H) += val * dA.row(long(i));
        }
        const float* Hd = Hs.data() + size_t(d - d0) * n * size_t(H_);
        Z = Zs.middleRows(long(d - d0) * N, N);
        if (Km1_ == 1) {
          for (size_t i = 0; i < n; ++i) tcol[i] = float(x[i * size_t(D_) + size_t(d)]);
          binary_log_probs(Z.data(), tcol.data(), N, lpcol.data(), dZ.data());
          for (size_t i = 0; i < n; ++i) {
            nll[i] -= lpcol[i];
            dZ(long(i), 0) *= w[i];
          }
        } else {
          for (size_t i = 0; i < n; ++i)
            nll[i] -= log_softmax_ref(Z.data() + i * size_t(Km1_), x[i * size_t(D_) + size_t(d)], w[i],
                                      dZ.data() + i * size_t(Km1_));
        }
        CMapR V(p + v_ + size_t(d * Km1_) * size_t(H_), long(Km1_), H);
        MapR dV(grad + v_ + size_t(d * Km1_) * size_t(H_), long(Km1_), H);
        if (Km1_ == 1) {
          // Binary: dV_d += dz h_i; dA_i += dz V_d * h_i (1 - h_i). Eigen maps
          // keep these at the full vector width (GCC's loops used 256 bits).
          Eigen::Map<RowF> dv(grad + v_ + size_t(d) * size_t(H_), H);
          Eigen::Map<const RowF> vd(p + v_ + size_t(d) * size_t(H_), H);
          for (size_t i = 0; i < n; ++i) {
            const float dz = dZ(long(i), 0);
            grad[b_ + size_t(d)] += dz;
            if (L_ > 0) grad[q_ + size_t(y[i]) * size_t(D_) + size_t(d)] += dz;
            Eigen::Map<const RowF> hr(Hd + i * size_t(H_), H);
            dv += dz * hr;
            dA.row(long(i)).array() += (dz * vd.array()) * (hr.array() - hr.array().square());
          }
          continue;
        }
        for (size_t i = 0; i < n; ++i) {
          Eigen::Map<const RowF> hrow(Hd + i * size_t(H_), H);
          dh.setZero();
          for (int64_t kk = 0; kk < Km1_; ++kk) {
            const float dz = dZ(long(i), long(kk));
            grad[b_ + size_t(d * Km1_ + kk)] += dz;
            if (L_ > 0) grad[q_ + size_t(y[i]) * size_t(D_ * Km1_) + size_t(d * Km1_ + kk)] += dz;
            dh += dz * V.row(long(kk));
            dV.row(long(kk)) += dz * hrow;
          }
          dA.row(long(i)).array() += dh.array() * hrow.array() * (1.0f - hrow.array());
        }
      }
    }
    Eigen::Map<RowF>(grad + c_, H) += dA.colwise().sum();
    if (L_ > 0)
      for (size_t i = 0; i < n; ++i) Eigen::Map<RowF>(grad + u_ + size_t(y[i]) * size_t(H_), H) += dA.row(long(i));
  }

  // --- Binary data: h_{d+1} = h_d after a zero, so sigmoids are evaluated
  // only at the start of each run of positions sharing one hidden state.
  // Rows are padded to Hp floats (64-byte aligned); A (n, Hp) running sums,
  // Hh (n, Hp) hidden states, in the thread's workspace.
  int64_t padded_hidden() const { return (H_ + 15) / 16 * 16; }

  // A[i] = c + U[y_i].
  void init_rows(const int32_t* y, size_t n, float* A, int64_t Hp) const {
    const float* p = params_.data();
    for (size_t i = 0; i < n; ++i) {
      float* a = A + i * size_t(Hp);
      std::copy(p + c_, p + c_ + H_, a);
      if (L_ > 0) {
        const float* u = p + u_ + size_t(y[i]) * size_t(H_);
        for (int64_t h = 0; h < H_; ++h) a[h] += u[h];
      }
    }
  }
  // A[i] *= -log2 e: the running sums as the binary passes keep them.
  void scale_rows(size_t n, float* A, int64_t Hp) const {
    for (size_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < H_; ++j) A[i * size_t(Hp) + size_t(j)] *= nn::simd::kNegLog2e;
  }
  float bias(const int32_t* y, size_t i, int64_t d) const {
    const float* p = params_.data();
    return p[b_ + size_t(d)] + (L_ > 0 ? p[q_ + size_t(y[i]) * size_t(D_) + size_t(d)] : 0.0f);
  }

  // The binary passes' weights, rows padded to Hp floats (64-byte aligned, so
  // that no packet load splits a cache line; the pads zero): Wt (D, Hp) the
  // input weights pre-scaled by -log2 e and Vp (D, Hp) the output weights. The
  // passes keep their running sums as t = -a log2 e, so the sigmoid at a run's
  // start is 1 / (1 + 2^t) without a multiplication (sigmoid_exp2_ps);
  // scoring, sampling and training all go through these, so they round alike.
  // (Scoring derive()s them once a call; training takes Wt only, a copy of V
  // each chunk cost more than its aligned loads saved.)
  void binary_weights(float* Wt, float* Vp) const {
    const size_t Hp = size_t(padded_hidden()), H = size_t(H_);
    const float* W = params_.data() + w_;
    const float* V = params_.data() + v_;
    for (size_t d = 0; d < size_t(D_); ++d) {
      for (size_t j = 0; j < H; ++j) Wt[d * Hp + j] = W[d * H + j] * nn::simd::kNegLog2e;
      std::fill(Wt + d * Hp + H, Wt + (d + 1) * Hp, 0.0f);
      if (!Vp) continue;
      std::copy(V + d * H, V + (d + 1) * H, Vp + d * Hp);
      std::fill(Vp + d * Hp + H, Vp + (d + 1) * Hp, 0.0f);
    }
  }
  struct BinaryWeights {
    const float* w;  // Wt
    const float* v;  // Vp
  };
  BinaryWeights binary_weights(nn::Workspace& ws) const {
    const size_t count = size_t(D_) * size_t(padded_hidden());
    float* w = ws.take<float>(count);
    float* v = ws.take<float>(count);
    binary_weights(w, v);
    return {w, v};
  }

  // Sampling n rows: draws the positions not known into x, position by
  // position (each draw needs the ones before it).
  void binary_sample(int32_t* x, const int32_t* y, size_t n, const uint8_t* known, Rng& rng, double temperature) const {
    const int64_t Hp = padded_hidden(), D = D_;
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    float* A = ws.take<float>(n * size_t(Hp));
    float* Hh = ws.take<float>(n * size_t(Hp));
    float* z = ws.take<float>(n);
    init_rows(y, n, A, Hp);
    scale_rows(n, A, Hp);
    SampleScratch sc;
    const BinaryWeights bw = binary_weights(ws);
    const float** rows = ws.take<const float*>(n);  // the hidden states of the rows whose run goes on
    size_t* idx = ws.take<size_t>(n);                // and those rows
    float* zr = ws.take<float>(n);                   // their logits
    for (int64_t d = 0; d < D; ++d) {
      // A run starts after each one: t += W_{d-1}, h = sigmoid(a) and its
      // logit in one pass; the other rows' logits from their kept states.
      const float* Vd = bw.v + size_t(d) * size_t(Hp);
      size_t m = 0;
      for (size_t i = 0; i < n; ++i) {
        float* a = A + i * size_t(Hp);
        float* h = Hh + i * size_t(Hp);
        if (d == 0) {
          z[i] = add_sigmoid_dot<false, true>(a, nullptr, h, Vd, long(H_));
        } else if (x[i * size_t(D) + size_t(d - 1)] != 0) {
          z[i] = add_sigmoid_dot<true, true>(a, bw.w + size_t(d - 1) * size_t(Hp), h, Vd, long(H_));
        } else {
          rows[m] = h;
          idx[m++] = i;
        }
      }
      dot_rows(Vd, rows, int64_t(m), long(H_), zr);
      for (size_t k = 0; k < m; ++k) z[idx[k]] = zr[k];
      for (size_t i = 0; i < n; ++i) z[i] += bias(y, i, d);
      for (size_t i = 0; i < n; ++i)
        if (!known || !known[i * size_t(D) + size_t(d)]) x[i * size_t(D) + size_t(d)] = sample_ref(&z[i], temperature, rng, sc);
    }
  }

  // Scoring n binary rows: out[i] = sum of log P over the known positions.
  // Over blocks of kScoreSpan positions, row by row within a block: a row's
  // running sum and hidden state stay in the first-level cache over the block
  // and the block's rows of V and W (shared by the n rows) too; a run start's
  // sigmoid pass also forms the logits of the run's next positions in the
  // block while h is in registers (add_sigmoid_dots), and a run going on from
  // the previous block takes its kept state's (dot_rows). Each logit is the
  // float binary_sample forms.
  void binary_score(const int32_t* x, const int32_t* y, size_t n, const uint8_t* known, double* out,
                    const BinaryWeights& bw) const {
    const int64_t Hp = padded_hidden(), D = D_, S = kScoreSpan;
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    float* A = ws.take<float>(n * size_t(Hp));
    float* Hh = ws.take<float>(n * size_t(Hp));
    float* z = ws.take<float>(size_t(S) * n);  // (span, n) the block's logits
    float* t = ws.take<float>(size_t(S) * n);  // and targets
    double* lp = ws.take<double>(size_t(S) * n);
    init_rows(y, n, A, Hp);
    scale_rows(n, A, Hp);
    std::fill(out, out + n, 0.0);
    const float* Vd[kScoreSpan];
    for (int64_t d0 = 0; d0 < D; d0 += S) {
      const int64_t d1 = std::min(D, d0 + S);
      for (int64_t d = d0; d < d1; ++d) Vd[d - d0] = bw.v + size_t(d) * size_t(Hp);
      for (size_t i = 0; i < n; ++i) {
        const int32_t* xr = x + i * size_t(D);
        float* a = A + i * size_t(Hp);
        float* h = Hh + i * size_t(Hp);
        float zk[kScoreSpan];
        for (int64_t d = d0; d < d1;) {
          int64_t e = d + 1;  // [d, e): positions sharing one state in this block
          while (e < d1 && xr[e - 1] == 0) ++e;
          const int64_t k = e - d;
          const float* const* v = Vd + (d - d0);
          if (d > 0 && xr[d - 1] == 0) {
            dot_rows(h, v, k, long(H_), zk);  // the run goes on from the previous block
          } else {
            const bool keep = xr[e - 1] == 0;  // the run goes on into the next block
            if (d == 0) {
              keep ? add_sigmoid_dots<false, true>(a, nullptr, h, v, k, long(H_), zk)
                   : add_sigmoid_dots<false, false>(a, nullptr, h, v, k, long(H_), zk);
            } else {
              const float* w = bw.w + size_t(d - 1) * size_t(Hp);
              keep ? add_sigmoid_dots<true, true>(a, w, h, v, k, long(H_), zk)
                   : add_sigmoid_dots<true, false>(a, w, h, v, k, long(H_), zk);
            }
          }
          for (int64_t j = 0; j < k; ++j) z[size_t(d - d0 + j) * n + i] = zk[j] + bias(y, i, d + j);
          d = e;
        }
      }
      for (int64_t d = d0; d < d1; ++d)
        for (size_t i = 0; i < n; ++i) t[size_t(d - d0) * n + i] = float(x[i * size_t(D) + size_t(d)]);
      binary_log_probs(z, t, long(size_t(d1 - d0) * n), lp, nullptr);
      for (int64_t d = d0; d < d1; ++d)
        for (size_t i = 0; i < n; ++i)
          if (!known || known[i * size_t(D) + size_t(d)]) out[i] += lp[size_t(d - d0) * n + i];
    }
  }

  // Training on binary rows: nll[i] = -log P(x_i | y_i); adds sum_i w[i] d nll[i] / d params.
  // a_1 = c + U y, a_{d+1} = a_d + W_d x_d, G_d = dL/da_d = G_{d+1} + dz_d V_d . sigma'(a_d):
  // over a run of positions sharing a_d the sum of dz V is formed first (S)
  // and multiplied by sigma' once where the run starts; dW_d = x_d G_{d+1}.
  // Hidden states are recomputed a block of kBlock positions at a time from
  // checkpoints of A (run starts only), as in the general case; the forward
  // pass forms only the checkpoints. The sums are kept as t = -a log2 e (the
  // input weights pre-scaled), as binary_score keeps them, so the hidden states,
  // logits and NLL are the floats scoring gives; G is still dL/da.
  void binary_grad(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad, double* nll) const {
    const int64_t Hp = padded_hidden(), D = D_, H = H_;
    const size_t row = size_t(Hp);
    const int64_t blocks = (D + kBlock - 1) / kBlock;
    const float* p = params_.data();
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    float* ck = ws.take<float>(size_t(blocks) * n * row);   // (blocks, n, Hp) A at each block start
    float* G = ws.take_zero<float>(n * row);                 // dL/da at the current position
    float* S = ws.take<float>(n * row);                      // sum of dz V over the open run
    bool* open = ws.take<bool>(n);                           // S holds a run going on from the next block
    std::fill(open, open + n, false);
    float* Hs = ws.take<float>(size_t(kBlock) * n * row);   // hidden states of run starts in the block
    const float** hp = ws.take<const float*>(size_t(kBlock) * n);  // (kBlock, n) the h each position uses
    float* Z = ws.take<float>(size_t(kBlock) * n);           // (kBlock, n) logits
    float* t = ws.take<float>(n);
    float* dZ = ws.take<float>(size_t(kBlock) * n);           // (kBlock, n) weighted d loss / d z
    const float** Vrows = ws.take<const float*>(size_t(kBlock));
    float* cz = ws.take<float>(size_t(kBlock));
    int64_t* hi = ws.take<int64_t>(n);
    const float** sel = ws.take<const float*>(n);
    float* ones = ws.take<float>(n);
    std::fill(ones, ones + n, 1.0f);
    double* lp = ws.take<double>(n);
    float* Wt = ws.take<float>(size_t(D) * row);  // the sums as t = -a log2 e, as binary_score keeps them
    binary_weights(Wt, nullptr);
    const float** rest = ws.take<const float*>(n);  // a position's rows whose run goes on: their states,
    size_t* ridx = ws.take<size_t>(n);                // the rows
    float* zr = ws.take<float>(n);                    // and their logits
    // Forward: each block's start from the previous one, a row at a time
    // (the input weights of its ones in order, summed in registers).
    init_rows(y, n, ck, Hp);
    scale_rows(n, ck, Hp);
    const float* Wrows[kBlock];
    for (int64_t k = 0; k + 1 < blocks; ++k) {
      const int64_t d0 = k * kBlock;
      for (size_t i = 0; i < n; ++i) {
        int64_t nr = 0;
        for (int64_t d = d0; d < d0 + kBlock; ++d)
          if (x[i * size_t(D) + size_t(d)]) Wrows[nr++] = Wt + size_t(d) * row;
        advance_rows(ck + (size_t(k + 1) * n + i) * row, ck + (size_t(k) * n + i) * row, Wrows, nr, long(H));
      }
    }
    std::fill(nll, nll + n, 0.0);
    auto xat = [&](size_t i, int64_t d) { return x[i * size_t(D) + size_t(d)]; };
    for (int64_t k = blocks - 1; k >= 0; --k) {
      const int64_t d0 = k * kBlock, d1 = std::min(D, d0 + kBlock);
      // The block's running sums advance in its checkpoint, not read again.
      float* const A = ck + size_t(k) * n * row;
      for (int64_t d = d0; d < d1; ++d) {
        const float* V = p + v_ + size_t(d) * size_t(H);
        const float** hd = hp + size_t(d - d0) * n;
        // A run starts after each one: t += W_{d-1}, h = sigmoid(a) and its
        // logit in one pass (as binary_sample: the same floats as dot_rows);
        // the other rows' logits from their kept states.
        const float* Wprev = d > d0 ? Wt + size_t(d - 1) * row : nullptr;
        float* Zd = Z + size_t(d - d0) * n;
        size_t m = 0;
        for (size_t i = 0; i < n; ++i) {
          float* h = Hs + (size_t(d - d0) * n + i) * row;
          if (d == d0) {
            Zd[i] = add_sigmoid_dot<false, true>(A + i * row, nullptr, h, V, long(H));
            hd[i] = h;
          } else if (xat(i, d - 1)) {
            Zd[i] = add_sigmoid_dot<true, true>(A + i * row, Wprev, h, V, long(H));
            hd[i] = h;
          } else {
            hd[i] = hd[i - n];  // the previous position's state
            rest[m] = hd[i];
            ridx[m++] = i;
          }
        }
        dot_rows(V, rest, int64_t(m), long(H), zr);
        for (size_t k = 0; k < m; ++k) Zd[ridx[k]] = zr[k];
        for (size_t i = 0; i < n; ++i) Zd[i] += bias(y, i, d);
      }
      // The block's output gradients, position by position: dz (kBlock, n).
      for (int64_t d = d0; d < d1; ++d) {
        float* dzd = dZ + size_t(d - d0) * n;
        for (size_t i = 0; i < n; ++i) t[i] = float(xat(i, d));
        binary_log_probs(Z + size_t(d - d0) * n, t, long(n), lp, dzd);
        float gb = grad[b_ + size_t(d)];  // in a register: the same additions in the same order
        for (size_t i = 0; i < n; ++i) {
          nll[i] -= lp[i];
          dzd[i] *= w[i];
          gb += dzd[i];
          if (L_ > 0) grad[q_ + size_t(y[i]) * size_t(D) + size_t(d)] += dzd[i];
        }
        grad[b_ + size_t(d)] = gb;
      }
      // dV_d = sum_i dz_i h_i, two positions at a time (their shared states loaded once).
      for (int64_t d = d0; d < d1; d += 2) {
        const size_t o = size_t(d - d0) * n;
        float* dV = grad + v_ + size_t(d) * size_t(H);
        if (d + 1 < d1)
          add_weighted_rows2(dV, dV + H, hp + o, hp + o + n, dZ + o, dZ + o + n, int64_t(n), long(H));
        else
          add_weighted_rows(dV, hp + o, dZ + o, int64_t(n), long(H));
      }
      for (int64_t d = d0; d < d1; ++d) Vrows[d - d0] = p + v_ + size_t(d) * size_t(H);
      // Backwards: dW_d = sum over the rows with x_d = 1 of G_{d+1}; each run's
      // sum of dz V closes where the run starts.
      for (size_t i = 0; i < n; ++i) hi[i] = d1 - 1;  // each row's open run's last position here
      for (int64_t d = d1 - 1; d >= d0; --d) {
        int64_t m = 0;
        for (size_t i = 0; i < n; ++i)
          if (xat(i, d)) sel[m++] = G + i * row;
        if (m > 0) add_weighted_rows(grad + w_ + size_t(d) * size_t(H), sel, ones, m, long(H));
        for (size_t i = 0; i < n; ++i) {
          if (d > 0 && !xat(i, d - 1)) continue;
          for (int64_t e = d; e <= hi[i]; ++e) cz[e - d] = dZ[size_t(e - d0) * n + i];
          run_sum(S + i * row, G + i * row, hp[size_t(d - d0) * n + i], Vrows + (d - d0), cz, hi[i] - d + 1, long(H),
                  !open[i], true);
          open[i] = false;
          hi[i] = d - 1;
        }
      }
      for (size_t i = 0; i < n; ++i) {
        if (hi[i] < d0) continue;  // the run goes on into the previous block
        for (int64_t e = d0; e <= hi[i]; ++e) cz[e - d0] = dZ[size_t(e - d0) * n + i];
        run_sum(S + i * row, G + i * row, nullptr, Vrows, cz, hi[i] - d0 + 1, long(H), !open[i], false);
        open[i] = true;
      }
    }
    for (size_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < H; ++j) {
        grad[c_ + size_t(j)] += G[i * row + size_t(j)];
        if (L_ > 0) grad[u_ + size_t(y[i]) * size_t(H) + size_t(j)] += G[i * row + size_t(j)];
      }
  }

 private:
  int64_t H_;
  size_t w_ = 0, c_ = 0, v_ = 0, b_ = 0, u_ = 0, q_ = 0;  // block offsets in params_
};

}  // namespace

std::unique_ptr<Model> create_nade(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<Nade>(space, model, train);
}

}  // namespace dgm
