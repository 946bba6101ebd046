// sparse_rows.cc — the kernels of sparse_rows.h, on 16-float packets
// (packet.h: AVX-512, or pairs of AVX2 registers). The forward
// pass keeps a row's 48 outputs of a block in 3 packets and walks its list
// of nonzero inputs (three loads a term, shared with no other row: the terms
// are fewer). Rows taken in groups, walking their lists in step, were no
// faster on Zen 4 (loads, not the adds' latency, bound it). The weight
// gradient runs conv_backward_weights' tiles over a block's listed rows
// (AVX-512), or sums each input column's own list of nonzero rows (AVX2).
#include "nn/sparse_rows.h"

#include <algorithm>
#include <cstring>

#include "nn/packet.h"
#include "nn/conv.h"
#include "nn/simd_math.h"
#include "nn/workspace.h"

namespace dgm::nn {

#if defined(DGM_PACKETS)

namespace {

using simd::add;
using simd::f16;
using simd::fmadd;
using simd::lane_mask;
using simd::load_lanes;
using simd::mask16;
using simd::maskz_load;
using simd::max;
using simd::set1;
using simd::zero;

// A weight tile's rows: 8 x 3 packets of accumulators fill AVX-512's 32
// registers; AVX2's 16 hold 2 x 3 pairs.
constexpr int kTileRows = DGM_PACKETS == 512 ? 8 : 2;
#if DGM_PACKETS == 256
// The 8 floats at p (the first `left` when left < 8; the lanes past them
// read as +0): their bits, and as lane masks those not +-0 and those exactly 1.
struct Lanes8 {
  __m256i bits;
  unsigned nonzero, ones;
};
inline Lanes8 lanes8(const float* p, int64_t left) {
  const int* q = reinterpret_cast<const int*>(p);
  const __m256i bits =
      left >= 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))
                : _mm256_maskload_epi32(q, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(left)),
                                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  const __m256i magnitude = _mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF));
  const unsigned zeros =
      unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(magnitude, _mm256_setzero_si256()))));
  const unsigned ones =
      unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(bits, _mm256_set1_epi32(0x3F800000)))));
  return {bits, ~zeros & 0xFFu, ones};
}
#endif

// One row x V vectors of outputs over one panel of columns: acc = init on
// the first panel (the partial sums from y on a later one: a float stored
// and reloaded is the same float), then the row's n terms there (offsets of
// weight rows and input values); the last panel stores max(v, 0) with relu.
// Unit: every input is 1, and fma(1, w, s) rounds as s + w.
template <int V, bool Full, bool Unit>
void forward_row(int64_t n, const int32_t* off, const float* val, const float* w, const mask16* mask,
                 const float* init, float* y, bool relu, bool first, bool last) {
  f16 acc[V];
  #pragma GCC unroll 16
  for (int v = 0; v < V; ++v)
    acc[v] = !first ? maskz_load(mask[v], y + 16 * v)
             : init ? maskz_load(mask[v], init + 16 * v)
                    : zero();
  for (int64_t k = 0; k < n; ++k) {
    const float* wr = w + off[k];
    if constexpr (Unit) {
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[v] = add(acc[v], load_lanes<Full>(mask[v], wr + 16 * v));
    } else {
      const f16 xb = set1(val[k]);
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[v] = fmadd(xb, load_lanes<Full>(mask[v], wr + 16 * v), acc[v]);
    }
  }
  const f16 z = zero();
  const bool r = relu && last;
  #pragma GCC unroll 16
  for (int v = 0; v < V; ++v) simd::store(y + 16 * v, mask[v], r ? max(acc[v], z) : acc[v]);
}

#if DGM_PACKETS == 256
// AVX2: two rows' forward_row<3, true, true> walked in step (12 chains in
// flight, where one row's 6 waited on its loads); each row's chain is its
// own, in its own order.
void forward_two_rows(int64_t n0, const int32_t* off0, int64_t n1, const int32_t* off1, const float* w,
                      const float* init0, const float* init1, float* y0, float* y1, bool relu, bool first,
                      bool last) {
  f16 a[3], b[3];
  #pragma GCC unroll 3
  for (int v = 0; v < 3; ++v) {
    a[v] = !first ? simd::load(y0 + 16 * v) : init0 ? simd::load(init0 + 16 * v) : zero();
    b[v] = !first ? simd::load(y1 + 16 * v) : init1 ? simd::load(init1 + 16 * v) : zero();
  }
  const int64_t both = std::min(n0, n1);
  int64_t k = 0;
  for (; k < both; ++k) {
    const float* w0 = w + off0[k];
    const float* w1 = w + off1[k];
    #pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) {
      a[v] = add(a[v], simd::load(w0 + 16 * v));
      b[v] = add(b[v], simd::load(w1 + 16 * v));
    }
  }
  for (int64_t j = k; j < n0; ++j) {
    #pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) a[v] = add(a[v], simd::load(w + off0[j] + 16 * v));
  }
  for (int64_t j = k; j < n1; ++j) {
    #pragma GCC unroll 3
    for (int v = 0; v < 3; ++v) b[v] = add(b[v], simd::load(w + off1[j] + 16 * v));
  }
  const f16 z = zero();
  const bool r = relu && last;
  #pragma GCC unroll 3
  for (int v = 0; v < 3; ++v) {
    simd::store(y0 + 16 * v, r ? max(a[v], z) : a[v]);
    simd::store(y1 + 16 * v, r ? max(b[v], z) : b[v]);
  }
}
#endif

template <bool Unit>
void forward_rows(int V, bool full, int64_t n, const int32_t* off, const float* val, const float* w,
                  const mask16* mask, const float* init, float* y, bool relu, bool first, bool last) {
  if (full) forward_row<3, true, Unit>(n, off, val, w, mask, init, y, relu, first, last);
  else if (V == 3) forward_row<3, false, Unit>(n, off, val, w, mask, init, y, relu, first, last);
  else if (V == 2) forward_row<2, false, Unit>(n, off, val, w, mask, init, y, relu, first, last);
  else forward_row<1, false, Unit>(n, off, val, w, mask, init, y, relu, first, last);
}

// dw rows [0, KB) (ld J) x V vectors += sum over the listed rows p of
// d[p][k] x[p][:], each chain from +0 (conv_backward_weights' tiles).
template <int KB, int V, bool Full>
void weights_tile(int64_t np, const int32_t* rows, const float* d, int64_t R, const float* x, int64_t J,
                  const mask16* mask, float* dw) {
  f16 acc[KB][V];
  #pragma GCC unroll 16
  for (int k = 0; k < KB; ++k)
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v) acc[k][v] = zero();
  for (int64_t i = 0; i < np; ++i) {
    const int64_t p = rows[i];
    const float* xp = x + p * J;
    const float* dp = d + p * R;
    if constexpr (DGM_PACKETS == 512) {
      f16 xv[V];
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) xv[v] = load_lanes<Full>(mask[v], xp + 16 * v);
      #pragma GCC unroll 16
      for (int k = 0; k < KB; ++k) {
        const f16 db = set1(dp[k]);
        #pragma GCC unroll 16
        for (int v = 0; v < V; ++v) acc[k][v] = fmadd(db, xv[v], acc[k][v]);
      }
    } else {
      // AVX2's 16 registers hold the accumulators and one packet at a time
      // (all V packets spilled accumulators); the same FMAs in each chain.
      f16 db[KB];
      #pragma GCC unroll 16
      for (int k = 0; k < KB; ++k) db[k] = set1(dp[k]);
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) {
        const f16 xv = load_lanes<Full>(mask[v], xp + 16 * v);
        #pragma GCC unroll 16
        for (int k = 0; k < KB; ++k) acc[k][v] = fmadd(db[k], xv, acc[k][v]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int k = 0; k < KB; ++k)
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      float* at = dw + k * J + 16 * v;
      simd::store(at, mask[v], add(maskz_load(mask[v], at), acc[k][v]));
    }
}

// weights_tile for kb <= KB rows.
template <int KB, int V, bool Full>
void weights_rows(int64_t kb, int64_t np, const int32_t* rows, const float* d, int64_t R, const float* x, int64_t J,
                  const mask16* mask, float* dw) {
  if constexpr (KB > 1)
    if (kb < KB) return weights_rows<KB - 1, V, Full>(kb, np, rows, d, R, x, J, mask, dw);
  weights_tile<KB, V, Full>(np, rows, d, R, x, J, mask, dw);
}

#if DGM_PACKETS == 256

// AVX2: the weight gradient column by column of x. For each column c of a
// block (of kOutputBlock columns and up to kBlockRows rows), the rows p
// where x[p][c] is not +-0, in order; then dw[r][c] for 48 consecutive
// outputs r at a time is one chain per r over that list, fma(x[p][c],
// d[p][r], acc) from +0 (plain adds where every listed input is 1), the
// chain conv_backward_weights' tiles make less its +-0 terms (which leave
// it unchanged, as in forward), and dw[r][c] + acc is stored through 8 x 8
// transposes. The tiles of 2 outputs x 48 columns spent 12 fused
// multiply-adds a row however few of its inputs were nonzero: at 30% ones
// the columns' lists take about a third of the vector operations.

// The 48 chains of column c's list: acc[i] for outputs i of d (offset to
// the first output; rows of R floats) into t[0, 48).
template <bool Full, bool Unit>
void column_chains(int64_t cnt, const int32_t* rows, const float* vals, const float* d, int64_t R,
                   const mask16* mask, float* t) {
  f16 acc[3] = {zero(), zero(), zero()};
  for (int64_t i = 0; i < cnt; ++i) {
    const float* dp = d + int64_t(rows[i]) * R;
    if constexpr (Unit) {
      #pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) acc[v] = add(acc[v], load_lanes<Full>(mask[v], dp + 16 * v));
    } else {
      const f16 xb = set1(vals[i]);
      #pragma GCC unroll 3
      for (int v = 0; v < 3; ++v) acc[v] = fmadd(xb, load_lanes<Full>(mask[v], dp + 16 * v), acc[v]);
    }
  }
  #pragma GCC unroll 3
  for (int v = 0; v < 3; ++v) simd::store(t + 16 * v, acc[v]);
}

// dw[i][k] = dw[i][k] + t[k][i] (ld of dw: J, of t: 48) for i0 <= i < ni, k < nk.
inline void add_transposed(const float* t, int64_t i0, int64_t ni, int64_t nk, float* dw, int64_t J) {
  for (; i0 < ni; i0 += 8) {
    if (nk == 8 && ni - i0 >= 8) {
      __m256 a[8], b[8];
      #pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) a[k] = _mm256_loadu_ps(t + k * 48 + i0);
      #pragma GCC unroll 4
      for (int k = 0; k < 8; k += 2) {
        b[k] = _mm256_unpacklo_ps(a[k], a[k + 1]);
        b[k + 1] = _mm256_unpackhi_ps(a[k], a[k + 1]);
      }
      #pragma GCC unroll 2
      for (int k = 0; k < 8; k += 4) {
        a[k] = _mm256_shuffle_ps(b[k], b[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
        a[k + 1] = _mm256_shuffle_ps(b[k], b[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
        a[k + 2] = _mm256_shuffle_ps(b[k + 1], b[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
        a[k + 3] = _mm256_shuffle_ps(b[k + 1], b[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
      }
      // a[q] (q < 4) holds i = q (low half) and i = q + 4 (high half) for k < 4; a[q + 4] for k >= 4.
      #pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) {
        const __m256 lo = _mm256_permute2f128_ps(a[q], a[q + 4], 0x20), hi = _mm256_permute2f128_ps(a[q], a[q + 4], 0x31);
        float* r0 = dw + (i0 + q) * J;
        float* r1 = dw + (i0 + q + 4) * J;
        _mm256_storeu_ps(r0, _mm256_add_ps(_mm256_loadu_ps(r0), lo));
        _mm256_storeu_ps(r1, _mm256_add_ps(_mm256_loadu_ps(r1), hi));
      }
    } else {
      for (int64_t i = i0; i < std::min(ni, i0 + 8); ++i)
        for (int64_t k = 0; k < nk; ++k) dw[i * J + k] = dw[i * J + k] + t[k * 48 + i];
    }
  }
}

bool weight_gradient_by_columns(int64_t n, int64_t R, int64_t J, const float* d, const float* x,
                                const int64_t* block_cols, float* dw) {
  constexpr int64_t kBlockRows = 128;  // conv_backward_weights' blocks of pixels: the same chains
  if (n <= 0) return true;
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  // Per column of a block: its listed rows (from the block's first) and their inputs.
  int32_t* rows = ws.take<int32_t>(size_t(kOutputBlock * kBlockRows));
  float* vals = ws.take<float>(size_t(kOutputBlock * kBlockRows));
  int64_t* count = ws.take<int64_t>(size_t(kOutputBlock));
  float* t = ws.take<float>(size_t(8 * 48));
  for (int64_t p0 = 0; p0 < n; p0 += kBlockRows) {
    const int64_t m = std::min(kBlockRows, n - p0);
    for (int64_t c0 = 0; c0 < J; c0 += kOutputBlock) {
      const int64_t width = std::min(kOutputBlock, J - c0), b = c0 / kOutputBlock;
      const int64_t lo = block_cols ? block_cols[2 * b] : 0, hi = block_cols ? block_cols[2 * b + 1] : R;
      if (lo >= hi) continue;
      // The lists, row by row: 8 inputs a load, then each nonzero one's
      // column by its bit (a third of them nonzero in binary images).
      int64_t total = 0;
      bool unit = true;
      std::fill(count, count + width, int64_t(0));
      for (int64_t p = 0; p < m; ++p) {
        const float* xp = x + (p0 + p) * J + c0;
        for (int64_t k0 = 0; k0 < width; k0 += 8) {
          const Lanes8 l = lanes8(xp + k0, width - k0);
          unsigned nz = l.nonzero;
          unit = unit && (nz & ~l.ones) == 0;
          total += __builtin_popcount(nz);
          for (; nz; nz &= nz - 1) {
            const int64_t k = k0 + __builtin_ctz(nz);
            rows[k * kBlockRows + count[k]] = int32_t(p);
            vals[k * kBlockRows + count[k]++] = xp[k];
          }
        }
      }
      // conv_backward_weights skips a block whose inputs are all +-0 (and
      // otherwise adds every chain, +0 included, to dw).
      if (total == 0) continue;
      const float* db = d + p0 * R;
      // Chunks of 48 outputs from a multiple of 16 below lo (d's loads
      // then split no cache line where its rows are 64-byte aligned); the
      // outputs below lo are not stored.
      for (int64_t r0 = lo - lo % 16; r0 < hi; r0 += 48) {
        const int64_t nr = std::min<int64_t>(48, hi - r0), skip = std::max<int64_t>(0, lo - r0);
        mask16 mask[3];
        for (int v = 0; v < 3; ++v) mask[v] = lane_mask(nr - 16 * v);
        for (int64_t k0 = 0; k0 < width; k0 += 8) {
          const int64_t nk = std::min<int64_t>(8, width - k0);
          for (int64_t k = k0; k < k0 + nk; ++k) {
            const int32_t* rk = rows + k * kBlockRows;
            const float* vk = vals + k * kBlockRows;
            float* tk = t + (k - k0) * 48;
            if (nr == 48) {
              if (unit) column_chains<true, true>(count[k], rk, vk, db + r0, R, mask, tk);
              else column_chains<true, false>(count[k], rk, vk, db + r0, R, mask, tk);
            } else {
              if (unit) column_chains<false, true>(count[k], rk, vk, db + r0, R, mask, tk);
              else column_chains<false, false>(count[k], rk, vk, db + r0, R, mask, tk);
            }
          }
          add_transposed(t, skip, nr, nk, dw + r0 * J + c0 + k0, J);
        }
      }
    }
  }
  return true;
}

#endif  // AVX2

}  // namespace

bool sparse_rows_fit(int64_t J) { return J * kOutputBlock < (int64_t(1) << 31); }

bool sparse_rows_forward(int64_t n, int64_t J, const float* x, const float* w, int64_t F, const int64_t* block_cols,
                         const float* init, float* y, bool relu) {
  // Panels of columns whose weight rows (a block's 48 outputs) stay in L1
  // while every row of a slice passes over them.
  constexpr int64_t kPanel = 256, kSliceRows = 128;
  if (!sparse_rows_fit(J)) return false;
  if (n <= 0) return true;
  // Forward staircases read columns from 0.
  if (block_cols)
    for (int64_t b = 0; b < num_output_blocks(F); ++b)
      if (block_cols[2 * b] != 0) return false;
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  // Row r's nonzero inputs in panel k, at slot r * panels + k: offsets
  // j * kOutputBlock of their weight rows in a block and their values, in
  // column order.
  const int64_t panels = (J + kPanel - 1) / kPanel, slot = kPanel + 16;
  int32_t* off = ws.take<int32_t>(size_t(kSliceRows * panels * slot));
  float* val = ws.take<float>(size_t(kSliceRows * panels * slot));
  int64_t* count = ws.take<int64_t>(size_t(kSliceRows * panels));
#if DGM_PACKETS == 512
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), one = _mm512_set1_epi32(0x3F800000);
  const __m512i step = _mm512_set1_epi32(int(16 * kOutputBlock)), scale = _mm512_set1_epi32(int(kOutputBlock));
#endif
  for (int64_t s0 = 0; s0 < n; s0 += kSliceRows) {
    const int64_t m = std::min(kSliceRows, n - s0);
    mask16 other = 0;  // lanes where some nonzero input is not 1
    for (int64_t r = 0; r < m; ++r) {
      const float* xr = x + (s0 + r) * J;
#if DGM_PACKETS == 512
      __m512i jf = _mm512_mullo_epi32(iota, scale);
      for (int64_t k = 0; k < panels; ++k) {
        int32_t* o = off + (r * panels + k) * slot;
        float* v = val + (r * panels + k) * slot;
        int64_t c = 0;
        for (int64_t j = k * kPanel; j < std::min(J, (k + 1) * kPanel); j += 16, jf = _mm512_add_epi32(jf, step)) {
          const __m512i bits = _mm512_maskz_loadu_epi32(lane_mask(J - j), xr + j);
          // Nonzero but for the sign bit where the input is not +-0.
          const __mmask16 nz = _mm512_test_epi32_mask(bits, magnitude);
          other = __mmask16(other | _mm512_mask_cmpneq_epi32_mask(nz, bits, one));
          // Compressed in registers, stored whole (a compressing store to
          // memory is microcoded on Zen 4); a slot has 16 entries of room.
          _mm512_storeu_si512(o + c, _mm512_maskz_compress_epi32(nz, jf));
          _mm512_storeu_si512(v + c, _mm512_maskz_compress_epi32(nz, bits));
          c += _mm_popcnt_u32(nz);
        }
        count[r * panels + k] = c;
      }
#else
      // 8 inputs at a time, without a branch on each (a zero or one in a
      // binary image is not predictable: the branchy loop took a sixth of
      // the pass): the lanes' indices through packet.h's compress table,
      // the values by the same permutation; the same lists.
      const __m256i shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), seven = _mm256_set1_epi32(7);
      const __m256i scale = _mm256_set1_epi32(int(kOutputBlock));
      for (int64_t k = 0; k < panels; ++k) {
        int32_t* o = off + (r * panels + k) * slot;
        float* v = val + (r * panels + k) * slot;
        int64_t c = 0;
        for (int64_t j = k * kPanel; j < std::min(J, (k + 1) * kPanel); j += 8) {
          const Lanes8 l = lanes8(xr + j, J - j);
          const __m256i bits = l.bits;
          const unsigned nz = l.nonzero;
          other = mask16(other | ((nz & ~l.ones) != 0));
          const __m256i lanes =
              _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int(simd::kCompress.lanes[nz])), shifts), seven);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + c),
                              _mm256_mullo_epi32(_mm256_add_epi32(lanes, _mm256_set1_epi32(int32_t(j))), scale));
          _mm256_storeu_ps(v + c, _mm256_permutevar8x32_ps(_mm256_castsi256_ps(bits), lanes));
          c += __builtin_popcount(nz);
        }
        count[r * panels + k] = c;
      }
#endif
    }
    const bool unit = other == 0;
    for (int64_t o0 = 0; o0 < F; o0 += kOutputBlock) {
      const int64_t width = std::min(kOutputBlock, F - o0), b = o0 / kOutputBlock;
      const int V = int((width + 15) / 16);
      mask16 mask[3];
      for (int v = 0; v < 3; ++v) mask[v] = lane_mask(width - 16 * v);
      const int64_t hi = block_cols ? block_cols[2 * b + 1] : J;
      const int64_t kend = std::max<int64_t>(1, (hi + kPanel - 1) / kPanel);
      const float* wb = w + b * J * kOutputBlock;
      for (int64_t k = 0; k < kend; ++k) {
        const bool first = k == 0, last = k + 1 == kend;
        // The block's last panel ends at hi.
        const bool cut = hi < (k + 1) * kPanel;
        for (int64_t r = 0; r < m; ++r) {
          const int64_t p = s0 + r;
          const int32_t* o = off + (r * panels + k) * slot;
          const float* v = val + (r * panels + k) * slot;
          int64_t c = hi <= 0 ? 0 : count[r * panels + k];
          if (cut) c = std::lower_bound(o, o + c, int32_t(hi * kOutputBlock)) - o;
          const float* in = init ? init + p * F + o0 : nullptr;
#if DGM_PACKETS == 256
          if (unit && width == kOutputBlock && r + 1 < m) {
            const int32_t* o1 = off + ((r + 1) * panels + k) * slot;
            int64_t c1 = hi <= 0 ? 0 : count[(r + 1) * panels + k];
            if (cut) c1 = std::lower_bound(o1, o1 + c1, int32_t(hi * kOutputBlock)) - o1;
            forward_two_rows(c, o, c1, o1, wb, in, init ? in + F : nullptr, y + p * F + o0, y + (p + 1) * F + o0,
                             relu, first, last);
            ++r;
            continue;
          }
#endif
          if (unit) forward_rows<true>(V, width == kOutputBlock, c, o, v, wb, mask, in, y + p * F + o0, relu, first, last);
          else forward_rows<false>(V, width == kOutputBlock, c, o, v, wb, mask, in, y + p * F + o0, relu, first, last);
        }
      }
    }
  }
  return true;
}

bool sparse_rows_weight_gradient(int64_t n, int64_t R, int64_t J, const float* d, const float* x,
                                 const int64_t* block_cols, float* dw) {
#if DGM_PACKETS == 256
  return weight_gradient_by_columns(n, R, J, d, x, block_cols, dw);
#else
  constexpr int64_t kBlockRows = 128;  // conv_backward_weights' blocks of pixels
  if (n <= 0) return true;
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  int32_t* rows = ws.take<int32_t>(size_t(kBlockRows));
  for (int64_t p0 = 0; p0 < n; p0 += kBlockRows) {
    const int64_t m = std::min(kBlockRows, n - p0);
    for (int64_t c0 = 0; c0 < J; c0 += kOutputBlock) {
      const int64_t width = std::min(kOutputBlock, J - c0), b = c0 / kOutputBlock;
      const int V = int((width + 15) / 16);
      mask16 mask[3];
      for (int v = 0; v < 3; ++v) mask[v] = lane_mask(width - 16 * v);
      const int64_t lo = block_cols ? block_cols[2 * b] : 0, hi = block_cols ? block_cols[2 * b + 1] : R;
      if (lo >= hi) continue;
      // The block's rows p whose inputs are not all +-0 there, in order.
      int64_t np = 0;
      for (int64_t p = p0; p < p0 + m; ++p) {
        const float* xp = x + p * J + c0;
        simd::i16 bits = simd::zero_bits();
        for (int v = 0; v < V; ++v) bits = simd::or_bits(bits, mask[v], xp + 16 * v);
        rows[np] = int32_t(p);
        np += simd::nonzero(bits) != 0;
      }
      if (np == 0) continue;
      for (int64_t j0 = lo; j0 < hi; j0 += kTileRows) {
        const int64_t kb = std::min<int64_t>(kTileRows, hi - j0);
        float* at = dw + j0 * J + c0;
        if (width == kOutputBlock) weights_rows<kTileRows, 3, true>(kb, np, rows, d + j0, R, x + c0, J, mask, at);
        else if (V == 3) weights_rows<kTileRows, 3, false>(kb, np, rows, d + j0, R, x + c0, J, mask, at);
        else if (V == 2) weights_rows<kTileRows, 2, false>(kb, np, rows, d + j0, R, x + c0, J, mask, at);
        else weights_rows<kTileRows, 1, false>(kb, np, rows, d + j0, R, x + c0, J, mask, at);
      }
    }
  }
  return true;
#endif
}

#else

bool sparse_rows_weight_gradient(int64_t, int64_t, int64_t, const float*, const float*, const int64_t*, float*) {
  return false;
}

bool sparse_rows_fit(int64_t) { return false; }

bool sparse_rows_forward(int64_t, int64_t, const float*, const float*, int64_t, const int64_t*, const float*, float*,
                         bool) {
  return false;
}

#endif  // DGM_PACKETS

}  // namespace dgm::nn
