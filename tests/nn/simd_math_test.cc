// simd_math_test.cc — NADE's float sigmoid (nn::simd::sigmoid_ps) against the
// double-precision 1 / (1 + e^-x): every float of a dense grid over the range
// where it is a normal float and around it, within float's own error (the
// product -x log2 e rounded to float costs |x| 6e-8 relative, as in any float
// exp without an extended reduction), and the special values; and
// reduce_add_8 against the one-vector reduction it stands in for.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "nn/simd_math.h"

namespace dgm::nn {
namespace {

// The sigmoid under test: the 16-float one with AVX-512, the 8-float one
// with AVX2 (and FMA) without it.
#if defined(__AVX512F__)
#define DGM_SIGMOID_KERNEL 1
std::vector<float> sigmoid16(const std::vector<float>& x) {
  std::vector<float> h(x.size());
  for (size_t i = 0; i < x.size(); i += 16)
    _mm512_storeu_ps(h.data() + i, simd::sigmoid_ps(_mm512_loadu_ps(x.data() + i)));
  return h;
}
#elif defined(__AVX2__) && defined(__FMA__)
#define DGM_SIGMOID_KERNEL 1
std::vector<float> sigmoid16(const std::vector<float>& x) {
  std::vector<float> h(x.size());
  for (size_t i = 0; i < x.size(); i += 8)
    _mm256_storeu_ps(h.data() + i, simd::sigmoid_ps(_mm256_loadu_ps(x.data() + i)));
  return h;
}
#endif

TEST(SimdMath, SigmoidWithinFloatError) {
#if !defined(DGM_SIGMOID_KERNEL)
  GTEST_SKIP() << "an AVX-512 or AVX2 kernel";
#else
  // x in [-86.5, 90] every 1/1024 and both float neighbours of each point.
  std::vector<float> x;
  for (double v = -86.5; v <= 90.0; v += 1.0 / 1024) {
    const float f = float(v);
    x.push_back(f);
    x.push_back(std::nextafter(f, -100.0f));
    x.push_back(std::nextafter(f, 100.0f));
  }
  while (x.size() % 16) x.push_back(0.0f);
  const std::vector<float> h = sigmoid16(x);
  double worst_abs = 0, worst_rel = 0, worst_scaled = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = 1.0 / (1.0 + std::exp(-double(x[i])));
    const double err = std::fabs(double(h[i]) - ref);
    ASSERT_TRUE(std::isfinite(h[i])) << x[i];
    worst_abs = std::max(worst_abs, err);
    if (x[i] >= -10.0f) worst_rel = std::max(worst_rel, err / ref);
    worst_scaled = std::max(worst_scaled, err / ref / (std::fabs(double(x[i])) + 1.0));
  }
  EXPECT_LE(worst_abs, 1.2e-7);       // two ulp of the floats just below 1
  EXPECT_LE(worst_rel, 8e-7);         // x >= -10: a few ulp
  EXPECT_LE(worst_scaled, 1.5e-7);    // everywhere: the rounding of -x log2 e
#endif
}

TEST(SimdMath, SigmoidSpecialValues) {
#if !defined(DGM_SIGMOID_KERNEL)
  GTEST_SKIP() << "an AVX-512 or AVX2 kernel";
#else
  const float inf = INFINITY;
  std::vector<float> x = {0.0f, -0.0f, inf, -inf, NAN, 1e30f, -1e30f, 88.0f, -88.0f, 200.0f, -200.0f, 17.0f, -17.0f,
                          1.0f, -1.0f, 0.5f};
  const std::vector<float> h = sigmoid16(x);
  EXPECT_EQ(h[0], 0.5f);
  EXPECT_EQ(h[1], 0.5f);
  EXPECT_EQ(h[2], 1.0f);
  // Below x = -86.6 the value stays at sigmoid(-86.6), a normal float near 0.
  for (size_t i : {3, 6, 8, 10}) {
    EXPECT_GT(h[i], 0.0f) << x[i];
    EXPECT_LT(h[i], 3e-38f) << x[i];
    EXPECT_TRUE(std::isnormal(h[i])) << x[i];
  }
  EXPECT_TRUE(std::isnan(h[4]));
  EXPECT_EQ(h[5], 1.0f);
  EXPECT_EQ(h[7], 1.0f);
  EXPECT_EQ(h[9], 1.0f);
  // sigmoid(x) + sigmoid(-x) = 1.
  EXPECT_NEAR(double(h[11]) + double(h[12]), 1.0, 1.2e-7);
  EXPECT_NEAR(double(h[13]) + double(h[14]), 1.0, 1.2e-7);
#endif
}

// NADE's dot products reduce 4-8 rows at once through reduce_add_8 and the
// others one at a time: a row's value must not depend on which, so every
// lane sum is the float _mm512_reduce_add_ps gives, bit for bit. Lanes of
// mixed sign and magnitude (2^-20 .. 2^20), where the order of the additions
// shows in the result.
TEST(SimdMath, ReduceAddEightIsTheOneVectorReduction) {
#if !defined(__AVX512F__)
  GTEST_SKIP() << "an AVX-512 kernel";
#else
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-20, 20);
  int order_shows = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    alignas(64) float lanes[8][16];
    __m512 x[8];
    for (int k = 0; k < 8; ++k) {
      for (int i = 0; i < 16; ++i) lanes[k][i] = std::ldexp(mant(gen), expo(gen));
      x[k] = _mm512_load_ps(lanes[k]);
    }
    float out[8];
    simd::reduce_add_8(x, out);
    for (int k = 0; k < 8; ++k) {
      const float ref = _mm512_reduce_add_ps(x[k]);
      uint32_t a, b;
      std::memcpy(&a, &out[k], 4);
      std::memcpy(&b, &ref, 4);
      ASSERT_EQ(a, b) << "trial " << trial << " row " << k << ": " << out[k] << " against " << ref;
      float left = 0.0f;  // the sum left to right, to show the inputs tell orders apart
      for (int i = 0; i < 16; ++i) left += lanes[k][i];
      order_shows += left != ref;
    }
  }
  EXPECT_GT(order_shows, 1000);
#endif
}

// The AVX2 reduce_add_8: each row's sum is ((x0 + x1) + (x2 + x3)) + ((x4 +
// x5) + (x6 + x7)), the float reduce_add gives for the row alone, bit for bit
// (NADE's dot products reduce K rows at once for any K <= 8: a row's logit must
// not depend on K); lanes of mixed sign and magnitude, where orders differ.
TEST(SimdMath, ReduceAddEightAvx2IsThePairwiseSum) {
#if defined(__AVX512F__) || !defined(__AVX2__) || !defined(__FMA__)
  GTEST_SKIP() << "an AVX2 kernel (without AVX-512)";
#else
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-20, 20);
  int order_shows = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    float lanes[8][8];
    __m256 x[8];
    for (int k = 0; k < 8; ++k) {
      for (int i = 0; i < 8; ++i) lanes[k][i] = std::ldexp(mant(gen), expo(gen));
      x[k] = _mm256_loadu_ps(lanes[k]);
    }
    float out[8];
    simd::reduce_add_8(x, out);
    for (int k = 0; k < 8; ++k) {
      const float* l = lanes[k];
      const float ref = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
      const float one = simd::reduce_add(x[k]);
      uint32_t a, b, c;
      std::memcpy(&a, &out[k], 4);
      std::memcpy(&b, &ref, 4);
      std::memcpy(&c, &one, 4);
      ASSERT_EQ(a, b) << "trial " << trial << " row " << k << ": " << out[k] << " against " << ref;
      ASSERT_EQ(c, b) << "trial " << trial << " row " << k << ": " << one << " against " << ref;
      float left = 0.0f;
      for (int i = 0; i < 8; ++i) left += l[i];
      order_shows += left != ref;
    }
  }
  EXPECT_GT(order_shows, 1000);
#endif
}

// The AVX2 sigmoid_exp2_ps at the edges of its clamps: t = -inf, far below
// -127 and just around it give 1; t at and above the cap 125 give
// 1 / (1 + 2^125) (a normal float); NaN stays NaN; integers t = k give
// 1 / (1 + 2^k) within the polynomial's error.
TEST(SimdMath, SigmoidExp2Avx2Edges) {
#if defined(__AVX512F__) || !defined(__AVX2__) || !defined(__FMA__)
  GTEST_SKIP() << "an AVX2 kernel (without AVX-512)";
#else
  const float t[16] = {-INFINITY, -1e30f, -200.0f, -127.5f, -126.5f, -30.0f, 125.0f, 1e30f,
                       INFINITY, NAN, 0.0f, 1.0f, -1.0f, 24.0f, 100.0f, 126.0f};
  float h[16];
  for (int i = 0; i < 16; i += 8) _mm256_storeu_ps(h + i, simd::sigmoid_exp2_ps(_mm256_loadu_ps(t + i)));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(h[i], 1.0f) << t[i];
  const double cap = 1.0 / (1.0 + std::ldexp(1.0, 125));
  for (int i : {6, 7, 8, 15}) {
    EXPECT_TRUE(std::isnormal(h[i])) << t[i];
    EXPECT_NEAR(h[i], cap, cap * 1e-6) << t[i];
  }
  EXPECT_TRUE(std::isnan(h[9]));
  for (int i : {10, 11, 12, 13, 14}) {
    const double ref = 1.0 / (1.0 + std::exp2(double(t[i])));
    EXPECT_NEAR(h[i], ref, ref * 3e-7) << t[i];
  }
#endif
}

}  // namespace
}  // namespace dgm::nn
