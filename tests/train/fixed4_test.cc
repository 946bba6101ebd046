// fixed4_test.cc — the AVX2 conversions of train/fixed4.h against llrint and
// double(int64) that they stand in for: the same integers for every double
// below 2^62 in magnitude (ties to even, both signs, the part boundaries at
// multiples of 2^32, the edges), the same double for any int64, and
// in_range false for 2^62 and beyond, infinities and NaN, so that the
// training loop's exact sum takes the plain path there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "dgm/rng.h"
#include "train/fixed4.h"

namespace dgm {
namespace {

#if defined(DGM_FIXED4)

TEST(Fixed4, RoundsAsLlrint) {
  Rng rng(11);
  const double lim = 4611686018427387904.0;  // 2^62
  const double t32 = 4294967296.0;
  const double edges[] = {0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e-300, -1e-300, t32, -t32, t32 - 0.5,
                          -t32 + 0.5, t32 + 0.5, std::nextafter(lim, 0.0), -std::nextafter(lim, 0.0), -t32 - 0.5,
                          4503599627370495.5, -4503599627370495.5};
  for (int trial = 0; trial < 300000; ++trial) {
    double v[4];
    for (int k = 0; k < 4; ++k) {
      if (trial < 5) v[k] = edges[(trial * 4 + k) % 20];
      else {
        const double m = rng.uniform() * 2 - 1;
        const int e = int(rng.below(63));  // |v| < 2^62
        v[k] = rng.below(4) == 0 ? std::round(std::ldexp(m, e) * 2) / 2 : std::ldexp(m, e);  // halves: ties
      }
    }
    const __m256d x = _mm256_loadu_pd(v);
    ASSERT_TRUE(fixed4::in_range(x)) << v[0] << " " << v[1] << " " << v[2] << " " << v[3];
    int64_t q[4];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), fixed4::to_int(x));
    for (int k = 0; k < 4; ++k) ASSERT_EQ(q[k], int64_t(std::llrint(v[k]))) << v[k];
  }
}

TEST(Fixed4, ConvertsAnyInt64AsTheCastDoes) {
  Rng rng(12);
  const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
  const int64_t edges[] = {0, 1, -1, big, small, big - 1, small + 1, int64_t(1) << 32, -(int64_t(1) << 32),
                           (int64_t(1) << 32) - 1, (int64_t(1) << 53) + 1, -(int64_t(1) << 53) - 1};
  for (int trial = 0; trial < 300000; ++trial) {
    int64_t q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = trial < 3 ? edges[(trial * 4 + k) % 12] : int64_t(rng.next()) >> int(rng.below(64));
    double got[4];
    _mm256_storeu_pd(got, fixed4::to_double(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))));
    for (int k = 0; k < 4; ++k) ASSERT_EQ(got[k], double(q[k])) << q[k];
  }
}

TEST(Fixed4, OutOfRangeLanesAreRefused) {
  const double lim = 4611686018427387904.0;
  const double bad[] = {lim, -lim, 4 * lim, -1e300, std::numeric_limits<double>::infinity(),
                        -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()};
  for (double b : bad)
    for (int k = 0; k < 4; ++k) {
      double v[4] = {1.0, -2.0, 3.5, 0.0};
      ASSERT_TRUE(fixed4::in_range(_mm256_loadu_pd(v)));
      v[k] = b;
      EXPECT_FALSE(fixed4::in_range(_mm256_loadu_pd(v))) << b << " in lane " << k;
    }
}

#else

TEST(Fixed4, NotBuilt) { GTEST_SKIP() << "AVX-512DQ converts directly, or no AVX2 in this build"; }

#endif

}  // namespace
}  // namespace dgm
