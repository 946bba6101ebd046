// transformer.cc — the decoder-only transformer of transformer.h: the network
// (forward over a window, hand-written backward, one cached step) for float
// and double, and the model (windows over long samples, labels, scoring,
// per-position conditionals, cached sampling and completion, training through
// the shared loop).
//
// Block (pre-LayerNorm, GPT-2): x += Proj(Attn(LN1(x))); x += Out(GELU(Fc(LN2(x)))),
// then LNf and the head. GELU is the tanh form, 0.5 h (1 + tanh(c (h + 0.044715 h^3))),
// computed as h * sigmoid(2 c (h + 0.044715 h^3)) (the same function).
//
// Attention is computed one query row at a time: the row's scores against its
// keys (O(T) scratch), softmax, and the weighted sum of values; the backward
// pass recomputes each row's probabilities from the stored log-normaliser, so
// no T x T matrix is ever held (a 3072-position window needs 12 KB of scores).
//
// Forward products use one kernel (matmul below) whose every output element is
// a sequential fused multiply-add over the depth, whatever the number of rows
// or where they sit; elementwise maps are lane-wise. That is what makes the
// cached sampler's logits bit-identical to the full window's, and a sample's
// score independent of the batch. The backward products use the same kernel
// on transposed copies (linear_back): the weights' gradients and the inputs'.
#include "dgm/models/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "nn/eigen.h"

#include "dgm/comm.h"
#include "dgm/error.h"
#include "dgm/logmath.h"
#include "dgm/model_file.h"
#include "nn/gemm.h"

namespace dgm {

namespace {

template <typename T>
using Buf = std::vector<T, Aligned64<T>>;
template <typename T>
using MatR = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MapR = Eigen::Map<MatR<T>>;
template <typename T>
using CMapR = Eigen::Map<const MatR<T>>;
template <typename T>
using RowV = Eigen::Matrix<T, 1, Eigen::Dynamic>;

// A view of n values in an Arena.
template <typename T>
struct Span {
  T* p = nullptr;
  size_t n = 0;
  T* data() const { return p; }
  T* begin() const { return p; }
  T* end() const { return p + n; }
  size_t size() const { return n; }
  T& operator[](size_t i) const { return p[i]; }
};

// Per-thread scratch memory for one call of the network: reset() at the start
// of a call, take() hands out 64-byte-aligned pieces that stay valid until the
// next reset(). Blocks are kept between calls (no allocation in the steady
// state) and merged into one when a call needed several.
template <typename T>
class Arena {
 public:
  void reset() {
    if (blocks_.size() > 1) {
      size_t total = 0;
      for (const auto& b : blocks_) total += b.size();
      blocks_.clear();
      blocks_.emplace_back(total);
    }
    cur_ = 0;
    pos_ = 0;
  }
  Span<T> take(size_t n, bool zero = false) {
    const size_t want = (n + 63) / 64 * 64;  // whole cache lines keep every piece aligned
    while (cur_ < blocks_.size() && pos_ + want > blocks_[cur_].size()) ++cur_, pos_ = 0;
    if (cur_ == blocks_.size()) blocks_.emplace_back(std::max<size_t>(want, size_t(1) << 16));
    Span<T> s{blocks_[cur_].data() + pos_, n};
    pos_ += want;
    if (zero) std::fill(s.begin(), s.end(), T(0));
    return s;
  }

 private:
  std::vector<Buf<T>> blocks_;
  size_t cur_ = 0, pos_ = 0;
};

constexpr double kLnEps = 1e-5;
constexpr double kGeluC = 0.7978845608028654;  // sqrt(2 / pi)

// ------------------------------------------------------------------ kernels

// Y (M, N) = X (M, K) Wt (K, N) [+ b (N)], row strides ldx, ldw, ldy; with add,
// Y += that instead. Every element is acc = 0; acc = fma(x_k, w_k, acc) for
// k = 0..K-1; y = acc + b (or y = y + acc).
template <typename T>
void matmul(const T* X, size_t ldx, const T* Wt, size_t ldw, const T* b, T* Y, size_t ldy, size_t M, size_t K,
            size_t N, bool add = false) {
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < N; ++j) {
      T acc = 0;
      for (size_t k = 0; k < K; ++k) acc = std::fma(X[i * ldx + k], Wt[k * ldw + j], acc);
      if (b) acc += b[j];
      Y[i * ldy + j] = add ? Y[i * ldy + j] + acc : acc;
    }
}

// dst (cols, rows) = src (rows, cols)^T, both contiguous.
template <typename T>
void transpose_rows(size_t rows, size_t cols, const T* src, T* dst) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}
template <>
void transpose_rows<float>(size_t rows, size_t cols, const float* src, float* dst) {
  nn::transpose(int64_t(rows), int64_t(cols), src, int64_t(cols), dst, int64_t(rows));
}

// Y (M, N) = X (M, K) B (N, K)^T: every element a dot product in a fixed order.
template <typename T>
void matmul_nt(const T* X, size_t ldx, const T* B, size_t ldb, T* Y, size_t ldy, size_t M, size_t K, size_t N) {
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < N; ++j) {
      T acc = 0;
      for (size_t k = 0; k < K; ++k) acc = std::fma(X[i * ldx + k], B[j * ldb + k], acc);
      Y[i * ldy + j] = acc;
    }
}

// y[0..n) += a x[0..n).
template <typename T>
inline void axpy(T a, const T* x, T* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}

// x[i] = exp(x[i] - m).
template <typename T>
inline void exp_shifted(T* x, size_t n, T m) {
  for (size_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - m);
}

// g = gelu(h) over n values.
template <typename T>
inline void gelu(const T* h, T* g, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const T x = h[i];
    const T u = T(2 * kGeluC) * (x + T(0.044715) * x * x * x);
    g[i] = x / (T(1) + std::exp(-u));
  }
}

#if defined(__AVX512F__)
inline __mmask16 tail_mask(size_t rem) { return rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1); }

// R rows (1..12) by 32 columns of matmul (24 accumulators in registers) from
// a packed panel P (K, 32) of the weights; masked lanes past N are not stored.
template <int R>
inline void matmul_tile(const float* X, size_t ldx, const float* P, const float* b, float* Y, size_t ldy, size_t K,
                        const __mmask16* mk, bool add) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (size_t k = 0; k < K; ++k) {
    const __m512 w0 = _mm512_load_ps(P + k * 32), w1 = _mm512_load_ps(P + k * 32 + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(X[size_t(r) * ldx + k]);
      acc[r][0] = _mm512_fmadd_ps(a, w0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, w1, acc[r][1]);
    }
  }
  for (int v = 0; v < 2; ++v) {
    const __m512 bv = b ? _mm512_maskz_loadu_ps(mk[v], b + 16 * v) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      float* y = Y + size_t(r) * ldy + 16 * v;
      const __m512 o = b ? _mm512_add_ps(acc[r][v], bv) : acc[r][v];
      _mm512_mask_storeu_ps(y, mk[v], add ? _mm512_add_ps(_mm512_maskz_loadu_ps(mk[v], y), o) : o);
    }
  }
}

// The weights are packed a panel of 32 columns at a time (contiguous, zero
// past N), so the panel stays in L1 whatever the row stride of W.
template <>
void matmul<float>(const float* X, size_t ldx, const float* Wt, size_t ldw, const float* b, float* Y, size_t ldy,
                   size_t M, size_t K, size_t N, bool add) {
  thread_local std::vector<float, Aligned64<float>> pack;
  pack.resize(K * 32);
  for (size_t j0 = 0; j0 < N; j0 += 32) {
    const size_t nj = std::min<size_t>(32, N - j0);
    const __mmask16 mk[2] = {tail_mask(nj), nj > 16 ? tail_mask(nj - 16) : __mmask16(0)};
    for (size_t k = 0; k < K; ++k) {
      _mm512_store_ps(&pack[k * 32], _mm512_maskz_loadu_ps(mk[0], Wt + k * ldw + j0));
      _mm512_store_ps(&pack[k * 32 + 16], _mm512_maskz_loadu_ps(mk[1], Wt + k * ldw + j0 + 16));
    }
    const float* bj = b ? b + j0 : nullptr;
    const float* P = pack.data();
    size_t i = 0;
    for (; i + 12 <= M; i += 12) matmul_tile<12>(X + i * ldx, ldx, P, bj, Y + i * ldy + j0, ldy, K, mk, add);
    const float* Xi = X + i * ldx;
    float* Yi = Y + i * ldy + j0;
    switch (M - i) {
#define DGM_TILE(R) case R: matmul_tile<R>(Xi, ldx, P, bj, Yi, ldy, K, mk, add); break;
      DGM_TILE(11) DGM_TILE(10) DGM_TILE(9) DGM_TILE(8) DGM_TILE(7) DGM_TILE(6)
      DGM_TILE(5) DGM_TILE(4) DGM_TILE(3) DGM_TILE(2) DGM_TILE(1)
#undef DGM_TILE
      default: break;
    }
  }
}

template <>
void matmul_nt<float>(const float* X, size_t ldx, const float* B, size_t ldb, float* Y, size_t ldy, size_t M,
                      size_t K, size_t N) {
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < N; ++j) {
      __m512 acc = _mm512_setzero_ps();
      for (size_t k = 0; k < K; k += 16) {
        const __mmask16 m = tail_mask(K - k);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, X + i * ldx + k), _mm512_maskz_loadu_ps(m, B + j * ldb + k), acc);
      }
      Y[i * ldy + j] = _mm512_reduce_add_ps(acc);
    }
}

template <>
inline void axpy<float>(float a, const float* x, float* y, size_t n) {
  const __m512 av = _mm512_set1_ps(a);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

template <>
inline void exp_shifted<float>(float* x, size_t n, float mx) {
  const __m512 mv = _mm512_set1_ps(mx);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mv);
    _mm512_mask_storeu_ps(x + i, m, Eigen::internal::pexp(v));
  }
}

template <>
inline void gelu<float>(const float* h, float* g, size_t n) {
  const __m512 c3 = _mm512_set1_ps(0.044715f), c2 = _mm512_set1_ps(float(2 * kGeluC)), one = _mm512_set1_ps(1.0f);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, h + i);
    const __m512 u = _mm512_mul_ps(c2, _mm512_fmadd_ps(_mm512_mul_ps(c3, x), _mm512_mul_ps(x, x), x));
    const __m512 e = Eigen::internal::pexp(_mm512_sub_ps(_mm512_setzero_ps(), u));
    _mm512_mask_storeu_ps(g + i, m, _mm512_div_ps(x, _mm512_add_ps(one, e)));
  }
}
#endif

// dh[i] *= d gelu(h) / dh at h[i] (the backward pass).
template <typename T>
inline void gelu_back(const T* h, T* dh, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const T x = h[i];
    const T u = T(2 * kGeluC) * (x + T(0.044715) * x * x * x);
    const T s = T(1) / (T(1) + std::exp(-u));
    dh[i] *= s + x * s * (T(1) - s) * T(2 * kGeluC) * (T(1) + T(3 * 0.044715) * x * x);
  }
}

#if defined(__AVX512F__)
template <>
inline void gelu_back<float>(const float* h, float* dh, size_t n) {
  const __m512 c3 = _mm512_set1_ps(0.044715f), c2 = _mm512_set1_ps(float(2 * kGeluC)), one = _mm512_set1_ps(1.0f),
               c33 = _mm512_set1_ps(float(3 * 0.044715));
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, h + i), x2 = _mm512_mul_ps(x, x);
    const __m512 u = _mm512_mul_ps(c2, _mm512_fmadd_ps(_mm512_mul_ps(c3, x), x2, x));
    const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, Eigen::internal::pexp(_mm512_sub_ps(_mm512_setzero_ps(), u))));
    // s + x s (1 - s) 2c (1 + 3 0.044715 x^2)
    const __m512 t = _mm512_mul_ps(_mm512_mul_ps(x, _mm512_mul_ps(s, _mm512_sub_ps(one, s))),
                                   _mm512_mul_ps(c2, _mm512_fmadd_ps(c33, x2, one)));
    _mm512_mask_storeu_ps(dh + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dh + i), _mm512_add_ps(s, t)));
  }
}
#endif

// One row of LayerNorm: y = (x - mean) rstd * g + b; keeps xhat and rstd when asked.
template <typename T>
inline void layer_norm_row(const T* x, const T* g, const T* b, T* y, T* xhat, T* rstd, size_t W) {
  T mean = 0;
  for (size_t j = 0; j < W; ++j) mean += x[j];
  mean /= T(W);
  T var = 0;
  for (size_t j = 0; j < W; ++j) var += (x[j] - mean) * (x[j] - mean);
  var /= T(W);
  const T r = T(1) / std::sqrt(var + T(kLnEps));
  for (size_t j = 0; j < W; ++j) {
    const T xh = (x[j] - mean) * r;
    if (xhat) xhat[j] = xh;
    y[j] = xh * g[j] + b[j];
  }
  if (rstd) *rstd = r;
}

// dx += LayerNorm backward of dy for one row; adds the gain and bias gradients.
template <typename T>
inline void layer_norm_back_row(const T* dy, const T* xhat, T rstd, const T* g, T* dx, T* dg, T* db, size_t W) {
  T m1 = 0, m2 = 0;
  for (size_t j = 0; j < W; ++j) {
    const T dxh = dy[j] * g[j];
    m1 += dxh;
    m2 += dxh * xhat[j];
    dg[j] += dy[j] * xhat[j];
    db[j] += dy[j];
  }
  m1 /= T(W);
  m2 /= T(W);
  for (size_t j = 0; j < W; ++j) dx[j] += rstd * (dy[j] * g[j] - m1 - xhat[j] * m2);
}

// One query row of causal attention: o (d) = sum_j softmax(q . k_j)_j v_j over
// nk keys, q already scaled by 1 / sqrt(d). Kt (d, ks) holds keys as columns,
// V rows of stride vs. s is scratch (nk). Returns the log-normaliser.
template <typename T>
T attend_row(const T* q, const T* Kt, size_t ks, const T* V, size_t vs, size_t nk, size_t d, T* o, T* s) {
  std::fill(s, s + nk, T(0));
  for (size_t c = 0; c < d; ++c) axpy(q[c], Kt + c * ks, s, nk);
  T mx = s[0];
  for (size_t j = 1; j < nk; ++j) mx = std::max(mx, s[j]);
  exp_shifted(s, nk, mx);
  T l = 0;
  for (size_t j = 0; j < nk; ++j) l += s[j];
  std::fill(o, o + d, T(0));
  for (size_t j = 0; j < nk; ++j) axpy(s[j], V + j * vs, o, d);
  const T inv = T(1) / l;
  for (size_t c = 0; c < d; ++c) o[c] *= inv;
  return mx + std::log(l);
}

// s[j] = sum_c q[c] Kt[c * ks + j] for j < nk (a chain of fmas over c from 0).
template <typename T>
inline void scores(const T* q, const T* Kt, size_t ks, size_t nk, size_t d, T* s) {
  std::fill(s, s + nk, T(0));
  for (size_t c = 0; c < d; ++c) axpy(q[c], Kt + c * ks, s, nk);
}

// o (d) = sum_j w[j] V[j * vs] over j < nk, in order of j from 0.
template <typename T>
inline void weighted_rows(const T* w, const T* V, size_t vs, size_t nk, size_t d, T* o) {
  std::fill(o, o + d, T(0));
  for (size_t j = 0; j < nk; ++j) axpy(w[j], V + j * vs, o, d);
}

// y (d) += sum_i w[i * ws] X[i * xs] over i < m, in order of i (axpy after axpy).
template <typename T>
inline void accumulate_rows(const T* w, size_t ws, const T* X, size_t xs, size_t m, size_t d, T* y) {
  for (size_t i = 0; i < m; ++i) axpy(w[i * ws], X + i * xs, y, d);
}

#if defined(__AVX512F__)
// s[j] = sum_c q[c] Kt[c * ks + j] for j < nk, each a chain of fmas over c
// from 0 (the order of the generic axpy loop), 64 keys at a time in registers.
inline void scores_f(const float* q, const float* Kt, size_t ks, size_t nk, size_t d, float* s) {
  for (size_t j0 = 0; j0 < nk; j0 += 64) {
    __mmask16 m[4];
    for (int v = 0; v < 4; ++v) m[v] = j0 + 16 * v < nk ? tail_mask(nk - j0 - 16 * v) : __mmask16(0);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (size_t c = 0; c < d; ++c) {
      const __m512 qc = _mm512_set1_ps(q[c]);
      const float* k = Kt + c * ks + j0;
      for (int v = 0; v < 4; ++v) acc[v] = _mm512_fmadd_ps(qc, _mm512_maskz_loadu_ps(m[v], k + 16 * v), acc[v]);
    }
    for (int v = 0; v < 4; ++v) _mm512_mask_storeu_ps(s + j0 + 16 * v, m[v], acc[v]);
  }
}

inline void scores(const float* q, const float* Kt, size_t ks, size_t nk, size_t d, float* s) {
  scores_f(q, Kt, ks, nk, d, s);
}

template <int NV>
inline void accumulate_rows_f(const float* w, size_t ws, const float* X, size_t xs, size_t m, size_t d, float* y) {
  __mmask16 mk[NV];
  __m512 acc[NV];
  for (int v = 0; v < NV; ++v) mk[v] = tail_mask(d - 16 * v), acc[v] = _mm512_maskz_loadu_ps(mk[v], y + 16 * v);
  for (size_t i = 0; i < m; ++i) {
    const __m512 wi = _mm512_set1_ps(w[i * ws]);
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_fmadd_ps(wi, _mm512_maskz_loadu_ps(mk[v], X + i * xs + 16 * v), acc[v]);
  }
  for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(y + 16 * v, mk[v], acc[v]);
}

inline void accumulate_rows(const float* w, size_t ws, const float* X, size_t xs, size_t m, size_t d, float* y) {
  switch ((d + 15) / 16) {
    case 1: accumulate_rows_f<1>(w, ws, X, xs, m, d, y); return;
    case 2: accumulate_rows_f<2>(w, ws, X, xs, m, d, y); return;
    case 3: accumulate_rows_f<3>(w, ws, X, xs, m, d, y); return;
    case 4: accumulate_rows_f<4>(w, ws, X, xs, m, d, y); return;
    default:
      for (size_t i = 0; i < m; ++i) axpy(w[i * ws], X + i * xs, y, d);
  }
}

// o (d) = sum_j w[j] V[j * vs] over j < nk, in order of j from 0, NV vectors of
// 16 lanes held in registers.
template <int NV>
inline void weighted_rows_f(const float* w, const float* V, size_t vs, size_t nk, size_t d, float* o) {
  __mmask16 m[NV];
  __m512 acc[NV];
  for (int v = 0; v < NV; ++v) m[v] = tail_mask(d - 16 * v), acc[v] = _mm512_setzero_ps();
  for (size_t j = 0; j < nk; ++j) {
    const __m512 wj = _mm512_set1_ps(w[j]);
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_fmadd_ps(wj, _mm512_maskz_loadu_ps(m[v], V + j * vs + 16 * v), acc[v]);
  }
  for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(o + 16 * v, m[v], acc[v]);
}

inline void weighted_rows(const float* w, const float* V, size_t vs, size_t nk, size_t d, float* o) {
  switch ((d + 15) / 16) {
    case 1: weighted_rows_f<1>(w, V, vs, nk, d, o); return;
    case 2: weighted_rows_f<2>(w, V, vs, nk, d, o); return;
    case 3: weighted_rows_f<3>(w, V, vs, nk, d, o); return;
    case 4: weighted_rows_f<4>(w, V, vs, nk, d, o); return;
    default: weighted_rows<float>(w, V, vs, nk, d, o);
  }
}

// The same arithmetic as the generic attend_row, element by element.
template <>
float attend_row<float>(const float* q, const float* Kt, size_t ks, const float* V, size_t vs, size_t nk, size_t d,
                        float* o, float* s) {
  scores_f(q, Kt, ks, nk, d, s);
  __m512 mv = _mm512_set1_ps(s[0]);
  for (size_t j = 0; j < nk; j += 16) mv = _mm512_mask_max_ps(mv, tail_mask(nk - j), mv, _mm512_maskz_loadu_ps(tail_mask(nk - j), s + j));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, mv);
  float mx = lanes[0];
  for (int v = 1; v < 16; ++v) mx = std::max(mx, lanes[v]);
  exp_shifted(s, nk, mx);
  float l = 0;
  for (size_t j = 0; j < nk; ++j) l += s[j];
  weighted_rows(s, V, vs, nk, d, o);
  const float inv = 1.0f / l;
  for (size_t c = 0; c < d; ++c) o[c] *= inv;
  return mx + std::log(l);
}
#endif

// The backward pass of a layer y = A Wm + b, A (n, In), Wm (In, Out), rows
// contiguous: gW (In, Out) += A^T dY and, when dA is non-null, dA (n, In) =
// dY Wm^T, both through matmul on transposed copies (at: In * n, wt: Out * In).
template <typename T>
void linear_back(const T* A, const T* Wm, const T* dY, size_t n, size_t In, size_t Out, T* gW, T* dA, T* at, T* wt) {
  transpose_rows(n, In, A, at);
  matmul(at, n, dY, Out, static_cast<const T*>(nullptr), gW, Out, In, n, Out, true);
  if (!dA) return;
  transpose_rows(In, Out, Wm, wt);
  matmul(dY, Out, wt, In, static_cast<const T*>(nullptr), dA, In, n, Out, In);
}

// log softmax(z)[v] in double from the logits, and, when dz is non-null,
// dz = w (softmax(z) - onehot(v)).
template <typename T>
double log_softmax_at(const T* z, size_t V, int32_t v, T w, T* dz) {
  double mx = double(z[0]);
  for (size_t j = 1; j < V; ++j) mx = std::max(mx, double(z[j]));
  double sum = 0;
  for (size_t j = 0; j < V; ++j) sum += std::exp(double(z[j]) - mx);
  const double lse = mx + std::log(sum);
  if (dz) {
    for (size_t j = 0; j < V; ++j) dz[j] = w * T(std::exp(double(z[j]) - lse));
    dz[v] -= w;
  }
  return double(z[v]) - lse;
}

}  // namespace

// ------------------------------------------------------------------ layout

TransformerLayout make_transformer_layout(
    const TransformerShape& s, const std::function<size_t(const std::string&, std::vector<uint64_t>)>& add_block) {
  const uint64_t W = uint64_t(s.width), F = uint64_t(s.mlp);
  TransformerLayout l;
  size_t end = 0;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape) {
    uint64_t count = 1;
    for (uint64_t e : shape) count *= e;
    const size_t off = add_block(name, std::move(shape));
    end = std::max(end, off + size_t(count));
    return off;
  };
  l.tok = add("tok_emb", {uint64_t(s.vocab_in), W});
  l.pos = add("pos_emb", {uint64_t(s.context), W});
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = "h" + std::to_string(i) + ".";
    TransformerLayout::Layer b;
    b.ln1_g = add(p + "ln1_g", {W});
    b.ln1_b = add(p + "ln1_b", {W});
    b.qkv_w = add(p + "qkv_w", {W, 3 * W});
    b.qkv_b = add(p + "qkv_b", {3 * W});
    b.proj_w = add(p + "proj_w", {W, W});
    b.proj_b = add(p + "proj_b", {W});
    b.ln2_g = add(p + "ln2_g", {W});
    b.ln2_b = add(p + "ln2_b", {W});
    b.fc_w = add(p + "fc_w", {W, F});
    b.fc_b = add(p + "fc_b", {F});
    b.out_w = add(p + "out_w", {F, W});
    b.out_b = add(p + "out_b", {W});
    l.layer.push_back(b);
  }
  l.lnf_g = add("lnf_g", {W});
  l.lnf_b = add("lnf_b", {W});
  if (!s.tied) l.head = add("head_w", {W, uint64_t(s.vocab_out)});
  l.size = end;
  return l;
}

// ------------------------------------------------------------------ network

template <typename T>
TransformerNet<T>::TransformerNet(TransformerShape shape, TransformerLayout layout)
    : s_(shape), l_(std::move(layout)) {}

template <typename T>
typename TransformerNet<T>::Cache TransformerNet<T>::new_cache() const {
  Cache c;
  const size_t n = size_t(s_.layers) * size_t(s_.width) * size_t(s_.context);
  c.k.assign(n, T(0));
  c.v.assign(n, T(0));
  return c;
}

template <typename T>
double TransformerNet<T>::window(const T* P, const int32_t* in, const int32_t* tgt, int64_t n_, int64_t from,
                                 T weight, T* grad, double* lp, const Dropout* drop, Cache* cache,
                                 T* last_logits) const {
  const size_t n = size_t(n_), W = size_t(s_.width), H = size_t(s_.heads), d = W / H, F = size_t(s_.mlp),
               V = size_t(s_.vocab_out), C = size_t(s_.context), NL = size_t(s_.layers);
  const bool train = grad != nullptr;
  const T scale = T(1) / std::sqrt(T(d));
  const double rate = drop ? drop->rate : 0.0;
  const bool dropping = train && rate > 0;
  // Activations kept for the backward pass (one slot when only scoring).
  const size_t slots = train ? NL : 1;
  thread_local Arena<T> ar;
  ar.reset();
  const Span<T> x = ar.take(n * W);                                             // (n, W) residual stream
  const Span<T> xh1 = ar.take(slots * n * W), xh2 = ar.take(slots * n * W);     // (layers, n, W) normalised inputs
  const Span<T> rs1 = ar.take(slots * n), rs2 = ar.take(slots * n);             // (layers, n) their 1 / std
  const Span<T> qkv = ar.take(slots * n * 3 * W);                               // (layers, n, 3W)
  const Span<T> att = ar.take(slots * n * W);                                   // (layers, n, W) attention outputs
  const Span<T> lse = ar.take(slots * H * n);                                   // (layers, H, n)
  const Span<T> hpre = ar.take(slots * n * F), hact = ar.take(slots * n * F);   // (layers, n, F)
  const Span<T> a = ar.take(n * W), y = ar.take(n * W), kt = ar.take(d * n), sc = ar.take(n), qs = ar.take(d);
  const Span<T> masks = ar.take(dropping ? (1 + 2 * NL) * n * W : 0);           // (1 + 2 layers, n, W)
  if (dropping) {
    Rng r(drop->seed, drop->stream);
    const T keep = T(1.0 / (1.0 - rate));
    for (auto& m : masks) m = r.uniform() < rate ? T(0) : keep;
  }
  for (size_t t = 0; t < n; ++t) {
    const T* e = P + l_.tok + size_t(in[t]) * W;
    const T* p = P + l_.pos + t * W;
    for (size_t j = 0; j < W; ++j) x[t * W + j] = e[j] + p[j];
  }
  if (dropping)
    for (size_t i = 0; i < n * W; ++i) x[i] *= masks[i];
  for (size_t li = 0; li < NL; ++li) {
    const auto& L = l_.layer[li];
    const size_t sl = train ? li : 0;
    T* X1 = xh1.data() + sl * n * W;
    T* R1 = rs1.data() + sl * n;
    T* QKV = qkv.data() + sl * n * 3 * W;
    T* ATT = att.data() + sl * n * W;
    T* LSE = lse.data() + sl * H * n;
    for (size_t t = 0; t < n; ++t)
      layer_norm_row(&x[t * W], P + L.ln1_g, P + L.ln1_b, &a[t * W], X1 + t * W, R1 + t, W);
    matmul(a.data(), W, P + L.qkv_w, 3 * W, P + L.qkv_b, QKV, 3 * W, n, W, 3 * W);
    for (size_t h = 0; h < H; ++h) {
      const T* K = QKV + W + h * d;
      const T* Vv = QKV + 2 * W + h * d;
      for (size_t t = 0; t < n; ++t)
        for (size_t c = 0; c < d; ++c) kt[c * n + t] = K[t * 3 * W + c];
      if (cache) {
        T* ck = cache->k.data() + (li * H + h) * d * C;
        T* cv = cache->v.data() + (li * H + h) * C * d;
        for (size_t t = 0; t < n; ++t)
          for (size_t c = 0; c < d; ++c) {
            ck[c * C + t] = K[t * 3 * W + c];
            cv[t * d + c] = Vv[t * 3 * W + c];
          }
      }
      for (size_t t = 0; t < n; ++t) {
        const T* q = QKV + t * 3 * W + h * d;
        for (size_t c = 0; c < d; ++c) qs[c] = q[c] * scale;
        LSE[h * n + t] = attend_row(qs.data(), kt.data(), n, Vv, 3 * W, t + 1, d, ATT + t * W + h * d, sc.data());
      }
    }
    matmul(ATT, W, P + L.proj_w, W, P + L.proj_b, y.data(), W, n, W, W);
    if (dropping) {
      const T* m = masks.data() + (1 + 2 * li) * n * W;
      for (size_t i = 0; i < n * W; ++i) y[i] *= m[i];
    }
    for (size_t i = 0; i < n * W; ++i) x[i] += y[i];
    T* X2 = xh2.data() + sl * n * W;
    T* R2 = rs2.data() + sl * n;
    T* HP = hpre.data() + sl * n * F;
    T* HA = hact.data() + sl * n * F;
    for (size_t t = 0; t < n; ++t)
      layer_norm_row(&x[t * W], P + L.ln2_g, P + L.ln2_b, &a[t * W], X2 + t * W, R2 + t, W);
    matmul(a.data(), W, P + L.fc_w, F, P + L.fc_b, HP, F, n, W, F);
    gelu(HP, HA, n * F);
    matmul(HA, F, P + L.out_w, W, P + L.out_b, y.data(), W, n, F, W);
    if (dropping) {
      const T* m = masks.data() + (2 + 2 * li) * n * W;
      for (size_t i = 0; i < n * W; ++i) y[i] *= m[i];
    }
    for (size_t i = 0; i < n * W; ++i) x[i] += y[i];
  }
  const Span<T> xhf = ar.take(n * W), rsf = ar.take(n), f = ar.take(n * W), z = ar.take(n * V);
  for (size_t t = 0; t < n; ++t)
    layer_norm_row(&x[t * W], P + l_.lnf_g, P + l_.lnf_b, &f[t * W], &xhf[t * W], &rsf[t], W);
  // Only the scored rows (and the last, when asked) need logits.
  const size_t z0 = last_logits ? std::min(size_t(from), n - 1) : size_t(from);
  if (z0 < n) {
    if (s_.tied) matmul_nt(&f[z0 * W], W, P + l_.tok, W, &z[z0 * V], V, n - z0, W, V);
    else matmul(&f[z0 * W], W, P + l_.head, V, static_cast<const T*>(nullptr), &z[z0 * V], V, n - z0, W, V);
  }
  if (last_logits) std::copy(&z[(n - 1) * V], &z[(n - 1) * V] + V, last_logits);
  double loss = 0;
  const Span<T> dz = ar.take(train ? n * V : 0);
  for (size_t t = size_t(from); t < n; ++t) {
    const double l = log_softmax_at(&z[t * V], V, tgt[t], weight, train ? &dz[t * V] : static_cast<T*>(nullptr));
    if (lp) lp[t - size_t(from)] = l;
    loss -= l;
  }
  if (!train) return loss;

  // ---------------------------------------------------------------- backward
  using MR = MapR<T>;
  using CR = CMapR<T>;
  const long N = long(n), Wl = long(W), Fl = long(F);
  const long nz = N - long(from);
  const Span<T> tA = ar.take(std::max({W, F, V}) * n), tW = ar.take(std::max({3 * W * W, W * F, W * V}));
  const Span<T> df = ar.take(n * W, true), dx = ar.take(n * W, true), dy = ar.take(n * W), da = ar.take(n * W),
                dh = ar.take(n * F), dqkv = ar.take(n * 3 * W), dq = ar.take(d);
  if (nz > 0) {
    const T* Z = &dz[size_t(from) * V];
    const T* Fm = &f[size_t(from) * W];
    T* dF = &df[size_t(from) * W];
    if (s_.tied) {  // z = f E^T: dF = dZ E, dE += dZ^T f
      matmul(Z, V, P + l_.tok, W, static_cast<const T*>(nullptr), dF, W, size_t(nz), V, W);
      transpose_rows(size_t(nz), V, Z, tA.data());
      matmul(tA.data(), size_t(nz), Fm, W, static_cast<const T*>(nullptr), grad + l_.tok, W, V, size_t(nz), W, true);
    } else {
      linear_back(Fm, P + l_.head, Z, size_t(nz), W, V, grad + l_.head, dF, tA.data(), tW.data());
    }
  }
  for (size_t t = 0; t < n; ++t)
    layer_norm_back_row(&df[t * W], &xhf[t * W], rsf[t], P + l_.lnf_g, &dx[t * W], grad + l_.lnf_g, grad + l_.lnf_b, W);
  const Span<T> vt = ar.take(d * n);
  constexpr size_t kBlock = 16;
  const Span<T> pb = ar.take(kBlock * n), db = ar.take(kBlock * n), qb = ar.take(kBlock * d);
  for (size_t li = NL; li-- > 0;) {
    const auto& L = l_.layer[li];
    const T* X1 = xh1.data() + li * n * W;
    const T* R1 = rs1.data() + li * n;
    const T* QKV = qkv.data() + li * n * 3 * W;
    const T* ATT = att.data() + li * n * W;
    const T* LSE = lse.data() + li * H * n;
    const T* X2 = xh2.data() + li * n * W;
    const T* R2 = rs2.data() + li * n;
    const T* HP = hpre.data() + li * n * F;
    const T* HA = hact.data() + li * n * F;
    // MLP branch: z = Out(gelu(Fc(LN2(x)))).
    std::copy(dx.begin(), dx.end(), dy.begin());
    if (dropping) {
      const T* m = masks.data() + (2 + 2 * li) * n * W;
      for (size_t i = 0; i < n * W; ++i) dy[i] *= m[i];
    }
    {
      CR dY(dy.data(), N, Wl);
      linear_back(HA, P + L.out_w, dy.data(), n, F, W, grad + L.out_w, dh.data(), tA.data(), tW.data());
      MR(grad + L.out_b, 1, Wl) += dY.colwise().sum();
      CR dH(dh.data(), N, Fl);
      gelu_back(HP, dh.data(), n * F);
      for (size_t t = 0; t < n; ++t)
        for (size_t j = 0; j < W; ++j) a[t * W + j] = X2[t * W + j] * P[L.ln2_g + j] + P[L.ln2_b + j];
      linear_back(a.data(), P + L.fc_w, dh.data(), n, W, F, grad + L.fc_w, da.data(), tA.data(), tW.data());
      MR(grad + L.fc_b, 1, Fl) += dH.colwise().sum();
    }
    for (size_t t = 0; t < n; ++t)
      layer_norm_back_row(&da[t * W], X2 + t * W, R2[t], P + L.ln2_g, &dx[t * W], grad + L.ln2_g, grad + L.ln2_b, W);
    // Attention branch: y = Proj(Attn(LN1(x))).
    std::copy(dx.begin(), dx.end(), dy.begin());
    if (dropping) {
      const T* m = masks.data() + (1 + 2 * li) * n * W;
      for (size_t i = 0; i < n * W; ++i) dy[i] *= m[i];
    }
    const Span<T>& datt = da;  // (n, W)
    {
      CR dY(dy.data(), N, Wl);
      linear_back(ATT, P + L.proj_w, dy.data(), n, W, W, grad + L.proj_w, datt.data(), tA.data(), tW.data());
      MR(grad + L.proj_b, 1, Wl) += dY.colwise().sum();
    }
    std::fill(dqkv.begin(), dqkv.end(), T(0));
    for (size_t h = 0; h < H; ++h) {
      const T* Q = QKV + h * d;
      const T* K = QKV + W + h * d;
      const T* Vv = QKV + 2 * W + h * d;
      T* dQ = dqkv.data() + h * d;
      T* dK = dqkv.data() + W + h * d;
      T* dV = dqkv.data() + 2 * W + h * d;
      for (size_t t = 0; t < n; ++t)
        for (size_t c = 0; c < d; ++c) {
          kt[c * n + t] = K[t * 3 * W + c];
          vt[c * n + t] = Vv[t * 3 * W + c];
        }
      // Query rows a block of kBlock at a time: each row's probabilities p and
      // score gradients ds, then every key's dK and dV summed over the block's
      // rows in registers. Each value is summed in the order of the row-by-row
      // loop (rows t ascending), so the result does not depend on the block.
      for (size_t t0 = 0; t0 < n; t0 += kBlock) {
        const size_t t1 = std::min(n, t0 + kBlock);
        for (size_t t = t0; t < t1; ++t) {
          const size_t nk = t + 1, b = t - t0;
          T* qr = &qb[b * d];
          T* p = &pb[b * n];
          T* ds = &db[b * n];
          const T* q = Q + t * 3 * W;
          for (size_t c = 0; c < d; ++c) qr[c] = q[c] * scale;
          const T* dO = datt.data() + t * W + h * d;
          const T* O = ATT + t * W + h * d;
          // p_j = exp(q.k_j - lse); dp_j = dO . v_j; ds_j = p_j (dp_j - dO . O).
          scores(qr, kt.data(), n, nk, d, p);
          scores(dO, vt.data(), n, nk, d, ds);
          exp_shifted(p, nk, LSE[h * n + t]);
          T Dt = 0;
          for (size_t c = 0; c < d; ++c) Dt += dO[c] * O[c];
          for (size_t j = 0; j < nk; ++j) ds[j] = p[j] * (ds[j] - Dt);
          weighted_rows(ds, K, 3 * W, nk, d, dq.data());
          T* dqt = dQ + t * 3 * W;
          for (size_t c = 0; c < d; ++c) dqt[c] = dq[c] * scale;
        }
        for (size_t j = 0; j < t1; ++j) {
          const size_t b0 = std::max(j, t0) - t0, m = t1 - t0 - b0;  // the block's rows t >= j
          accumulate_rows(&db[b0 * n + j], n, &qb[b0 * d], d, m, d, dK + j * 3 * W);
          accumulate_rows(&pb[b0 * n + j], n, datt.data() + (t0 + b0) * W + h * d, W, m, d, dV + j * 3 * W);
        }
      }
    }
    {
      CR dQKV(dqkv.data(), N, 3 * Wl);
      for (size_t t = 0; t < n; ++t)
        for (size_t j = 0; j < W; ++j) a[t * W + j] = X1[t * W + j] * P[L.ln1_g + j] + P[L.ln1_b + j];
      linear_back(a.data(), P + L.qkv_w, dqkv.data(), n, W, 3 * W, grad + L.qkv_w, da.data(), tA.data(), tW.data());
      MR(grad + L.qkv_b, 1, 3 * Wl) += dQKV.colwise().sum();
    }
    for (size_t t = 0; t < n; ++t)
      layer_norm_back_row(&da[t * W], X1 + t * W, R1[t], P + L.ln1_g, &dx[t * W], grad + L.ln1_g, grad + L.ln1_b, W);
  }
  if (dropping)
    for (size_t i = 0; i < n * W; ++i) dx[i] *= masks[i];
  for (size_t t = 0; t < n; ++t) {
    T* ge = grad + l_.tok + size_t(in[t]) * W;
    T* gp = grad + l_.pos + t * W;
    for (size_t j = 0; j < W; ++j) {
      ge[j] += dx[t * W + j];
      gp[j] += dx[t * W + j];
    }
  }
  return loss;
}

template <typename T>
void TransformerNet<T>::step(const T* P, const int32_t* tok, const int64_t* pos, Cache* const* caches, size_t m,
                             T* logits) const {
  const size_t W = size_t(s_.width), H = size_t(s_.heads), d = W / H, F = size_t(s_.mlp), V = size_t(s_.vocab_out),
               C = size_t(s_.context), NL = size_t(s_.layers);
  const T scale = T(1) / std::sqrt(T(d));
  thread_local Arena<T> ar;
  ar.reset();
  const Span<T> x = ar.take(m * W), a = ar.take(m * W), y = ar.take(m * W), qkv = ar.take(m * 3 * W),
                att = ar.take(m * W), hp = ar.take(m * F), ha = ar.take(m * F), sc = ar.take(C), qs = ar.take(d);
  for (size_t i = 0; i < m; ++i) {
    const T* e = P + l_.tok + size_t(tok[i]) * W;
    const T* p = P + l_.pos + size_t(pos[i]) * W;
    for (size_t j = 0; j < W; ++j) x[i * W + j] = e[j] + p[j];
  }
  for (size_t li = 0; li < NL; ++li) {
    const auto& L = l_.layer[li];
    for (size_t i = 0; i < m; ++i)
      layer_norm_row(&x[i * W], P + L.ln1_g, P + L.ln1_b, &a[i * W], static_cast<T*>(nullptr), static_cast<T*>(nullptr), W);
    matmul(a.data(), W, P + L.qkv_w, 3 * W, P + L.qkv_b, qkv.data(), 3 * W, m, W, 3 * W);
    for (size_t i = 0; i < m; ++i) {
      const size_t t = size_t(pos[i]);
      for (size_t h = 0; h < H; ++h) {
        T* ck = caches[i]->k.data() + (li * H + h) * d * C;
        T* cv = caches[i]->v.data() + (li * H + h) * C * d;
        const T* row = &qkv[i * 3 * W];
        for (size_t c = 0; c < d; ++c) {
          ck[c * C + t] = row[W + h * d + c];
          cv[t * d + c] = row[2 * W + h * d + c];
          qs[c] = row[h * d + c] * scale;
        }
        attend_row(qs.data(), ck, C, cv, d, t + 1, d, &att[i * W + h * d], sc.data());
      }
    }
    matmul(att.data(), W, P + L.proj_w, W, P + L.proj_b, y.data(), W, m, W, W);
    for (size_t i = 0; i < m * W; ++i) x[i] += y[i];
    for (size_t i = 0; i < m; ++i)
      layer_norm_row(&x[i * W], P + L.ln2_g, P + L.ln2_b, &a[i * W], static_cast<T*>(nullptr), static_cast<T*>(nullptr), W);
    matmul(a.data(), W, P + L.fc_w, F, P + L.fc_b, hp.data(), F, m, W, F);
    gelu(hp.data(), ha.data(), m * F);
    matmul(ha.data(), F, P + L.out_w, W, P + L.out_b, y.data(), W, m, F, W);
    for (size_t i = 0; i < m * W; ++i) x[i] += y[i];
  }
  for (size_t i = 0; i < m; ++i)
    layer_norm_row(&x[i * W], P + l_.lnf_g, P + l_.lnf_b, &a[i * W], static_cast<T*>(nullptr), static_cast<T*>(nullptr), W);
  if (s_.tied) matmul_nt(a.data(), W, P + l_.tok, W, logits, V, m, W, V);
  else matmul(a.data(), W, P + l_.head, V, static_cast<const T*>(nullptr), logits, V, m, W, V);
}

template class TransformerNet<float>;
template class TransformerNet<double>;

// ------------------------------------------------------------------ model

namespace {
constexpr size_t kScoreChunk = 4;   // rows a scoring work item
constexpr size_t kSampleChunk = 16; // rows a sampling work item (one RNG stream each)
}  // namespace

// The inputs and targets of one sample (see the top of transformer.h).
struct TransformerModel::Row {
  std::vector<int32_t> in, tgt;  // (S)
};

TransformerModel::TransformerModel(const Space& space, ConfigSection& m, ConfigSection& t) : Model(space) {
  D_ = space.dims();
  K_ = space.levels();
  L_ = space.labels();
  var_ = space.variable_length();
  if (var_ && L_ > 0) throw ConfigError("model.type: 'transformer' does not support labels on variable-length spaces");
  shape_.layers = m.get_int("layers", 4, 1, 256);
  shape_.heads = m.get_int("heads", 4, 1, 1024);
  shape_.width = m.get_int("width", 128, 1, 1 << 16);
  if (shape_.width % shape_.heads != 0)
    throw ConfigError("model.width: " + std::to_string(shape_.width) + " is not a multiple of model.heads (" +
                      std::to_string(shape_.heads) + ")");
  shape_.context = m.get_int("context", std::min<int64_t>(D_, 512), 1, Space::kMaxDims);
  shape_.mlp = m.get_int("mlp", 4 * shape_.width, 1, 1 << 20);
  shape_.tied = m.get_bool("tied", true);
  shape_.vocab_in = K_ + 1 + L_;
  shape_.vocab_out = K_ + (var_ ? 1 : 0);
  stride_ = m.get_int("stride", std::max<int64_t>(1, shape_.context / 2), 1, shape_.context);
  dropout_ = m.get_double("dropout", 0.0, 0.0, 0.9);
  init_std_ = m.get_double("init_std", 0.02, 0.0, 10.0);
  chunk_rows_ = m.get_int("chunk_rows", 4, 1, 1 << 16);
  layout_ = make_transformer_layout(shape_, [&](const std::string& name, std::vector<uint64_t> shape) {
    return params_.add(name, std::move(shape));
  });
  params_.allocate();
  net_ = std::make_unique<TransformerNet<float>>(shape_, layout_);
  log_prior_.assign(size_t(L_), L_ ? -std::log(double(L_)) : 0.0);
  TrainOptions def;
  def.epochs = 10;
  def.batch_size = 32;
  def.patience = 3;
  def.adam.learning_rate = 3e-4;
  def.adam.clip_norm = 1.0;
  train_opt_ = read_train_options(t, def);
}

void TransformerModel::check_data(const Space& s, const char* what) const {
  if (s != space_)
    throw DataError(std::string(what) + " space " + s.describe() + " differs from the model's space " +
                    space_.describe());
}

int64_t TransformerModel::window_start(int64_t t) const {
  const int64_t C = shape_.context;
  return t < C ? 0 : ((t - C) / stride_ + 1) * stride_;
}

TransformerModel::Row TransformerModel::make_row(const DataView& x, size_t i, int32_t label) const {
  Row r;
  const int64_t len = x.length(i);
  const int64_t S = var_ && len < D_ ? len + 1 : len;
  r.in.resize(size_t(S));
  r.tgt.resize(size_t(S));
  r.in[0] = L_ > 0 ? int32_t(K_ + 1 + label) : int32_t(K_);
  for (int64_t t = 0; t < len; ++t) {
    const int32_t v = x.at(i, t);
    r.tgt[size_t(t)] = v;
    if (t + 1 < S) r.in[size_t(t + 1)] = v;
  }
  if (S > len) r.tgt[size_t(len)] = int32_t(K_);  // the end marker
  return r;
}

void TransformerModel::row_log_probs(const Row& r, double* lp) const {
  const int64_t S = int64_t(r.in.size()), C = shape_.context;
  const float* P = params_.data();
  for (int64_t k = 0;; ++k) {
    const int64_t a = k * stride_, from = k == 0 ? 0 : a + C - stride_;
    if (from >= S) break;
    const int64_t end = std::min(a + C, S);
    net_->window(P, r.in.data() + a, r.tgt.data() + a, end - a, from - a, 1.0f, nullptr, lp + from, nullptr);
  }
}

void TransformerModel::fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) {
  check_data(train.space(), "training data");
  if (validation && !validation->empty()) check_data(validation->space(), "validation data");
  // Over ranks (ctx.comm) the data are shards: the size, the first unlabeled
  // sample and the label counts are agreed over all ranks (integers, exact).
  LocalCommunicator one;
  Communicator& comm = ctx.comm ? *ctx.comm : one;
  const ShardPlace place = shard_place(comm, train.size());
  if (place.total == 0) throw DataError("training data is empty");
  if (L_ > 0) {
    std::vector<int64_t> seen(size_t(L_), 0);
    std::string missing;
    for (size_t i = 0; i < train.size() && missing.empty(); ++i) {
      if (train.label(i) < 0)
        missing = "training sample " + std::to_string(place.offset + i + 1) +
                  " has no label; the transformer on a labeled space trains on labeled samples only";
      else
        ++seen[size_t(train.label(i))];
    }
    if (comm.size() == 1 && !missing.empty()) throw DataError(missing);
    comm.check(missing);
    comm.sum(seen.data(), seen.size());
    std::vector<double> counts(size_t(L_), 1.0);  // +1 smoothing
    for (int64_t y = 0; y < L_; ++y) counts[size_t(y)] += double(seen[size_t(y)]);
    double total = 0;
    for (double c : counts) total += c;
    for (int64_t y = 0; y < L_; ++y) log_prior_[size_t(y)] = std::log(counts[size_t(y)] / total);
  }
  init_parameters(*ctx.rng);
  dropout_seed_ = ctx.rng->next();
  result_ = train_minibatch(*this, train, validation, ctx, train_opt_);
}

void TransformerModel::init_parameters(Rng& rng) {
  float* p = params_.data();
  std::fill(p, p + params_.size(), 0.0f);
  const double resid = init_std_ / std::sqrt(2.0 * double(shape_.layers));
  const size_t W = size_t(shape_.width);
  for (const auto& b : params_.blocks()) {
    const std::string& n = b.name;
    auto ends = [&](const char* s) { return n.size() >= std::strlen(s) && n.compare(n.size() - std::strlen(s), std::string::npos, s) == 0; };
    if (ends("_g")) {
      std::fill(p + b.offset, p + b.offset + b.size, 1.0f);
    } else if (ends("_w") || ends("_emb")) {
      const double sd = ends("proj_w") || ends("out_w") ? resid : init_std_;
      for (size_t i = 0; i < b.size; ++i) p[b.offset + i] = float(sd * rng.normal());
    }
  }
  (void)W;
}

std::vector<std::pair<size_t, size_t>> TransformerModel::decay_ranges() const {
  // Decoupled weight decay on the matrices and embeddings, not on gains and biases.
  std::vector<std::pair<size_t, size_t>> r;
  for (const auto& b : params_.blocks()) {
    if (b.shape.size() < 2) continue;
    if (!r.empty() && r.back().second == b.offset) r.back().second = b.offset + b.size;
    else r.emplace_back(b.offset, b.offset + b.size);
  }
  return r;
}

double TransformerModel::loss_and_grad_at(const Dataset& data, const size_t* rows, size_t n, uint64_t first,
                                          float* grad) const {
  const int64_t C = shape_.context;
  const float* P = params_.data();
  double loss = 0;
  for (size_t i = 0; i < n; ++i) {
    const int32_t y = data.label(rows[i]);
    if (L_ > 0 && y < 0) throw DataError("training sample " + std::to_string(rows[i] + 1) + " has no label");
    const Row r = make_row(data, rows[i], y);
    const int64_t S = int64_t(r.in.size());
    for (int64_t k = 0;; ++k) {
      const int64_t a = k * stride_, from = k == 0 ? 0 : a + C - stride_;
      if (from >= S) break;
      const int64_t end = std::min(a + C, S);
      TransformerNet<float>::Dropout drop;
      drop.rate = dropout_;
      drop.seed = dropout_seed_ ^ (0x9E3779B97F4A7C15ULL * uint64_t(step_ + 1));
      drop.stream = (first + i) * 4096 + uint64_t(k);
      loss += net_->window(P, r.in.data() + a, r.tgt.data() + a, end - a, from - a, 1.0f, grad, nullptr,
                           dropout_ > 0 ? &drop : nullptr);
    }
  }
  return loss;
}

void TransformerModel::position_log_probs(const DataView& x, double* out, ThreadPool& pool) const {
  check_data(x.space(), "scored data");
  const size_t n = x.size(), stride = size_t(D_ + (var_ ? 1 : 0));
  pool.run(num_chunks(n, kScoreChunk), [&](size_t c) {
    std::vector<double> lp, acc, prev;
    for (size_t i = c * kScoreChunk; i < std::min(n, (c + 1) * kScoreChunk); ++i) {
      double* o = out + i * stride;
      std::fill(o, o + stride, 0.0);
      const int32_t y = x.label(i);
      if (L_ == 0 || y >= 0) {
        const Row r = make_row(x, i, y);
        row_log_probs(r, o);
        continue;
      }
      // Unknown label: log P(x_t | x_<t) = log sum_y P(y) P(x_<=t | y) - log sum_y P(y) P(x_<t | y).
      const size_t S = size_t(x.length(i));
      std::vector<std::vector<double>> per(static_cast<size_t>(L_));
      for (int64_t k = 0; k < L_; ++k) {
        per[size_t(k)].resize(S);
        row_log_probs(make_row(x, i, int32_t(k)), per[size_t(k)].data());
      }
      acc.assign(size_t(L_), 0.0);
      for (int64_t k = 0; k < L_; ++k) acc[size_t(k)] = log_prior_[size_t(k)];
      double before = log_sum_exp(acc.data(), acc.size());
      for (size_t t = 0; t < S; ++t) {
        for (int64_t k = 0; k < L_; ++k) acc[size_t(k)] += per[size_t(k)][t];
        const double now = log_sum_exp(acc.data(), acc.size());
        o[t] = now - before;
        before = now;
      }
    }
  });
}

void TransformerModel::log_prob(const DataView& x, double* out, ThreadPool& pool) const {
  check_data(x.space(), "scored data");
  const size_t n = x.size();
  pool.run(num_chunks(n, kScoreChunk), [&](size_t c) {
    std::vector<double> lp, lw(static_cast<size_t>(L_));
    for (size_t i = c * kScoreChunk; i < std::min(n, (c + 1) * kScoreChunk); ++i) {
      const int32_t y = x.label(i);
      auto total = [&](int32_t label) {
        const Row r = make_row(x, i, label);
        lp.resize(r.in.size());
        row_log_probs(r, lp.data());
        double s = 0;
        for (double v : lp) s += v;
        return s;
      };
      if (L_ == 0 || y >= 0) {
        out[i] = total(y);
      } else {
        for (int64_t k = 0; k < L_; ++k) lw[size_t(k)] = log_prior_[size_t(k)] + total(int32_t(k));
        out[i] = log_sum_exp(lw.data(), lw.size());
      }
    }
  });
}

double TransformerModel::total_nll(const DataView& x, ThreadPool& pool) const {
  const std::vector<double> lp = log_prob(x, pool);
  double s = 0;
  for (double v : lp) s -= v;
  return s;
}

Dataset TransformerModel::sample(size_t n, Rng& rng, const SampleOptions& opts) const {
  if (L_ > 0 && opts.label >= 0) space_.check_label(opts.label);
  Dataset partial(space_);
  partial.reserve(n);
  const std::vector<int32_t> zero(size_t(var_ ? 0 : D_), 0);
  for (size_t i = 0; i < n; ++i) partial.push_back(zero, L_ > 0 ? opts.label : -1);
  if (var_) return draw(partial, nullptr, rng, opts, true);
  const std::vector<uint8_t> known(n * size_t(D_), 0);
  return draw(partial, &known, rng, opts, true);
}

Dataset TransformerModel::complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                                   const SampleOptions& opts) const {
  return draw(partial, var_ ? nullptr : &known, rng, opts, true);
}

Dataset TransformerModel::complete_recomputing(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                                               const SampleOptions& opts) const {
  return draw(partial, var_ ? nullptr : &known, rng, opts, false);
}

Dataset TransformerModel::draw(const Dataset& partial, const std::vector<uint8_t>* known, Rng& rng,
                               const SampleOptions& opts, bool cached) const {
  check_data(partial.space(), "partial data");
  if (!(opts.temperature > 0)) throw DataError("sampling temperature must be > 0");
  if (L_ > 0 && opts.label >= 0) space_.check_label(opts.label);
  const size_t n = partial.size(), D = size_t(D_);
  // The known prefix of every row.
  std::vector<int64_t> prefix(n);
  if (var_) {
    if (known && !known->empty())
      throw DataError("a variable-length space completes prefixes: the known mask must be empty");
    for (size_t i = 0; i < n; ++i) prefix[i] = partial.length(i);
  } else {
    if (!known || known->size() != n * D)
      throw DataError("completion mask has " + std::to_string(known ? known->size() : 0) + " flags, expected " +
                      std::to_string(n * D) + " (N x D)");
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* k = known->data() + i * D;
      int64_t p = 0;
      while (p < D_ && k[p]) ++p;
      for (int64_t t = p; t < D_; ++t)
        if (k[t])
          throw DataError("record " + std::to_string(i + 1) + ": position " + space_.position(t) +
                          " is known but comes after unknown position " + space_.position(p) +
                          "; 'transformer' completes the positions that follow every known one in raster order");
      prefix[i] = p;
    }
  }
  const uint64_t base = rng.next();
  const size_t chunks = num_chunks(n, kSampleChunk);
  std::vector<std::vector<int32_t>> seqs(n);  // (n) the drawn values
  std::vector<int32_t> labels(n, -1);
  const int64_t V = shape_.vocab_out;
  const float* P = params_.data();
  auto work = [&](size_t c) {
    Rng crng(base, c);
    const size_t r0 = c * kSampleChunk, m = std::min(n, r0 + kSampleChunk) - r0;
    std::vector<double> lw, buf;
    std::vector<std::vector<int32_t>> in(m);  // inputs u_0.. of each row
    std::vector<int64_t> t(m), a(m, -1);
    std::vector<TransformerNet<float>::Cache> caches(cached ? m : 0);
    for (size_t j = 0; j < m; ++j) {
      const size_t i = r0 + j;
      std::vector<int32_t> x = partial.row(i);
      x.resize(size_t(prefix[i]));
      int32_t y = -1;
      if (L_ > 0) {
        y = opts.label >= 0 ? opts.label : partial.label(i);
        if (y < 0) {
          // The label's posterior given the known prefix.
          lw.assign(size_t(L_), 0.0);
          for (int64_t k = 0; k < L_; ++k) {
            lw[size_t(k)] = log_prior_[size_t(k)];
            if (x.empty()) continue;
            Row r;
            r.in.assign(1, int32_t(K_ + 1 + k));
            r.in.insert(r.in.end(), x.begin(), x.end() - 1);
            r.tgt = x;
            std::vector<double> lp(x.size());
            row_log_probs(r, lp.data());
            for (double v : lp) lw[size_t(k)] += v;
          }
          y = int32_t(crng.categorical_log(lw.data(), size_t(L_), 1.0, buf));
        }
      }
      labels[i] = y;
      in[j].assign(1, L_ > 0 ? int32_t(K_ + 1 + y) : int32_t(K_));
      in[j].insert(in[j].end(), x.begin(), x.end());
      t[j] = prefix[i];
      if (cached) caches[j] = net_->new_cache();
    }
    std::vector<size_t> active;
    for (size_t j = 0; j < m; ++j)
      if (t[j] < D_) active.push_back(j);
    std::vector<float> logits;
    std::vector<int32_t> tok;
    std::vector<int64_t> pos;
    std::vector<TransformerNet<float>::Cache*> cp;
    while (!active.empty()) {
      const size_t na = active.size();
      logits.resize(na * size_t(V));
      if (cached) {
        tok.resize(na);
        pos.resize(na);
        cp.resize(na);
        for (size_t q = 0; q < na; ++q) {
          const size_t j = active[q];
          const int64_t s = window_start(t[j]);
          if (s != a[j]) {
            // A new window: its earlier inputs go into the cache.
            a[j] = s;
            if (t[j] > s)
              net_->window(P, in[j].data() + s, nullptr, t[j] - s, t[j] - s, 1.0f, nullptr, nullptr, nullptr,
                           &caches[j]);
          }
          tok[q] = in[j][size_t(t[j])];
          pos[q] = t[j] - s;
          cp[q] = &caches[j];
        }
        net_->step(P, tok.data(), pos.data(), cp.data(), na, logits.data());
      } else {
        for (size_t q = 0; q < na; ++q) {
          const size_t j = active[q];
          const int64_t s = window_start(t[j]);
          net_->window(P, in[j].data() + s, nullptr, t[j] - s + 1, t[j] - s + 1, 1.0f, nullptr, nullptr, nullptr,
                       nullptr, logits.data() + q * size_t(V));
        }
      }
      std::vector<size_t> next;
      lw.resize(size_t(V));
      for (size_t q = 0; q < na; ++q) {
        const size_t j = active[q];
        for (int64_t v = 0; v < V; ++v) lw[size_t(v)] = double(logits[q * size_t(V) + size_t(v)]);
        const int32_t v = int32_t(crng.categorical_log(lw.data(), size_t(V), opts.temperature, buf));
        if (var_ && v == K_) continue;  // the end marker
        in[j].push_back(v);
        if (++t[j] < D_) next.push_back(j);
      }
      active.swap(next);
    }
    for (size_t j = 0; j < m; ++j) seqs[r0 + j].assign(in[j].begin() + 1, in[j].end());
  };
  if (opts.pool) opts.pool->run(chunks, work);
  else for (size_t c = 0; c < chunks; ++c) work(c);
  Dataset out(space_);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(seqs[i], L_ > 0 ? labels[i] : -1);
  return out;
}

void TransformerModel::save(ModelWriter& w) const {
  params_.save(w);
  if (L_ > 0) w.add("label_log_prior", log_prior_.data(), {uint64_t(L_)});
}

void TransformerModel::load(const ModelReader& r) {
  params_.load(r);
  if (L_ > 0) r.read("label_log_prior", log_prior_.data(), {uint64_t(L_)});
}

std::vector<double> TransformerModel::label_log_prior() const {
  if (L_ == 0) return Model::label_log_prior();
  return log_prior_;
}

json TransformerModel::describe() const {
  json j;
  j["positions"] = D_;
  j["levels"] = K_;
  j["labels"] = L_;
  j["layers"] = shape_.layers;
  j["heads"] = shape_.heads;
  j["width"] = shape_.width;
  j["mlp"] = shape_.mlp;
  j["context"] = shape_.context;
  j["stride"] = stride_;
  j["tied"] = shape_.tied;
  j["dropout"] = dropout_;
  j["vocabulary_in"] = shape_.vocab_in;
  j["vocabulary_out"] = shape_.vocab_out;
  j["parameters"] = params_.size();
  return j;
}

std::unique_ptr<Model> create_transformer(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<TransformerModel>(space, model, train);
}

}  // namespace dgm
