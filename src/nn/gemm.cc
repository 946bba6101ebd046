// gemm.cc — nn::gemm through Eigen's general matrix product on strided maps.
#include "nn/gemm.h"

#include <algorithm>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "nn/eigen.h"

namespace dgm::nn {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
  Eigen::Map<Mat, 0, Eigen::OuterStride<>> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) c.setZero();
  else if (beta != T(1)) c *= beta;
  if (M == 0 || N == 0 || K == 0) return;
  const CMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const CMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  else c.noalias() += alpha * a.transpose() * b.transpose();
}

namespace {

#if defined(__AVX512F__)
// Lane indices of the 4 rounds of a 16 x 16 transpose: round k swaps blocks
// of b = 2^k lanes between rows i and i + b (i with bit k clear): "lo" keeps
// row i's lanes with bit k clear and takes row i+b's lane l - b for the others,
// "hi" takes row i's lane l + b and keeps row i+b's lanes with bit k set.
struct PermuteTable {
  alignas(64) int lo[4][16];
  alignas(64) int hi[4][16];
};
constexpr PermuteTable make_table() {
  PermuteTable t{};
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 16; ++l) {
      const int b = 1 << k;
      t.lo[k][l] = (l & b) ? 16 + (l - b) : l;
      t.hi[k][l] = (l & b) ? 16 + l : l + b;
    }
  return t;
}
constexpr PermuteTable kPermute = make_table();

// One full 16 x 16 tile through registers.
inline void transpose16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int k = 0; k < 4; ++k) {
    const int b = 1 << k;
    const __m512i lo = _mm512_load_si512(kPermute.lo[k]), hi = _mm512_load_si512(kPermute.hi[k]);
    __m512 t[16];
    for (int i = 0; i < 16; ++i) {
      if (i & b) continue;
      t[i] = _mm512_permutex2var_ps(r[i], lo, r[i + b]);
      t[i + b] = _mm512_permutex2var_ps(r[i], hi, r[i + b]);
    }
    for (int i = 0; i < 16; ++i) r[i] = t[i];
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#elif defined(__AVX2__)
// One 8 x 8 tile through registers: pairs of rows interleaved, then pairs of
// pairs, then the 128-bit halves swapped.
inline void transpose8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

}  // namespace

void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst, int64_t ldd) {
  constexpr int64_t kT = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += kT)
    for (int64_t c0 = 0; c0 < cols; c0 += kT) {
      const int64_t r1 = std::min(rows, r0 + kT), c1 = std::min(cols, c0 + kT);
#if defined(__AVX512F__)
      if (r1 - r0 == kT && c1 - c0 == kT) {
        transpose16(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
        continue;
      }
#elif defined(__AVX2__)
      if (r1 - r0 == kT && c1 - c0 == kT) {
        for (int64_t a = 0; a < kT; a += 8)
          for (int64_t b = 0; b < kT; b += 8)
            transpose8(src + (r0 + a) * lds + c0 + b, lds, dst + (c0 + b) * ldd + r0 + a, ldd);
        continue;
      }
#endif
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * ldd + r] = src[r * lds + c];
    }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace dgm::nn
