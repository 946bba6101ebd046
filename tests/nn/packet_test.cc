// packet_test.cc — the 16-float packets of nn/packet.h on this build's
// instruction set (AVX-512, or pairs of AVX2 registers) against plain loops:
// masked loads read only their lanes and stores write only theirs, the
// lane-wise arithmetic is the scalar fused multiply-add bit for bit, and the
// mask helpers (nonzero, compress_indices) list lanes in order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "dgm/rng.h"
#include "nn/packet.h"

namespace dgm::nn {
namespace {

#if defined(DGM_PACKETS)

std::vector<float> lanes(simd::f16 v) {
  std::vector<float> out(16);
  simd::store(out.data(), v);
  return out;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(Packet, MaskedLoadsAndStoresTouchOnlyTheirLanes) {
  Rng rng(5);
  for (int trial = 0; trial < 2000; ++trial) {
    const simd::mask16 m = trial < 17 ? simd::lane_mask(trial) : simd::mask16(rng.below(1u << 16));
    std::vector<float> src(16), dst(16, -7.0f);
    for (auto& e : src) e = float(rng.uniform() - 0.5);
    const std::vector<float> got = lanes(simd::maskz_load(m, src.data()));
    simd::store(dst.data(), m, simd::load(src.data()));
    for (int k = 0; k < 16; ++k) {
      const bool on = (m >> k) & 1u;
      ASSERT_TRUE(same_bits(got[k], on ? src[k] : 0.0f)) << "mask " << m << " lane " << k;
      ASSERT_TRUE(same_bits(dst[k], on ? src[k] : -7.0f)) << "mask " << m << " lane " << k;
    }
  }
  EXPECT_EQ(simd::lane_mask(0), 0);
  EXPECT_EQ(simd::lane_mask(-3), 0);
  EXPECT_EQ(simd::lane_mask(5), 0x1F);
  EXPECT_EQ(simd::lane_mask(16), 0xFFFF);
  EXPECT_EQ(simd::lane_mask(40), 0xFFFF);
}

TEST(Packet, ArithmeticIsTheScalarOperationLaneByLane) {
  Rng rng(6);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<float> a(16), b(16), c(16), g(16);
    for (int k = 0; k < 16; ++k) {
      a[k] = float(std::ldexp(rng.uniform() - 0.5, int(rng.below(40)) - 20));
      b[k] = float(std::ldexp(rng.uniform() - 0.5, int(rng.below(40)) - 20));
      c[k] = float(std::ldexp(rng.uniform() - 0.5, int(rng.below(40)) - 20));
      g[k] = k % 5 == 0 ? 0.0f : k % 5 == 1 ? -0.0f : float(rng.uniform() - 0.5);
    }
    g[3] = std::numeric_limits<float>::quiet_NaN();
    const simd::f16 pa = simd::load(a.data()), pb = simd::load(b.data()), pc = simd::load(c.data());
    const std::vector<float> f = lanes(simd::fmadd(pa, pb, pc)), s = lanes(simd::add(pa, pb)),
                             x = lanes(simd::max(pa, pb)), kp = lanes(simd::keep_where_positive(simd::load(g.data()), pa));
    for (int k = 0; k < 16; ++k) {
      ASSERT_TRUE(same_bits(f[k], std::fma(a[k], b[k], c[k]))) << k;
      ASSERT_TRUE(same_bits(s[k], a[k] + b[k])) << k;
      ASSERT_TRUE(same_bits(x[k], a[k] > b[k] ? a[k] : b[k])) << k;
      ASSERT_TRUE(same_bits(kp[k], g[k] > 0.0f ? a[k] : 0.0f)) << k;
    }
  }
}

TEST(Packet, NonzeroLanesAreListedInOrder) {
  Rng rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<float> x(16);
    for (int k = 0; k < 16; ++k) {
      const uint32_t r = uint32_t(rng.below(6));
      x[k] = r == 0 ? 0.0f : r == 1 ? -0.0f : r == 2 ? 1.0f : r == 3 ? std::numeric_limits<float>::denorm_min()
                                                                      : float(rng.uniform() - 0.5);
    }
    const simd::mask16 lanes_on = trial % 3 == 0 ? simd::mask16(0xFFFF) : simd::lane_mask(int64_t(rng.below(17)));
    const simd::mask16 nz = simd::nonzero(simd::or_bits(simd::zero_bits(), lanes_on, x.data()));
    std::vector<int32_t> want;
    for (int k = 0; k < 16; ++k) {
      const bool expect = ((lanes_on >> k) & 1u) && x[k] != 0.0f;
      ASSERT_EQ(bool((nz >> k) & 1u), expect) << "lane " << k << " value " << x[k];
      if (expect) want.push_back(100 + k);
    }
    std::vector<int32_t> out(16 + 16, -1);
    const int64_t n = simd::compress_indices(out.data(), nz, 100);
    ASSERT_EQ(n, int64_t(want.size()));
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[size_t(i)], want[size_t(i)]) << "mask " << nz << " entry " << i;
    for (size_t i = 16; i < out.size(); ++i) ASSERT_EQ(out[i], -1) << "wrote past 16 entries";
  }
}

#else

TEST(Packet, NotBuilt) { GTEST_SKIP() << "no AVX-512 or AVX2 + FMA in this build"; }

#endif

}  // namespace
}  // namespace dgm::nn
