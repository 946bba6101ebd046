// conv.cc — the column-table convolution of conv.h. The float kernels, on
// 16-float packets (packet.h: AVX-512, or pairs of AVX2 registers), keep a
// tile of up to 8 pixels (2 on AVX2) x 48 outputs in registers and stream the
// weight rows (forward), or a tile of 8 columns (2) x 48 outputs over blocks
// of pixels (weight gradient); each output value is one chain of fused
// multiply-adds in column order, so which pixels share a tile never changes
// it, and the floats are those of the plain loops and of either instruction set.
#include "nn/conv.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "nn/packet.h"
#include "nn/simd_math.h"
#include "nn/workspace.h"

namespace dgm::nn {

Margins margins_for(const Taps& taps) {
  Margins m;
  for (const auto& [dy, dx] : taps) {
    m.top = std::max<int64_t>(m.top, -dy);
    m.bottom = std::max<int64_t>(m.bottom, dy);
    m.left = std::max<int64_t>(m.left, -dx);
    m.right = std::max<int64_t>(m.right, dx);
  }
  return m;
}

Margins max_margins(const Margins& a, const Margins& b) {
  return {std::max(a.top, b.top), std::max(a.bottom, b.bottom), std::max(a.left, b.left), std::max(a.right, b.right)};
}

void column_offsets(const Taps& taps, const Grid& g, int64_t* offsets) {
  for (size_t t = 0; t < taps.size(); ++t)
    for (int64_t k = 0; k < g.F; ++k)
      offsets[int64_t(t) * g.F + k] = int64_t(taps[t].first) * g.row_stride() + int64_t(taps[t].second) * g.F + k;
}

Taps negate(const Taps& taps) {
  Taps r(taps.size());
  for (size_t t = 0; t < taps.size(); ++t) r[t] = {-taps[t].first, -taps[t].second};
  return r;
}

template <typename T>
void transpose_columns(int64_t taps, int64_t fin, int64_t fout, const T* w, T* wt) {
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t k = 0; k < fin; ++k)
      for (int64_t o = 0; o < fout; ++o) wt[(t * fout + o) * fin + k] = w[(t * fin + k) * fout + o];
}

template <typename T>
void zero_margins(const Grid& g, T* data) {
  const int64_t rs = g.row_stride(), F = g.F;
  for (int64_t i = 0; i < g.n; ++i) {
    T* img = data + i * g.image_stride();
    std::fill(img, img + g.top * rs, T(0));
    std::fill(img + (g.top + g.H) * rs, img + (g.top + g.H + g.bottom) * rs, T(0));
    for (int64_t r = 0; r < g.H; ++r) {
      T* row = img + (g.top + r) * rs;
      std::fill(row, row + g.left * F, T(0));
      std::fill(row + (g.left + g.W) * F, row + rs, T(0));
    }
  }
}

template <typename T>
void sum_pixels(const Grid& g, const T* v, const Region& rg, T* s) {
  for (int64_t i = rg.i0; i < rg.i1; ++i) {
    T* si = s + (i - rg.i0) * g.F;
    std::fill(si, si + g.F, T(0));
    for (int64_t r = rg.r0; r < rg.r1; ++r)
      for (int64_t c = rg.c0; c < rg.c1; ++c) {
        const T* p = v + g.at(i, r, c);
        for (int64_t o = 0; o < g.F; ++o) si[o] += p[o];
      }
  }
}

namespace {

// Pixels of a region in (image, row, column) order, handed out in runs of up
// to `cap`: offsets into x's and y's grids and the image index.
struct PixelRun {
  int64_t n = 0;
  int64_t xo[8], yo[8], img[8];
};

class PixelWalk {
 public:
  PixelWalk(const Grid& gx, const Grid& gy, const Region& rg)
      : gx_(gx), gy_(gy), rg_(rg), i_(rg.i0), r_(rg.r0), c_(rg.c0), x_(gx.at(i_, r_, c_)), y_(gy.at(i_, r_, c_)) {}
  // Fills up to cap pixels (cap <= 8); false when none are left. The offsets
  // step along a row and are recomputed at each row's start.
  bool next(PixelRun& run, int64_t cap) {
    run.n = 0;
    while (run.n < cap && i_ < rg_.i1) {
      const int64_t m = std::min(cap - run.n, rg_.c1 - c_);
      for (int64_t k = 0; k < m; ++k, ++run.n) {
        run.xo[run.n] = x_ + k * gx_.F;
        run.yo[run.n] = y_ + k * gy_.F;
        run.img[run.n] = i_;
      }
      c_ += m;
      x_ += m * gx_.F;
      y_ += m * gy_.F;
      if (c_ == rg_.c1) {
        c_ = rg_.c0;
        if (++r_ == rg_.r1) {
          r_ = rg_.r0;
          ++i_;
        }
        if (i_ < rg_.i1) x_ = gx_.at(i_, r_, c_), y_ = gy_.at(i_, r_, c_);
      }
    }
    return run.n > 0;
  }

 private:
  const Grid &gx_, &gy_;
  Region rg_;
  int64_t i_, r_, c_;
  int64_t x_, y_;  // offsets of pixel (i_, r_, c_)
};

// Plain loops, the same accumulation order (init, then columns in order) for
// every pixel; used for double and for builds without packets.
template <typename T>
void forward_generic(int64_t J, const int64_t* col, const T* w, const Grid& gx, const T* x, const Grid& gy, T* y,
                     const Region& rg, const Epilogue<T>& ep) {
  const int64_t F = gy.F;
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  T* acc = ws.take<T>(size_t(F));
  PixelWalk walk(gx, gy, rg);
  PixelRun run;
  while (walk.next(run, 1)) {
    const T* xp = x + run.xo[0];
    if (ep.init) std::copy(ep.init + run.img[0] * F, ep.init + (run.img[0] + 1) * F, acc);
    else std::fill(acc, acc + F, T(0));
    for (int64_t o0 = 0; o0 < F; o0 += kOutputBlock) {
      const int64_t o1 = std::min(F, o0 + kOutputBlock), b = o0 / kOutputBlock;
      const int64_t lo = ep.block_cols ? ep.block_cols[2 * b] : 0, hi = ep.block_cols ? ep.block_cols[2 * b + 1] : J;
      for (int64_t j = lo; j < hi; ++j) {
        const T xv = xp[col[j]];
        const T* wr = w + j * F;
        for (int64_t o = o0; o < o1; ++o) acc[o] += xv * wr[o];
      }
    }
    const int64_t yo = run.yo[0];
    for (int64_t o = 0; o < F; ++o) {
      T v = acc[o];
      if (ep.gate && !(ep.gate[yo + o] > T(0))) v = T(0);
      if (ep.add) v = ep.add[yo + o] + v;
      y[yo + o] = v;
      if (ep.relu) ep.relu[yo + o] = std::max(v, T(0));
    }
  }
}

template <typename T>
void backward_weights_generic(int64_t J, const int64_t* col, const Grid& gx, const T* x, const Grid& gy, const T* dy,
                              const Region& rg, T* dw, const int64_t* block_cols) {
  const int64_t F = gy.F;
  PixelWalk walk(gx, gy, rg);
  PixelRun run;
  while (walk.next(run, 1)) {
    const T* xp = x + run.xo[0];
    const T* d = dy + run.yo[0];
    for (int64_t o0 = 0; o0 < F; o0 += kOutputBlock) {
      const int64_t o1 = std::min(F, o0 + kOutputBlock), b = o0 / kOutputBlock;
      const int64_t lo = block_cols ? block_cols[2 * b] : 0, hi = block_cols ? block_cols[2 * b + 1] : J;
      for (int64_t j = lo; j < hi; ++j) {
        const T xv = xp[col[j]];
        T* wr = dw + j * F;
        for (int64_t o = o0; o < o1; ++o) wr[o] += xv * d[o];
      }
    }
  }
}

#if defined(DGM_PACKETS)

// A forward tile's pixels and a weight tile's columns: 8 x 3 packets of
// accumulators fill AVX-512's 32 registers; AVX2's 16 hold 2 x 3 pairs.
constexpr int kTilePixels = DGM_PACKETS == 512 ? 8 : 2;
constexpr int kTileCols = DGM_PACKETS == 512 ? 8 : 2;
constexpr int kBlockVectors = 3;  // outputs a block: 3 x 16 = kOutputBlock
static_assert(16 * kBlockVectors == kOutputBlock, "output blocks are three vectors");

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

// One tile: P pixels x V vectors of outputs starting at o0 (masks per vector),
// over one panel of columns: the first panel starts from the init values, a
// later one from the partial sums the previous panel left in y (a float
// stored and reloaded is the same float, so the chain of fused multiply-adds
// is the one an unsplit pass makes); the last panel applies the epilogue.
// The columns taken are the nc listed ones (indices into col and w's rows, in
// increasing order), or without a list the first nc.
template <int P, int V, bool Full, bool Listed>
void forward_tile(int64_t nc, const int32_t* list, const int64_t* col, const float* w, int64_t F, int64_t o0,
                  const mask16* mask, const float* x, const PixelRun& run, float* y, const Epilogue<float>& ep,
                  bool first, bool last) {
  f16 acc[P][V];
  #pragma GCC unroll 16
  for (int j = 0; j < P; ++j)
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v)
      acc[j][v] = !first ? maskz_load(mask[v], y + run.yo[j] + o0 + 16 * v)
                  : ep.init ? maskz_load(mask[v], ep.init + run.img[j] * F + o0 + 16 * v)
                            : zero();
  const float* xp[P];
  #pragma GCC unroll 16
  for (int j = 0; j < P; ++j) xp[j] = x + run.xo[j];
  const float* wd = w + o0;
  for (int64_t i = 0; i < nc; ++i, wd += F) {
    const int64_t c = Listed ? list[i] : i, off = col[c];
    const float* wr = Listed ? w + o0 + c * F : wd;
    f16 wv[V];
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v) wv[v] = load_lanes<Full>(mask[v], wr + 16 * v);
    #pragma GCC unroll 16
    for (int j = 0; j < P; ++j) {
      const f16 xb = set1(xp[j][off]);
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[j][v] = fmadd(xb, wv[v], acc[j][v]);
    }
  }
  if (!last) {
    #pragma GCC unroll 16
    for (int j = 0; j < P; ++j)
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) simd::store(y + run.yo[j] + o0 + 16 * v, mask[v], acc[j][v]);
    return;
  }
  const f16 z = zero();
  #pragma GCC unroll 16
  for (int j = 0; j < P; ++j)
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      const int64_t at = run.yo[j] + o0 + 16 * v;
      f16 val = acc[j][v];
      if (ep.gate) val = simd::keep_where_positive(maskz_load(mask[v], ep.gate + at), val);
      if (ep.add) val = add(maskz_load(mask[v], ep.add + at), val);
      simd::store(y + at, mask[v], val);
      if (ep.relu) simd::store(ep.relu + at, mask[v], max(val, z));
    }
}

// forward_tile for a run of run.n <= P pixels.
template <int P, int V, bool Full, bool Listed>
void forward_run_n(int64_t J, const int32_t* list, const int64_t* col, const float* w, int64_t F, int64_t o0,
                   const mask16* mask, const float* x, const PixelRun& run, float* y, const Epilogue<float>& ep,
                   bool first, bool last) {
  if constexpr (P > 1)
    if (run.n < P) return forward_run_n<P - 1, V, Full, Listed>(J, list, col, w, F, o0, mask, x, run, y, ep, first, last);
  forward_tile<P, V, Full, Listed>(J, list, col, w, F, o0, mask, x, run, y, ep, first, last);
}

template <int V, bool Full>
void forward_run(int64_t J, const int32_t* list, const int64_t* col, const float* w, int64_t F, int64_t o0,
                 const mask16* mask, const float* x, const PixelRun& run, float* y, const Epilogue<float>& ep,
                 bool first, bool last) {
  if (list) forward_run_n<kTilePixels, V, Full, true>(J, list, col, w, F, o0, mask, x, run, y, ep, first, last);
  else forward_run_n<kTilePixels, V, Full, false>(J, list, col, w, F, o0, mask, x, run, y, ep, first, last);
}

// Panels of columns small enough that their weight rows stay in L1 while
// every tile passes over them.
constexpr int64_t kPanel = 256;

// Whether the columns [c, c + 16) (or to J) read consecutive inputs, so that
// one vector load gives a pixel's inputs for all of them.
bool consecutive_columns(const int64_t* col, int64_t c, int64_t J) {
  for (int64_t k = c + 1; k < std::min(J, c + 16); ++k)
    if (col[k] != col[c] + (k - c)) return false;
  return true;
}

// The columns [0, J) of a panel (at most kPanel) whose input is nonzero at
// some pixel of the run, in order, into list (room for 16 more); returns their number. seq[g]:
// consecutive_columns for the group of 16 from column 16 g.
int64_t nonzero_columns(int64_t J, const int64_t* col, const uint8_t* seq, const float* x, const PixelRun& run,
                        int32_t* list) {
  int64_t n = 0;
  for (int64_t c = 0; c < J; c += 16) {
    const mask16 lanes = lane_mask(J - c);
    mask16 nz = 0;
    if (seq[c / 16]) {
      // The bits of the run's inputs ORed: nonzero but for the sign bit
      // where some input is not +-0 (NaN included).
      simd::i16 bits = simd::zero_bits();
      for (int64_t j = 0; j < run.n; ++j) bits = simd::or_bits(bits, lanes, x + run.xo[j] + col[c]);
      nz = simd::nonzero(bits);
    } else {
      for (int64_t k = 0; k < std::min<int64_t>(16, J - c); ++k)
        for (int64_t j = 0; j < run.n; ++j)
          if (!(x[run.xo[j] + col[c + k]] == 0.0f)) {
            nz = mask16(nz | (1u << k));
            break;
          }
    }
    n += simd::compress_indices(list + n, nz, int32_t(c));  // list has 16 spare entries
  }
  return n;
}

void forward_packets(int64_t J, const int64_t* col, const float* w, const Grid& gx, const float* x, const Grid& gy,
                    float* y, const Region& rg, const Epilogue<float>& ep) {
  const int64_t F = gy.F;
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  int32_t* list = ep.skip_zero_inputs ? ws.take<int32_t>(size_t(kPanel + 16)) : nullptr;
  uint8_t* seq = ep.skip_zero_inputs ? ws.take<uint8_t>(size_t(J / 16 + 1)) : nullptr;
  for (int64_t o0 = 0; o0 < F; o0 += 16 * kBlockVectors) {
    const int64_t width = std::min<int64_t>(16 * kBlockVectors, F - o0);
    const int V = int((width + 15) / 16);
    mask16 mask[kBlockVectors];
    for (int v = 0; v < kBlockVectors; ++v) mask[v] = lane_mask(width - 16 * v);
    const int64_t b = o0 / kOutputBlock;
    const int64_t lo = ep.block_cols ? ep.block_cols[2 * b] : 0, hi = ep.block_cols ? ep.block_cols[2 * b + 1] : J;
    for (int64_t p0 = lo;; p0 += kPanel) {
      const int64_t p1 = std::min(hi, p0 + kPanel), Jp = std::max<int64_t>(0, p1 - p0);
      const bool first = p0 == lo, last = p1 >= hi;
      const int64_t* cp = col + p0;
      const float* wp = w + p0 * F;
      if (seq)
        for (int64_t c = 0; c < Jp; c += 16) seq[c / 16] = consecutive_columns(cp, c, Jp);
      PixelWalk walk(gx, gy, rg);
      PixelRun run;
      while (walk.next(run, kTilePixels)) {
        const int64_t nc = seq ? nonzero_columns(Jp, cp, seq, x, run, list) : Jp;
        const int32_t* cl = seq ? list : nullptr;
        if (width == 48) forward_run<3, true>(nc, cl, cp, wp, F, o0, mask, x, run, y, ep, first, last);
        else if (V == 3) forward_run<3, false>(nc, cl, cp, wp, F, o0, mask, x, run, y, ep, first, last);
        else if (V == 2) forward_run<2, false>(nc, cl, cp, wp, F, o0, mask, x, run, y, ep, first, last);
        else forward_run<1, false>(nc, cl, cp, wp, F, o0, mask, x, run, y, ep, first, last);
      }
      if (last) break;
    }
  }
}

// dw rows [j0, j0 + KB) x V output vectors from o0 += sum over the listed
// pixels of x[xo + col[j]] * dy[yo].
// Column k of the tile is col[k * cs] and dw's row k * cs (cs = 1: consecutive).
template <int KB, int V, bool Full>
void weights_tile(const int64_t* col, int64_t np, const int64_t* xo, const int64_t* yo, const float* x,
                  const float* dy, int64_t o0, const mask16* mask, float* dw, int64_t F, int64_t cs = 1) {
  f16 acc[KB][V];
  #pragma GCC unroll 16
  for (int k = 0; k < KB; ++k)
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v) acc[k][v] = zero();
  int64_t off[KB];
  #pragma GCC unroll 16
  for (int k = 0; k < KB; ++k) off[k] = col[k * cs];
  for (int64_t p = 0; p < np; ++p) {
    const float* xp = x + xo[p];
    const float* d = dy + yo[p] + o0;
    if constexpr (DGM_PACKETS == 512) {
      f16 dv[V];
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) dv[v] = load_lanes<Full>(mask[v], d + 16 * v);
      #pragma GCC unroll 16
      for (int k = 0; k < KB; ++k) {
        const f16 xb = set1(xp[off[k]]);
        #pragma GCC unroll 16
        for (int v = 0; v < V; ++v) acc[k][v] = fmadd(xb, dv[v], acc[k][v]);
      }
    } else {
      // AVX2's 16 registers hold the accumulators and one packet at a time
      // (all V packets spilled accumulators); the same FMAs in each chain.
      f16 xb[KB];
      #pragma GCC unroll 16
      for (int k = 0; k < KB; ++k) xb[k] = set1(xp[off[k]]);
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) {
        const f16 dv = load_lanes<Full>(mask[v], d + 16 * v);
        #pragma GCC unroll 16
        for (int k = 0; k < KB; ++k) acc[k][v] = fmadd(xb[k], dv, acc[k][v]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int k = 0; k < KB; ++k)
    #pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      float* at = dw + k * cs * F + o0 + 16 * v;
      simd::store(at, mask[v], add(maskz_load(mask[v], at), acc[k][v]));
    }
}

// weights_tile for kb <= KB columns.
template <int KB, int V, bool Full>
void weights_cols(int64_t kb, const int64_t* col, int64_t np, const int64_t* xo, const int64_t* yo, const float* x,
                  const float* dy, int64_t o0, const mask16* mask, float* dw, int64_t F, int64_t cs = 1) {
  if constexpr (KB > 1)
    if (kb < KB) return weights_cols<KB - 1, V, Full>(kb, col, np, xo, yo, x, dy, o0, mask, dw, F, cs);
  weights_tile<KB, V, Full>(col, np, xo, yo, x, dy, o0, mask, dw, F, cs);
}

// weights_cols for a block of `width` outputs.
void weights_any(int64_t width, int64_t kb, const int64_t* col, int64_t np, const int64_t* xo, const int64_t* yo,
                 const float* x, const float* dy, int64_t o0, const mask16* mask, float* dw, int64_t F,
                 int64_t cs) {
  const int V = int((width + 15) / 16);
  if (width == kOutputBlock) weights_cols<kTileCols, 3, true>(kb, col, np, xo, yo, x, dy, o0, mask, dw, F, cs);
  else if (V == 3) weights_cols<kTileCols, 3, false>(kb, col, np, xo, yo, x, dy, o0, mask, dw, F, cs);
  else if (V == 2) weights_cols<kTileCols, 2, false>(kb, col, np, xo, yo, x, dy, o0, mask, dw, F, cs);
  else weights_cols<kTileCols, 1, false>(kb, col, np, xo, yo, x, dy, o0, mask, dw, F, cs);
}

// Whether the weight gradient can skip zero inputs channel by channel: the
// columns are T >= 3 taps of fin <= 64 consecutive channels each (a channel
// is then zero at a pixel across all its taps often enough, where 8
// consecutive channels of one tap rarely are).
bool channel_tiles(int64_t J, const int64_t* col, int64_t fin) {
  if (fin <= 0 || fin > 64 || J % fin != 0 || J / fin < 3) return false;
  for (int64_t j = 0; j < J; ++j)
    if (col[j] != col[j - j % fin] + j % fin) return false;
  return true;
}

// Bit k: channel k of the pixel at x + at is not +-0 (fin <= 64).
inline uint64_t nonzero_channels(const float* x, int64_t at, int64_t fin) {
  uint64_t m = 0;
  for (int64_t c = 0; c < fin; c += 16)
    m |= uint64_t(simd::nonzero(simd::or_bits(simd::zero_bits(), lane_mask(fin - c), x + at + c))) << c;
  return m;
}

// The weight gradient over a block of np pixels, channel by channel: the
// tile of channel k is its T columns t * fin + k (in groups of up to 8
// taps), over the pixels where some of those inputs is not +-0, in order.
// A skipped term adds +-0 to a chain that started at +0 (see Epilogue), so
// every dw value is the one the dense tiles give.
// gm: nonzero_channels of every pixel of x's grid, by offset / fin.
void weights_by_channel(int64_t J, int64_t fin, const int64_t* col, int64_t np, const int64_t* xo,
                        const int64_t* yo, const float* x, const uint64_t* gm, const float* dy, float* dw,
                        int64_t F, uint64_t* nz, int64_t* xk, int64_t* yk) {
  const int64_t T = J / fin;
  const double inv = 1.0 / double(fin);  // offsets are multiples of fin: the quotient rounds exactly
  for (int64_t p = 0; p < np; ++p) {
    uint64_t m = 0;
    for (int64_t t = 0; t < T; ++t) m |= gm[int64_t(double(xo[p] + col[t * fin]) * inv + 0.5)];
    nz[p] = m;
  }
  for (int64_t k = 0; k < fin; ++k) {
    // The pixels whose bit k is set, 8 at a time (compressed in registers:
    // Zen 4 runs vpcompressq to memory as slow microcode; xk, yk have 8 spare).
    int64_t n = 0;
#if DGM_PACKETS == 512
    const __m512i bit = _mm512_set1_epi64(int64_t(uint64_t(1) << k));
    for (int64_t p = 0; p < np; p += 8) {
      const __mmask8 lanes = __mmask8(np - p >= 8 ? 0xFF : (1u << (np - p)) - 1u);
      const __mmask8 m = _mm512_mask_test_epi64_mask(lanes, _mm512_maskz_loadu_epi64(lanes, nz + p), bit);
      _mm512_storeu_si512(xk + n, _mm512_maskz_compress_epi64(m, _mm512_maskz_loadu_epi64(lanes, xo + p)));
      _mm512_storeu_si512(yk + n, _mm512_maskz_compress_epi64(m, _mm512_maskz_loadu_epi64(lanes, yo + p)));
      n += _mm_popcnt_u32(m);
    }
#else
    for (int64_t p = 0; p < np; ++p)
      if ((nz[p] >> k) & 1u) xk[n] = xo[p], yk[n] = yo[p], ++n;
#endif
    if (n == 0) continue;
    for (int64_t o0 = 0; o0 < F; o0 += 16 * kBlockVectors) {
      const int64_t width = std::min<int64_t>(16 * kBlockVectors, F - o0);
      mask16 mask[kBlockVectors];
      for (int v = 0; v < kBlockVectors; ++v) mask[v] = lane_mask(width - 16 * v);
      for (int64_t t0 = 0; t0 < T; t0 += kTileCols)
        weights_any(width, std::min<int64_t>(kTileCols, T - t0), col + t0 * fin + k, n, xk, yk, x, dy, o0, mask,
                    dw + (t0 * fin + k) * F, F, fin);
    }
  }
}

void backward_weights_packets(int64_t J, const int64_t* col, const Grid& gx, const float* x, const Grid& gy,
                             const float* dy, const Region& rg, float* dw, const int64_t* block_cols,
                             bool skip_zero_inputs) {
  // Pixels in blocks small enough that their dy and x stay in cache while
  // every column tile passes over them.
  constexpr int64_t kBlockPixels = 128;
  const int64_t F = gy.F;
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  int64_t* xo = ws.take<int64_t>(kBlockPixels);
  int64_t* yo = ws.take<int64_t>(kBlockPixels);
  const bool by_channel = skip_zero_inputs && !block_cols && channel_tiles(J, col, gx.F);
  uint64_t* nz = by_channel ? ws.take<uint64_t>(kBlockPixels) : nullptr;
  uint64_t* gm = nullptr;
  if (by_channel) {
    // The nonzero channels of every pixel of the region's images (margins
    // included), once, rather than at each of the T taps that read a pixel.
    const int64_t fin = gx.F, q0 = rg.i0 * gx.image_stride() / fin, q1 = rg.i1 * gx.image_stride() / fin;
    gm = ws.take<uint64_t>(size_t(q1 - q0)) - q0;
    for (int64_t q = q0; q < q1; ++q) gm[q] = nonzero_channels(x, q * fin, fin);
  }
  int64_t* xk = by_channel ? ws.take<int64_t>(kBlockPixels + 8) : nullptr;
  int64_t* yk = by_channel ? ws.take<int64_t>(kBlockPixels + 8) : nullptr;
  PixelWalk walk(gx, gy, rg);
  PixelRun run;
  bool more = true;
  while (more) {
    int64_t np = 0;
    while (np + kTilePixels <= kBlockPixels && (more = walk.next(run, kTilePixels)))
      for (int64_t j = 0; j < run.n; ++j, ++np) xo[np] = run.xo[j], yo[np] = run.yo[j];
    if (np == 0) break;
    if (by_channel) {
      weights_by_channel(J, gx.F, col, np, xo, yo, x, gm, dy, dw, F, nz, xk, yk);
      continue;
    }
    for (int64_t o0 = 0; o0 < F; o0 += 16 * kBlockVectors) {
      const int64_t width = std::min<int64_t>(16 * kBlockVectors, F - o0);
      mask16 mask[kBlockVectors];
      for (int v = 0; v < kBlockVectors; ++v) mask[v] = lane_mask(width - 16 * v);
      const int64_t b = o0 / kOutputBlock;
      const int64_t lo = block_cols ? block_cols[2 * b] : 0, hi = block_cols ? block_cols[2 * b + 1] : J;
      for (int64_t j0 = lo; j0 < hi; j0 += kTileCols)
        weights_any(width, std::min<int64_t>(kTileCols, hi - j0), col + j0, np, xo, yo, x, dy, o0, mask, dw + j0 * F, F, 1);
    }
  }
}

#endif  // DGM_PACKETS

}  // namespace

template <typename T>
void conv_forward(int64_t J, const int64_t* col, const T* w, const Grid& gx, const T* x, const Grid& gy, T* y,
                  const Region& region, const Epilogue<T>& ep) {
  if (region.pixels() <= 0) return;
#if defined(DGM_PACKETS)
  if constexpr (std::is_same_v<T, float>) {
    forward_packets(J, col, w, gx, x, gy, y, region, ep);
    return;
  }
#endif
  forward_generic(J, col, w, gx, x, gy, y, region, ep);
}

template <typename T>
void conv_backward_weights(int64_t J, const int64_t* col, const Grid& gx, const T* x, const Grid& gy, const T* dy,
                           const Region& region, T* dw, const int64_t* block_cols, bool skip_zero_inputs) {
  if (region.pixels() <= 0) return;
#if defined(DGM_PACKETS)
  if constexpr (std::is_same_v<T, float>) {
    backward_weights_packets(J, col, gx, x, gy, dy, region, dw, block_cols, skip_zero_inputs);
    return;
  }
#endif
  (void)skip_zero_inputs;
  backward_weights_generic(J, col, gx, x, gy, dy, region, dw, block_cols);
}

#define DGM_NN_CONV(T)                                                                                         \
  template void zero_margins<T>(const Grid&, T*);                                                              \
  template void transpose_columns<T>(int64_t, int64_t, int64_t, const T*, T*);                                 \
  template void sum_pixels<T>(const Grid&, const T*, const Region&, T*);                                       \
  template void conv_forward<T>(int64_t, const int64_t*, const T*, const Grid&, const T*, const Grid&, T*,      \
                                const Region&, const Epilogue<T>&);                                            \
  template void conv_backward_weights<T>(int64_t, const int64_t*, const Grid&, const T*, const Grid&, const T*, \
                                         const Region&, T*, const int64_t*, bool);
DGM_NN_CONV(float)
DGM_NN_CONV(double)
#undef DGM_NN_CONV

}  // namespace dgm::nn
