// mixture_kernels.h — AVX2 forms of mixture.cc's inner loops, here so that
// tests can hold them against the scalar forms. Empty for AVX-512 builds
// (mixture.cc has its own kernels there) and builds without AVX2.
#pragma once

#include <cstdint>

#if defined(__AVX2__) && !defined(__AVX512F__)
#include <immintrin.h>

namespace dgm::mixture_kernels {

// o[j] += q for the set bits j of w (o has 64 values), as mixture.cc's
// add_at_ones: lane i of a group of four takes q where its bit of w is set
// (w's bits against 1, 2, 4, 8, four bits a step), the others 0; no
// branches on the bits (they are data). Integer additions: the same sums
// as the scalar o[j] += q & -((w >> j) & 1).
inline void add_at_ones_avx2(uint64_t w, int64_t q, int64_t* o) {
  const __m256i v = _mm256_set1_epi64x(q), bit = _mm256_setr_epi64x(1, 2, 4, 8);
  __m256i b = _mm256_set1_epi64x(int64_t(w));
  for (int j = 0; j < 64; j += 4, b = _mm256_srli_epi64(b, 4)) {
    const __m256i m = _mm256_cmpeq_epi64(_mm256_and_si256(b, bit), bit);
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o + j));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + j), _mm256_add_epi64(x, _mm256_and_si256(m, v)));
  }
}

}  // namespace dgm::mixture_kernels
#endif
