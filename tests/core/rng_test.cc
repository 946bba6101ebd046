// rng_test.cc — the categorical draws every model shares: frequencies follow
// the weights, weights of zero are never drawn, temperature reshapes.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "dgm/rng.h"

namespace dgm {
namespace {

TEST(Rng, CategoricalFrequenciesFollowTheWeights) {
  const std::vector<double> w = {0.0, 1.0, 3.0, 0.0, 4.0};
  Rng rng(7);
  std::vector<int> count(w.size(), 0);
  const int n = 80000;
  for (int i = 0; i < n; ++i) ++count[rng.categorical(w.data(), w.size(), 8.0)];
  EXPECT_EQ(count[0], 0);
  EXPECT_EQ(count[3], 0);
  for (size_t i : {1u, 2u, 4u}) {
    const double p = w[i] / 8.0;
    EXPECT_NEAR(count[i] / double(n), p, 4 * std::sqrt(p * (1 - p) / n)) << i;
  }
}

TEST(Rng, CategoricalNeverReturnsAZeroWeightWhenRoundingOvershoots) {
  // A total slightly larger than the sum lets u land past the end: the last
  // positive weight takes it, not the trailing zeros.
  const std::vector<double> w = {0.5, 0.5, 0.0, 0.0};
  Rng rng(3);
  for (int i = 0; i < 10000; ++i) EXPECT_LT(rng.categorical(w.data(), w.size(), 1.5), 2u);
}

TEST(Rng, CategoricalWithStride) {
  // Column 1 of a (3, 2) row-major table.
  const std::vector<double> t = {9, 0, 9, 1, 9, 0};
  Rng rng(1);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(rng.categorical(t.data() + 1, 3, 1.0, 2), 1u);
}

TEST(Rng, CategoricalLogMatchesSoftmaxAtATemperature) {
  const std::vector<double> lw = {std::log(1.0), std::log(4.0), -INFINITY};
  std::vector<double> buf;
  for (double T : {1.0, 2.0, 0.5}) {
    Rng rng(11);
    const int n = 60000;
    int ones = 0, twos = 0;
    for (int i = 0; i < n; ++i) {
      const size_t k = rng.categorical_log(lw.data(), lw.size(), T, buf);
      ones += k == 1;
      twos += k == 2;
    }
    const double p1 = std::pow(4.0, 1 / T) / (1 + std::pow(4.0, 1 / T));
    EXPECT_NEAR(ones / double(n), p1, 4 * std::sqrt(p1 * (1 - p1) / n)) << T;
    EXPECT_EQ(twos, 0);
  }
}

}  // namespace
}  // namespace dgm
