// gemm.h — matrix products on row-major buffers (the neural models' one entry
// to a blocked GEMM, Eigen's): C (M, N) = beta C + alpha op(A) op(B), where
// op(A) is (M, K) and op(B) is (K, N); lda/ldb/ldc are row strides of the
// stored matrices (A stored (K, M) when trans_a). Every value of C is summed
// over K in an order that depends only on the shapes, not on C's address.
// For masked and causal convolutions use nn/conv.h (no im2col, exact reuse
// of one pixel's result); for the output heads nn/head.h.
#pragma once

#include <cstdint>

namespace dgm::nn {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

// dst (cols, rows) = src (rows, cols)^T, row-major with row strides lds / ldd,
// in 16 x 16 tiles (AVX-512 shuffles when the build has them).
void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst, int64_t ldd);

}  // namespace dgm::nn
