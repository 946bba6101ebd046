// mixture_kernels_test.cc — the AVX2 form of the binary mixture's add_at_ones
// (o[j] += q at the set bits j of w) against its scalar form, on words of
// every shape (none, all, single bits at both ends, alternating and random
// bits) and grid values of both signs up to the int64 range the grid uses:
// the same int64s, element for element.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "models/mixture_kernels.h"

namespace dgm::mixture_kernels {
namespace {

void add_at_ones_scalar(uint64_t w, int64_t q, int64_t* o) {
  for (int j = 0; j < 64; ++j) o[j] += q & -int64_t((w >> j) & 1);
}

TEST(MixtureKernels, AddAtOnesMatchesScalar) {
#if !defined(__AVX2__) || defined(__AVX512F__)
  GTEST_SKIP() << "an AVX2-only kernel";
#else
  std::vector<uint64_t> words = {0, ~uint64_t(0), 0x5555555555555555ull, 0xaaaaaaaaaaaaaaaaull,
                                 0x8000000000000001ull, 0x0f0f0f0f0f0f0f0full, 0xf0f0f0f0f0f0f0f0ull};
  for (int j = 0; j < 64; ++j) words.push_back(uint64_t(1) << j), words.push_back(~(uint64_t(1) << j));
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) words.push_back(rng() & rng());  // about a quarter of the bits, as in the data
  for (int i = 0; i < 2000; ++i) words.push_back(rng());
  // Grid values: small, of both signs, and near the 2^62 the grid's sums stay
  // under; each call from accumulators already holding values, as in a pass.
  const int64_t big = int64_t(1) << 62;
  const std::vector<int64_t> qs = {1, -1, 2, 3, 255, -256, big - 1, -big, 0x123456789abcdefll};
  for (size_t i = 0; i < words.size(); ++i)
    for (int64_t q : {qs[i % qs.size()], int64_t(rng() >> 24) - (int64_t(1) << 39)}) {
      int64_t got[64], want[64];
      for (int j = 0; j < 64; ++j) got[j] = want[j] = int64_t(rng() >> 24) - (int64_t(1) << 39);
      add_at_ones_avx2(words[i], q, got);
      add_at_ones_scalar(words[i], q, want);
      for (int j = 0; j < 64; ++j) ASSERT_EQ(got[j], want[j]) << "word " << i << " q " << q << " bit " << j;
    }
  // A misplaced lane or step (bits against 1, 2, 4, 8, a shift of 4) shows here.
  int64_t o[64] = {};
  add_at_ones_avx2(0x8421000000000000ull | 0x6ull, 5, o);
  for (int j = 0; j < 64; ++j) EXPECT_EQ(o[j], (j == 1 || j == 2 || j == 48 || j == 53 || j == 58 || j == 63) ? 5 : 0) << j;
#endif
}

}  // namespace
}  // namespace dgm::mixture_kernels
