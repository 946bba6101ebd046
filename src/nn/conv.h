// conv.h — masked and causal convolutions without im2col (PixelCNN's masked
// 2-D convolutions, WaveNet's dilated causal 1-D ones): a convolution is a
// table of columns j = (tap t, input channel k), and output pixel p is
//   y[p] = bias + sum_j x[p + offset(j)] * w[j]        (w row j: fout values)
// over a zero-margined input grid, so no tap ever tests the image border.
// Every output value is accumulated in the same order (the bias, then columns
// 0, 1, 2, ...) whichever pixels are computed together, so computing one pixel
// (cached sampling) gives bit for bit what a whole-image pass gives there.
//
// Symbols: n images, H x W pixels, F channels (fin in, fout out), T taps,
// J = T * fin columns. Layout: channels last; pixel (i, r, c) of a Grid.
//
// The adjoint (backward to the input) is the same kernel on the transposed
// column table (transpose_columns): taps negated, w reordered (T*fout, fin).
// The weight gradient is dw[j] += sum_p x[p + offset(j)] * dy[p].
//
// float uses AVX-512 kernels when the build has them; double (gradient
// checks) and builds without AVX-512 use plain loops with the same order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace dgm::nn {

// n images of H x W pixels with F values each, every image inside zero
// margins (top/bottom rows, left/right columns) wide enough for the taps that
// read it. Strides in values.
struct Grid {
  int64_t n = 0, H = 0, W = 0, F = 0;
  int64_t top = 0, bottom = 0, left = 0, right = 0;

  int64_t row_stride() const { return (left + W + right) * F; }
  int64_t image_stride() const { return (top + H + bottom) * row_stride(); }
  size_t size() const { return size_t(n * image_stride()); }
  // Offset of pixel (i, r, c); r in [-top, H + bottom), c in [-left, W + right).
  int64_t at(int64_t i, int64_t r, int64_t c) const {
    return i * image_stride() + (top + r) * row_stride() + (left + c) * F;
  }
  Grid with_channels(int64_t f) const {
    Grid g = *this;
    g.F = f;
    return g;
  }
};

// Sets the margins of the grid stored at data to zero (the interior is not touched).
template <typename T>
void zero_margins(const Grid& g, T* data);

// The taps (dy, dx) of a convolution: output pixel (r, c) reads input pixel
// (r + dy, c + dx). A PixelCNN mask keeps the rows above and the pixels to the
// left (and the centre when channel masking allows it); a causal 1-D
// convolution of dilation d and width k has taps (0, -j d), j < k.
using Taps = std::vector<std::pair<int, int>>;

// The margins (top, bottom, left, right) a grid read through `taps` needs.
struct Margins {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};
Margins margins_for(const Taps& taps);
// The larger of two margin sets, side by side.
Margins max_margins(const Margins& a, const Margins& b);

// offsets[t * fin + k] = offset of tap t, channel k, relative to the pixel's own
// offset in grid g (whose F is fin).
void column_offsets(const Taps& taps, const Grid& g, int64_t* offsets);

// The adjoint's weights: wt (T * fout, fin) with wt[t * fout + o][k] = w[t * fin + k][o].
template <typename T>
void transpose_columns(int64_t taps, int64_t fin, int64_t fout, const T* w, T* wt);
// The adjoint's taps: (-dy, -dx).
Taps negate(const Taps& taps);

// Images [i0, i1), rows [r0, r1), columns [c0, c1).
struct Region {
  int64_t i0 = 0, i1 = 0, r0 = 0, r1 = 0, c0 = 0, c1 = 0;
  static Region all(const Grid& g) { return {0, g.n, 0, g.H, 0, g.W}; }
  static Region pixel(int64_t i0, int64_t i1, int64_t r, int64_t c) { return {i0, i1, r, r + 1, c, c + 1}; }
  int64_t pixels() const { return (i1 - i0) * (r1 - r0) * (c1 - c0); }
};

// Outputs are computed in blocks of kOutputBlock channels. A staircase layer
// (a MADE mask with units sorted by degree) restricts block b to the columns
// [cols[2b], cols[2b + 1]); its weights outside them must be zero.
constexpr int64_t kOutputBlock = 48;
inline int64_t num_output_blocks(int64_t fout) { return (fout + kOutputBlock - 1) / kOutputBlock; }

// What happens to the sum s of an output value at pixel p, channel o, in order:
//   v = init[i][o] + s    (init: (n, fout) per-image start values, e.g. bias +
//                          label bias; null: 0). Accumulation starts from it.
//   v = gate[p][o] > 0 ? v : 0     (gate: a grid laid out as y, e.g. the ReLU's
//                                   input in the backward pass; null: none)
//   v = add[p][o] + v              (add: a grid laid out as y, e.g. a residual)
//   y[p][o] = v;  relu[p][o] = max(v, 0) when relu is non-null.
template <typename T>
struct Epilogue {
  const T* init = nullptr;
  const T* gate = nullptr;
  const T* add = nullptr;
  T* relu = nullptr;
  const int64_t* block_cols = nullptr;  // (2 * output blocks) column ranges; null: [0, J) for every block
  // Inputs often exactly zero (a ReLU's output, a gated gradient): the float
  // kernel skips a column at the pixels of a tile whose inputs there are all
  // +-0. The sums do not change: such a term adds +-0 (finite weights), and
  // s + (+-0) is s for every s but -0, which a chain starting at init != -0
  // reaches only by an underflow to -0 (inputs are not rarely enough zero:
  // leave false, the check costs a load per input and tile).
  bool skip_zero_inputs = false;
};

// y over `region` (grid gy, F = fout) from x (grid gx) through J columns with
// offsets `col` (column_offsets for gx) and weights w (J, fout), row-major.
template <typename T>
void conv_forward(int64_t J, const int64_t* col, const T* w, const Grid& gx, const T* x, const Grid& gy, T* y,
                  const Region& region, const Epilogue<T>& ep);

// dw (J, fout) += sum over the region's pixels p (in image, row, column order)
// of x[p + col[j]] * dy[p]; dy laid out as gy. block_cols as in Epilogue (rows
// of dw outside a block's range are not touched there). skip_zero_inputs: x
// often exactly zero (a ReLU's output); the float kernel then skips, channel
// by channel, the pixels where a channel's inputs at every tap are +-0 (the
// same dw, as in Epilogue).
template <typename T>
void conv_backward_weights(int64_t J, const int64_t* col, const Grid& gx, const T* x, const Grid& gy, const T* dy,
                           const Region& region, T* dw, const int64_t* block_cols = nullptr,
                           bool skip_zero_inputs = false);

// s (i1 - i0, F) = per-image sums of the grid's values over the region
// (bias gradients).
template <typename T>
void sum_pixels(const Grid& g, const T* v, const Region& region, T* s);

}  // namespace dgm::nn
