// gemm_test.cc — nn::gemm (every transpose combination, beta 0 / 1 / other)
// and nn::transpose (whole tiles and ragged edges) against plain loops.
#include <gtest/gtest.h>

#include <vector>

#include "dgm/rng.h"
#include "nn/gemm.h"

namespace dgm::nn {
namespace {

TEST(Gemm, MatchesLoopsForEveryTransposeAndBeta) {
  Rng rng(2);
  const int64_t M = 7, N = 5, K = 9;
  std::vector<double> A(size_t(M * K)), B(size_t(K * N)), C0(size_t(M * N));
  for (auto* v : {&A, &B, &C0})
    for (auto& e : *v) e = rng.uniform() - 0.5;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (double beta : {0.0, 1.0, -0.5}) {
        std::vector<double> C = C0;
        // Stored shapes: A (K, M) when transposed, B (N, K) when transposed.
        gemm<double>(ta, tb, M, N, K, 2.0, A.data(), ta ? M : K, B.data(), tb ? K : N, beta, C.data(), N);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k)
              s += (ta ? A[size_t(k * M + i)] : A[size_t(i * K + k)]) * (tb ? B[size_t(j * K + k)] : B[size_t(k * N + j)]);
            EXPECT_NEAR(C[size_t(i * N + j)], beta * C0[size_t(i * N + j)] + 2.0 * s, 1e-12);
          }
      }
}

TEST(Gemm, TransposeTilesAndEdges) {
  Rng rng(3);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{32, 48}, {37, 53}, {1, 17}, {16, 16}}) {
    const int64_t lds = cols + 3, ldd = rows + 5;
    std::vector<float> src(size_t(rows * lds)), dst(size_t(cols * ldd), -1.0f);
    for (auto& e : src) e = float(rng.uniform());
    transpose(rows, cols, src.data(), lds, dst.data(), ldd);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(dst[size_t(c * ldd + r)], src[size_t(r * lds + c)]) << rows << "x" << cols;
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t r = rows; r < ldd; ++r) ASSERT_EQ(dst[size_t(c * ldd + r)], -1.0f);  // padding untouched
  }
}

}  // namespace
}  // namespace dgm::nn
