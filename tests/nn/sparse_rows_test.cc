// sparse_rows_test.cc — the sparse-input staircase kernels give bit for bit
// what conv_forward / conv_backward_weights give on the same operands (0/1
// inputs, as plain adds; real-valued inputs with zeros, as fused
// multiply-adds), with row counts that cross the kernels' slices of 128.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "dgm/rng.h"
#include "nn/conv.h"
#include "nn/sparse_rows.h"

namespace dgm::nn {
namespace {

struct Stair {
  int64_t J, F;
  std::vector<int64_t> prefix, forward_cols, adjoint_cols;
  Stair(int64_t j, int64_t f) : J(j), F(f) {
    for (int64_t r = 0; r < F; ++r) prefix.push_back(std::min(J, (r * J) / F + 1));
    for (int64_t b = 0; b < num_output_blocks(F); ++b)
      forward_cols.insert(forward_cols.end(), {0, prefix[size_t(std::min(F, (b + 1) * kOutputBlock) - 1)]});
    for (int64_t b = 0; b < num_output_blocks(J); ++b) {
      const int64_t first = std::upper_bound(prefix.begin(), prefix.end(), b * kOutputBlock) - prefix.begin();
      adjoint_cols.insert(adjoint_cols.end(), {first, F});
    }
  }
};

Grid rows(int64_t n, int64_t F) {
  Grid g;
  g.n = n, g.H = 1, g.W = 1, g.F = F;
  return g;
}

void check(int64_t n, int64_t J, int64_t F, bool binary, bool relu, bool negative_zeros = false) {
  if (!sparse_rows_fit(J)) GTEST_SKIP() << "no vector kernel (AVX-512 or AVX2) in this build, or J too large";
  Rng rng(7);
  const Stair st(J, F);
  std::vector<float> x(size_t(n * J)), w(size_t(J * F), 0.0f), init(size_t(n * F)), d(size_t(n * F));
  for (auto& v : x) v = rng.uniform() < 0.3 ? (binary ? 1.0f : float(rng.uniform())) : 0.0f;
  if (negative_zeros)
    for (auto& v : x)
      if (v == 0.0f && rng.uniform() < 0.5) v = -0.0f;
  for (int64_t o = 0; o < F; ++o)
    for (int64_t j = 0; j < st.prefix[size_t(o)]; ++j) w[size_t(j * F + o)] = float(rng.uniform() - 0.5);
  for (auto& v : init) v = float(rng.uniform() - 0.5);
  for (auto& v : d) v = float(rng.uniform() - 0.5);
  std::vector<int64_t> iota(size_t(std::max(J, F)));
  for (size_t i = 0; i < iota.size(); ++i) iota[i] = int64_t(i);
  // Forward against conv_forward.
  std::vector<float> want(size_t(n * F)), got(size_t(n * F), -1.0f);
  Epilogue<float> ep;
  ep.init = init.data();
  ep.block_cols = st.forward_cols.data();
  if (relu) ep.relu = want.data();
  conv_forward<float>(J, iota.data(), w.data(), rows(n, J), x.data(), rows(n, F), want.data(),
                      Region::all(rows(n, F)), ep);
  std::vector<float> packed(size_t(sparse_rows_packed(J, F)) + 16, 0.0f);
  for (int64_t j = 0; j < J; ++j)
    for (int64_t o = 0; o < F; ++o)
      packed[size_t((o / kOutputBlock * J + j) * kOutputBlock + o % kOutputBlock)] = w[size_t(j * F + o)];
  ASSERT_TRUE(sparse_rows_forward(n, J, x.data(), packed.data(), F, st.forward_cols.data(), init.data(), got.data(),
                                  relu));
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
  // Weight gradient (F, J) += d^T x against conv_backward_weights.
  std::vector<float> gw(size_t(F * J)), gg(size_t(F * J));
  for (auto& v : gw) v = float(rng.uniform() - 0.5);
  gg = gw;
  conv_backward_weights<float>(F, iota.data(), rows(n, F), d.data(), rows(n, J), x.data(), Region::all(rows(n, J)),
                               gw.data(), st.adjoint_cols.data());
  ASSERT_TRUE(sparse_rows_weight_gradient(n, F, J, d.data(), x.data(), st.adjoint_cols.data(), gg.data()));
  EXPECT_EQ(0, std::memcmp(gw.data(), gg.data(), gw.size() * sizeof(float)));
}

TEST(SparseRows, BinaryInputsMatchTheDenseKernelsBitForBit) { check(50, 784, 500, true, true); }
TEST(SparseRows, RealInputsMatchTheDenseKernelsBitForBit) { check(200, 300, 130, false, false); }
TEST(SparseRows, SmallAndOddShapes) { check(3, 17, 5, true, false); }
// Blocks of 128 rows (the weight gradient's chains restart there), output
// ranges that start off a multiple of 16 and end off a multiple of 8
// (the AVX2 kernel's chunks of 48 outputs and 8 x 8 transposes), FVSBN's
// square staircase, and -0 inputs among the zeros.
TEST(SparseRows, BlocksOfRowsAndOddOutputRanges) {
  check(300, 100, 70, true, false);
  check(131, 784, 784, true, false);
  check(257, 61, 203, false, false, true);
  check(140, 200, 9, true, true, true);
}

}  // namespace
}  // namespace dgm::nn
