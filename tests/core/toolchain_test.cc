// toolchain_test.cc — guards against a wrong-code bug of the compiler that
// builds dgm. GCC 12.2's SLP vectoriser, with AVX-512 enabled (-march=native
// on AVX-512 machines), stores the constant {0.5, 0.5, 0, 0} as a broadcast of
// 0.5 into all four doubles; CMakeLists.txt turns that pass off for GCC < 13.
#include <vector>

#include <gtest/gtest.h>

namespace {

TEST(Toolchain, ConstantInitializerListIsStoredAsWritten) {
  const std::vector<double> w = {0.5, 0.5, 0.0, 0.0};
  EXPECT_EQ(w[0], 0.5);
  EXPECT_EQ(w[1], 0.5);
  EXPECT_EQ(w[2], 0.0);
  EXPECT_EQ(w[3], 0.0);
  const std::vector<float> f = {1.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(f[size_t(i)], i < 4 ? 1.0f : 0.0f) << i;
}

}  // namespace
