// packet.h — the 16-float packet of dgm's float kernels and its lane masks:
// one AVX-512 register, or a pair of AVX2 registers (low and high 8 lanes) on
// a machine without AVX-512. Every operation here is lane by lane (a lane's
// result depends only on that lane), so a kernel written on packets makes the
// same chains of fused multiply-adds, and the same floats, on both.
// DGM_PACKETS is defined where packets exist (AVX-512F, or AVX2 with FMA);
// kernels keep a plain path for other builds.
#pragma once

#include <cstdint>

#include "nn/avx512.h"

#if defined(__AVX512F__)
#define DGM_PACKETS 512
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DGM_PACKETS 256
#endif

#if defined(DGM_PACKETS)

namespace dgm::nn::simd {

#if DGM_PACKETS == 512

using f16 = __m512;
using i16 = __m512i;
using mask16 = __mmask16;

inline f16 zero() { return _mm512_setzero_ps(); }
inline f16 set1(float x) { return _mm512_set1_ps(x); }
inline f16 load(const float* p) { return _mm512_loadu_ps(p); }
inline f16 maskz_load(mask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline void store(float* p, f16 v) { _mm512_storeu_ps(p, v); }
inline f16 add(f16 a, f16 b) { return _mm512_add_ps(a, b); }
inline f16 max(f16 a, f16 b) { return _mm512_max_ps(a, b); }
inline f16 fmadd(f16 a, f16 b, f16 c) { return _mm512_fmadd_ps(a, b, c); }
// v where g > 0, else +0 (an unordered g gives 0).
inline f16 keep_where_positive(f16 g, f16 v) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_GT_OQ), v);
}
inline i16 zero_bits() { return _mm512_setzero_si512(); }
// The bits of the lanes m of p (0 elsewhere), ORed into acc.
inline i16 or_bits(i16 acc, mask16 m, const float* p) { return _mm512_or_si512(acc, _mm512_maskz_loadu_epi32(m, p)); }
// Lanes whose float bits are nonzero but for the sign bit: not +-0 (NaN included).
inline mask16 nonzero(i16 bits) { return _mm512_test_epi32_mask(bits, _mm512_set1_epi32(0x7FFFFFFF)); }
// base + k for the lanes k set in m, in order, into out (room for 16); returns their number.
inline int64_t compress_indices(int32_t* out, mask16 m, int32_t base) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  // Compressed in a register and stored whole: Zen 4 runs vpcompressd to memory as slow microcode.
  _mm512_storeu_si512(out, _mm512_maskz_compress_epi32(m, _mm512_add_epi32(iota, _mm512_set1_epi32(base))));
  return _mm_popcnt_u32(m);
}

// Stores with a lane mask only where lanes are off: masked stores are slow on
// some AVX-512 cores (a NADE scoring pass spent a quarter of its time in them).
inline void store(float* p, __mmask16 m, __m512 v) {
  if (m == __mmask16(0xFFFF)) _mm512_storeu_ps(p, v);
  else _mm512_mask_storeu_ps(p, m, v);
}

#else  // AVX2

struct f16 {
  __m256 lo, hi;
};
struct i16 {
  __m256i lo, hi;
};
using mask16 = uint16_t;

namespace detail {
// The lanes of an 8-bit mask as an AVX2 lane mask (all ones where set).
inline __m256i lanes8(unsigned m) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(m)), bit), bit);
}
}  // namespace detail

inline f16 zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline f16 set1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
inline f16 load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline f16 maskz_load(mask16 m, const float* p) {
  if (m == 0xFFFF) return load(p);
  // vmaskmovps: lanes that are off read nothing (no fault past an array's end).
  return {_mm256_maskload_ps(p, detail::lanes8(m & 0xFFu)), _mm256_maskload_ps(p + 8, detail::lanes8(m >> 8))};
}
inline void store(float* p, f16 v) {
  _mm256_storeu_ps(p, v.lo);
  _mm256_storeu_ps(p + 8, v.hi);
}
inline void store(float* p, mask16 m, f16 v) {
  if (m == 0xFFFF) return store(p, v);
  _mm256_maskstore_ps(p, detail::lanes8(m & 0xFFu), v.lo);
  _mm256_maskstore_ps(p + 8, detail::lanes8(m >> 8), v.hi);
}
inline f16 add(f16 a, f16 b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline f16 max(f16 a, f16 b) { return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
inline f16 fmadd(f16 a, f16 b, f16 c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
inline f16 keep_where_positive(f16 g, f16 v) {
  const __m256 z = _mm256_setzero_ps();
  return {_mm256_and_ps(_mm256_cmp_ps(g.lo, z, _CMP_GT_OQ), v.lo), _mm256_and_ps(_mm256_cmp_ps(g.hi, z, _CMP_GT_OQ), v.hi)};
}
inline i16 zero_bits() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
inline i16 or_bits(i16 acc, mask16 m, const float* p) {
  const int* q = reinterpret_cast<const int*>(p);
  if (m == 0xFFFF)
    return {_mm256_or_si256(acc.lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))),
            _mm256_or_si256(acc.hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 8)))};
  return {_mm256_or_si256(acc.lo, _mm256_maskload_epi32(q, detail::lanes8(m & 0xFFu))),
          _mm256_or_si256(acc.hi, _mm256_maskload_epi32(q + 8, detail::lanes8(m >> 8)))};
}
inline mask16 nonzero(i16 bits) {
  const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF), z = _mm256_setzero_si256();
  const unsigned lo = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(bits.lo, magnitude), z))));
  const unsigned hi = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(bits.hi, magnitude), z))));
  return mask16(~(lo | (hi << 8)));
}
// The set lanes of each 8-bit mask, in order, as 3-bit fields (lane k of
// the result in bits 3k .. 3k + 2).
struct CompressTable {
  uint32_t lanes[256];
};
constexpr CompressTable make_compress_table() {
  CompressTable t{};
  for (unsigned m = 0; m < 256; ++m) {
    unsigned n = 0;
    for (unsigned k = 0; k < 8; ++k)
      if (m & (1u << k)) t.lanes[m] |= k << (3 * n++);
  }
  return t;
}
inline constexpr CompressTable kCompress = make_compress_table();
// 8 lanes at a time through the table (a loop over the set bits took a
// fifth of a PixelCNN step: its runs of 2 pixels list columns often).
inline int64_t compress_indices(int32_t* out, mask16 m, int32_t base) {
  const __m256i shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), seven = _mm256_set1_epi32(7);
  int64_t n = 0;
  for (int h = 0; h < 2; ++h) {
    const unsigned b = (m >> (8 * h)) & 0xFFu;
    const __m256i k = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int(kCompress.lanes[b])), shifts), seven);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + n), _mm256_add_epi32(k, _mm256_set1_epi32(base + 8 * h)));
    n += __builtin_popcount(b);
  }
  return n;
}

#endif

// The lanes of a 16-float packet with `remaining` elements left from its
// first: all on from 16, none at 0 or below.
inline mask16 lane_mask(int64_t remaining) {
  return remaining >= 16 ? mask16(0xFFFF) : remaining <= 0 ? mask16(0) : mask16((1u << remaining) - 1u);
}
// A packet's lanes m of p; Full: every lane is on (a plain load).
template <bool Full>
inline f16 load_lanes(mask16 m, const float* p) {
  if constexpr (Full) return load(p);
  else return maskz_load(m, p);
}
// The lane masks of the V 16-float packets at [j, j + 16 V) of an array of
// n floats: all lanes inside it on, the rest off.
template <int V>
inline void masks(long n, long j, mask16 m[V]) {
  for (int v = 0; v < V; ++v) m[v] = lane_mask(n - j - 16 * v);
}

}  // namespace dgm::nn::simd

#endif  // DGM_PACKETS
