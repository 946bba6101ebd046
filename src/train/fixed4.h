// fixed4.h — FixedPoint's conversions (comm.h) for 4 doubles at a time
// under AVX2, for the exact gradient sum of the training loop (trainer.cc),
// which uses vcvtpd2qq and vcvtqq2pd instead where AVX-512DQ has them.
#pragma once

#include <cstdint>

#include "nn/avx512.h"

#if !(defined(__AVX512F__) && defined(__AVX512DQ__)) && defined(__AVX2__)
#include <immintrin.h>

// AVX2 has no conversions between double and int64. to_int rounds v as
// llrint does (vroundpd in the current rounding mode) and converts the
// integer r, |r| < 2^62, in two exact parts: h = floor(r / 2^32) through
// int32, and r - 2^32 h in [0, 2^32) through the bits of 2^52 + it. to_double
// adds 2^32 times the signed high half and the unsigned low half, each exact
// as a double, in one rounding: double(q) for any int64 q.
namespace dgm::fixed4 {
constexpr double kTwo32 = 4294967296.0, kTwo52 = 4503599627370496.0;
constexpr int64_t kTwo52Bits = 0x4330000000000000;
// All 4 lanes are below 2^62 in magnitude (the grid's sums are; NaN is not).
inline bool in_range(__m256d v) {
  const __m256d a = _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
  return _mm256_movemask_pd(_mm256_cmp_pd(a, _mm256_set1_pd(4611686018427387904.0), _CMP_LT_OQ)) == 0xF;
}
inline __m256i to_int(__m256d v) {
  const __m256d r = _mm256_round_pd(v, _MM_FROUND_CUR_DIRECTION);
  const __m256d h = _mm256_floor_pd(_mm256_mul_pd(r, _mm256_set1_pd(1.0 / kTwo32)));
  const __m256d l = _mm256_fnmadd_pd(h, _mm256_set1_pd(kTwo32), r);  // exact, in [0, 2^32)
  const __m256i hi = _mm256_slli_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(h)), 32);
  const __m256i lo = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(l, _mm256_set1_pd(kTwo52))),
                                      _mm256_set1_epi64x(kTwo52Bits));
  return _mm256_add_epi64(hi, lo);
}
inline __m256d to_double(__m256i q) {
  const __m128i h = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7)));
  const __m256d hi = _mm256_mul_pd(_mm256_cvtepi32_pd(h), _mm256_set1_pd(kTwo32));
  const __m256i l = _mm256_or_si256(_mm256_and_si256(q, _mm256_set1_epi64x(0xFFFFFFFF)), _mm256_set1_epi64x(kTwo52Bits));
  const __m256d lo = _mm256_sub_pd(_mm256_castsi256_pd(l), _mm256_set1_pd(kTwo52));
  return _mm256_add_pd(hi, lo);
}
}  // namespace dgm::fixed4
#define DGM_FIXED4 1
#endif

