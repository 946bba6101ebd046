// sparse_rows.h — staircase layers (nn/conv.h's blocks of kOutputBlock
// outputs, each reading a range of columns) on inputs that are mostly exact
// zeros, such as the 0/1 features of binary images (about 30% ones on
// Fashion-MNIST). In the forward pass each row visits only its own nonzero
// inputs, where the tiles of conv_forward multiply every column for every
// pixel of a tile; a term costs about twice a dense tile's, so this pays
// below about half nonzeros (not on a MADE hidden layer's ReLU outputs,
// about 75% nonzero).
//
// The floats are those of conv_forward (conv_backward_weights) on the same
// operands: every output value is the same chain of fused multiply-adds in
// column (row) order, less terms whose input is +-0 (a finite weight times
// +-0 adds +-0, which leaves every partial sum but -0 unchanged; a chain
// reaches -0 only from an init of -0 or an underflow, and then only the sign
// of a zero can differ). Where every nonzero input is 1 the forward terms are
// plain adds, which round alike.
#pragma once

#include <cstdint>

#include "nn/conv.h"

namespace dgm::nn {

// Whether the kernel is built (AVX-512 or AVX2) and takes J columns; where not, it
// returns false and writes nothing.
bool sparse_rows_fit(int64_t J);

// y (n, F) = init (n, F; null: 0) + x (n, J) w (J, F), block b of outputs
// reading the columns [block_cols[2b], block_cols[2b + 1]) (null: all), its
// weights outside them zero; with relu, max(v, 0) is stored. w is packed by
// blocks: block b's (J, kOutputBlock) weights at w + b * J * kOutputBlock
// (sparse_rows_packed), so that each term loads three whole cache lines (w
// 64-byte aligned) and a block's rows share no cache sets.
bool sparse_rows_forward(int64_t n, int64_t J, const float* x, const float* w, int64_t F, const int64_t* block_cols,
                         const float* init, float* y, bool relu);

// dw (R, J) += d^T x (d (n, R), x (n, J) mostly zero): the sums of
// conv_backward_weights(R, 0..R-1, rows of R, d, rows of J, x, all rows, dw,
// block_cols), block b of x's kOutputBlock columns taking dw's rows
// [block_cols[2b], block_cols[2b + 1]), skipping there the rows p whose x is
// all +-0 in the block (background pixels of binary images). False (nothing
// written) where the kernel is not built.
bool sparse_rows_weight_gradient(int64_t n, int64_t R, int64_t J, const float* d, const float* x,
                                 const int64_t* block_cols, float* dw);

// The size of the packed weights of F outputs from J columns.
inline int64_t sparse_rows_packed(int64_t J, int64_t F) { return num_output_blocks(F) * J * kOutputBlock; }

}  // namespace dgm::nn
