// conv_test.cc — the column-table convolution against a direct evaluation in
// double (masked 2-D taps, a mask-A first layer, a dilated causal 1-D one),
// its adjoint by the dot-product identity, the weight gradient, the epilogue,
// and the property cached sampling relies on: computing one pixel (for a
// batch of images) gives bit for bit what the whole-image pass gives there.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "dgm/rng.h"
#include "nn/conv.h"
#include "nn/workspace.h"

namespace dgm::nn {
namespace {

Taps pixelcnn_taps(int k, bool centre) {
  Taps t;
  const int h = k / 2;
  for (int dy = -h; dy <= 0; ++dy)
    for (int dx = -h; dx <= h; ++dx) {
      if (dy == 0 && dx > 0) break;
      if (dy == 0 && dx == 0 && !centre) continue;
      t.emplace_back(dy, dx);
    }
  return t;
}

Taps causal_taps(int width, int dilation) {
  Taps t;
  for (int j = width - 1; j >= 0; --j) t.emplace_back(0, -j * dilation);
  return t;
}

struct Case {
  Taps taps;
  int64_t n, H, W, fin, fout;
};

template <typename T>
std::vector<T> random_grid(const Grid& g, Rng& rng) {
  std::vector<T> v(g.size());
  for (auto& e : v) e = T(2.0 * rng.uniform() - 1.0);
  zero_margins(g, v.data());
  return v;
}

Grid make_grid(const Case& c, int64_t F, const Margins& m) {
  Grid g;
  g.n = c.n, g.H = c.H, g.W = c.W, g.F = F;
  g.top = m.top, g.bottom = m.bottom, g.left = m.left, g.right = m.right;
  return g;
}

// y[i, r, c, o] = init[i, o] + sum_t sum_k x[i, r + dy, c + dx, k] w[t * fin + k, o], zero outside.
template <typename T>
double direct(const Case& c, const Grid& gx, const T* x, const T* w, const T* init, int64_t i, int64_t r, int64_t col,
              int64_t o) {
  double s = init ? double(init[i * c.fout + o]) : 0.0;
  for (size_t t = 0; t < c.taps.size(); ++t) {
    const int64_t rr = r + c.taps[t].first, cc = col + c.taps[t].second;
    if (rr < 0 || rr >= c.H || cc < 0 || cc >= c.W) continue;
    for (int64_t k = 0; k < c.fin; ++k)
      s += double(x[gx.at(i, rr, cc) + k]) * double(w[(int64_t(t) * c.fin + k) * c.fout + o]);
  }
  return s;
}

std::vector<Case> cases() {
  return {{pixelcnn_taps(3, true), 3, 5, 6, 48, 48},  {pixelcnn_taps(7, false), 2, 7, 7, 1, 48},
          {pixelcnn_taps(3, true), 2, 4, 9, 20, 30},  {pixelcnn_taps(1, true), 3, 3, 4, 48, 5},
          {causal_taps(2, 4), 3, 1, 37, 16, 17},      {pixelcnn_taps(5, true), 1, 6, 6, 3, 70}};
}

template <typename T>
void check_forward(double tol) {
  Rng rng(3);
  for (const Case& c : cases()) {
    const Margins m = max_margins(margins_for(c.taps), margins_for(negate(c.taps)));
    const Grid gx = make_grid(c, c.fin, m), gy = make_grid(c, c.fout, m);
    const std::vector<T> x = random_grid<T>(gx, rng);
    const int64_t J = int64_t(c.taps.size()) * c.fin;
    std::vector<T> w(size_t(J * c.fout)), init(size_t(c.n * c.fout));
    for (auto& e : w) e = T(rng.uniform() - 0.5);
    for (auto& e : init) e = T(rng.uniform() - 0.5);
    std::vector<int64_t> col(static_cast<size_t>(J));
    column_offsets(c.taps, gx, col.data());
    std::vector<T> y(gy.size(), T(0)), relu(gy.size(), T(0));
    Epilogue<T> ep;
    ep.init = init.data();
    ep.relu = relu.data();
    conv_forward<T>(J, col.data(), w.data(), gx, x.data(), gy, y.data(), Region::all(gy), ep);
    for (int64_t i = 0; i < c.n; ++i)
      for (int64_t r = 0; r < c.H; ++r)
        for (int64_t cc = 0; cc < c.W; ++cc)
          for (int64_t o = 0; o < c.fout; ++o) {
            const double want = direct(c, gx, x.data(), w.data(), init.data(), i, r, cc, o);
            const T got = y[size_t(gy.at(i, r, cc) + o)];
            ASSERT_NEAR(double(got), want, tol * (1 + std::fabs(want))) << "fin " << c.fin << " fout " << c.fout;
            ASSERT_EQ(relu[size_t(gy.at(i, r, cc) + o)], std::max(got, T(0)));
            if constexpr (std::is_same_v<T, float>) {
              // Bit for bit one chain of fused multiply-adds in column order
              // from the init value, whatever the tiles or instruction set.
              float s = init[size_t(i * c.fout + o)];
              for (int64_t j = 0; j < J; ++j)
                s = std::fma(x[size_t(gx.at(i, r, cc) + col[size_t(j)])], w[size_t(j * c.fout + o)], s);
              ASSERT_EQ(std::memcmp(&got, &s, sizeof s), 0) << "fin " << c.fin << " fout " << c.fout << " o " << o;
            }
          }
    // One pixel at a time, for all images at once (the cached sampler's call),
    // and one image row at a time: bit for bit the whole pass.
    std::vector<T> y1(gy.size(), T(0)), y2(gy.size(), T(0));
    Epilogue<T> ep1;
    ep1.init = init.data();
    for (int64_t r = 0; r < c.H; ++r)
      for (int64_t cc = 0; cc < c.W; ++cc)
        conv_forward<T>(J, col.data(), w.data(), gx, x.data(), gy, y1.data(), Region::pixel(0, c.n, r, cc), ep1);
    for (int64_t i = 0; i < c.n; ++i)
      for (int64_t r = 0; r < c.H; ++r)
        conv_forward<T>(J, col.data(), w.data(), gx, x.data(), gy, y2.data(), {i, i + 1, r, r + 1, 0, c.W}, ep1);
    EXPECT_EQ(std::memcmp(y.data(), y1.data(), y.size() * sizeof(T)), 0);
    EXPECT_EQ(std::memcmp(y.data(), y2.data(), y.size() * sizeof(T)), 0);
  }
}

TEST(Conv, ForwardMatchesDirectSumFloat) { check_forward<float>(1e-5); }
TEST(Conv, ForwardMatchesDirectSumDouble) { check_forward<double>(1e-12); }

// <conv(x), dy> = <x, conv^T(dy)>, and dw from conv_backward_weights is the
// derivative of <conv(x), dy> with respect to w.
template <typename T>
void check_adjoint(double tol) {
  Rng rng(5);
  for (const Case& c : cases()) {
    const Margins m = max_margins(margins_for(c.taps), margins_for(negate(c.taps)));
    const Grid gx = make_grid(c, c.fin, m), gy = make_grid(c, c.fout, m);
    const std::vector<T> x = random_grid<T>(gx, rng), dy = random_grid<T>(gy, rng);
    const int64_t T_ = int64_t(c.taps.size()), J = T_ * c.fin;
    std::vector<T> w(size_t(J * c.fout));
    for (auto& e : w) e = T(rng.uniform() - 0.5);
    std::vector<int64_t> col(static_cast<size_t>(J)), colt(size_t(T_ * c.fout));
    column_offsets(c.taps, gx, col.data());
    column_offsets(negate(c.taps), gy, colt.data());
    std::vector<T> wt(w.size());
    transpose_columns(T_, c.fin, c.fout, w.data(), wt.data());
    std::vector<T> y(gy.size(), T(0)), dx(gx.size(), T(0));
    conv_forward<T>(J, col.data(), w.data(), gx, x.data(), gy, y.data(), Region::all(gy), {});
    conv_forward<T>(T_ * c.fout, colt.data(), wt.data(), gy, dy.data(), gx, dx.data(), Region::all(gx), {});
    double lhs = 0, rhs = 0, scale = 0;
    for (size_t e = 0; e < y.size(); ++e) lhs += double(y[e]) * double(dy[e]), scale += std::fabs(double(y[e] * dy[e]));
    for (size_t e = 0; e < x.size(); ++e) rhs += double(x[e]) * double(dx[e]);
    EXPECT_NEAR(lhs, rhs, tol * scale);
    // d<y, dy>/dw[j][o] = sum_p x[p + col j] dy[p][o].
    std::vector<T> dw(w.size(), T(0));
    conv_backward_weights<T>(J, col.data(), gx, x.data(), gy, dy.data(), Region::all(gy), dw.data());
    for (int64_t j = 0; j < J; ++j)
      for (int64_t o = 0; o < c.fout; ++o) {
        double want = 0;
        for (int64_t i = 0; i < c.n; ++i)
          for (int64_t r = 0; r < c.H; ++r)
            for (int64_t cc = 0; cc < c.W; ++cc)
              want += double(x[size_t(gx.at(i, r, cc) + col[size_t(j)])]) * double(dy[size_t(gy.at(i, r, cc) + o)]);
        ASSERT_NEAR(double(dw[size_t(j * c.fout + o)]), want, tol * 10 * (1 + std::fabs(want)));
      }
  }
}

TEST(Conv, AdjointAndWeightGradientFloat) { check_adjoint<float>(1e-5); }
TEST(Conv, AdjointAndWeightGradientDouble) { check_adjoint<double>(1e-12); }

// Inputs mostly exactly zero (a ReLU's outputs, zero in blocks of pixels and
// at random): the weight gradient that skips them channel by channel gives
// every dw bit for bit as the dense one, over regions of whole images and of
// a few rows; shapes past its limits (fin > 64, fewer than 3 taps, more than
// 8 taps, more than one output block) included.
TEST(Conv, WeightGradientSkippingZeroInputsIsExact) {
  Rng rng(21);
  std::vector<Case> cs = cases();
  cs.push_back({pixelcnn_taps(3, true), 3, 9, 10, 64, 100});
  cs.push_back({pixelcnn_taps(3, true), 2, 5, 5, 70, 16});
  cs.push_back({pixelcnn_taps(7, true), 2, 8, 8, 7, 48});
  for (const Case& c : cs) {
    const Margins m = max_margins(margins_for(c.taps), margins_for(negate(c.taps)));
    const Grid gx = make_grid(c, c.fin, m), gy = make_grid(c, c.fout, m);
    std::vector<float> x = random_grid<float>(gx, rng);
    const std::vector<float> dy = random_grid<float>(gy, rng);
    for (int64_t i = 0; i < c.n; ++i)
      for (int64_t r = 0; r < c.H; ++r)
        for (int64_t cc = 0; cc < c.W; ++cc)
          for (int64_t k = 0; k < c.fin; ++k) {
            float& v = x[size_t(gx.at(i, r, cc) + k)];
            if ((r + cc + k) % 5 < 2 || rng.uniform() < 0.4) v = 0.0f;
            else v = std::max(v, 0.0f);
          }
    const int64_t J = int64_t(c.taps.size()) * c.fin;
    std::vector<int64_t> col(static_cast<size_t>(J));
    column_offsets(c.taps, gx, col.data());
    const Region parts[] = {Region::all(gy), {c.n > 1 ? 1 : 0, c.n, std::min<int64_t>(1, c.H - 1), c.H, 0, c.W}};
    for (const Region& rg : parts) {
      std::vector<float> dense(size_t(J * c.fout), 0.5f), skip(dense);
      conv_backward_weights<float>(J, col.data(), gx, x.data(), gy, dy.data(), rg, dense.data());
      conv_backward_weights<float>(J, col.data(), gx, x.data(), gy, dy.data(), rg, skip.data(), nullptr, true);
      for (size_t e = 0; e < dense.size(); ++e)
        ASSERT_EQ(std::memcmp(&dense[e], &skip[e], sizeof(float)), 0)
            << "fin " << c.fin << " fout " << c.fout << " taps " << c.taps.size() << " at " << e;
    }
  }
}

// A dense staircase layer (MADE): rows of 1x1 "images", output o using the
// inputs below prefix[o] (sorted), weights past it zero. Restricting each
// output block to its columns changes no value; the weight gradient touches
// only the rows inside each block's range.
TEST(Conv, StaircaseBlocksGiveTheFullResult) {
  Rng rng(12);
  const int64_t n = 37, in = 130, out = 101;
  std::vector<int64_t> prefix(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) prefix[size_t(o)] = std::min<int64_t>(in, o * in / out + int64_t(rng.below(3)));
  std::sort(prefix.begin(), prefix.end());
  Grid gx, gy;
  gx.n = gy.n = n, gx.H = gy.H = 1, gx.W = gy.W = 1, gx.F = in, gy.F = out;
  std::vector<float> x = random_grid<float>(gx, rng), dy = random_grid<float>(gy, rng);
  std::vector<float> wt(size_t(in * out), 0.0f);  // (in, out): input j feeds output o when j < prefix[o]
  for (int64_t j = 0; j < in; ++j)
    for (int64_t o = 0; o < out; ++o)
      if (j < prefix[size_t(o)]) wt[size_t(j * out + o)] = float(rng.uniform() - 0.5);
  std::vector<int64_t> col(static_cast<size_t>(in)), ranges;
  for (int64_t j = 0; j < in; ++j) col[size_t(j)] = j;
  for (int64_t b = 0; b < num_output_blocks(out); ++b)
    ranges.insert(ranges.end(), {0, prefix[size_t(std::min(out, (b + 1) * kOutputBlock) - 1)]});
  std::vector<float> full(gy.size()), cut(gy.size());
  conv_forward<float>(in, col.data(), wt.data(), gx, x.data(), gy, full.data(), Region::all(gy), {});
  Epilogue<float> ep;
  ep.block_cols = ranges.data();
  conv_forward<float>(in, col.data(), wt.data(), gx, x.data(), gy, cut.data(), Region::all(gy), ep);
  for (size_t e = 0; e < full.size(); ++e) ASSERT_EQ(full[e], cut[e]) << e;
  std::vector<float> dw_full(wt.size(), 0.0f), dw_cut(wt.size(), 0.0f);
  conv_backward_weights<float>(in, col.data(), gx, x.data(), gy, dy.data(), Region::all(gy), dw_full.data());
  conv_backward_weights<float>(in, col.data(), gx, x.data(), gy, dy.data(), Region::all(gy), dw_cut.data(),
                               ranges.data());
  for (int64_t j = 0; j < in; ++j)
    for (int64_t o = 0; o < out; ++o) {
      const int64_t b = o / kOutputBlock;
      const bool inside = j >= ranges[size_t(2 * b)] && j < ranges[size_t(2 * b + 1)];
      ASSERT_EQ(dw_cut[size_t(j * out + o)], inside ? dw_full[size_t(j * out + o)] : 0.0f) << j << " " << o;
    }
}

TEST(Conv, EpilogueGatesThenAdds) {
  const Case c{pixelcnn_taps(3, true), 2, 3, 3, 4, 20};
  const Margins m = margins_for(c.taps);
  const Grid gx = make_grid(c, c.fin, m), gy = make_grid(c, c.fout, m);
  Rng rng(9);
  const std::vector<float> x = random_grid<float>(gx, rng), gate = random_grid<float>(gy, rng),
                           add = random_grid<float>(gy, rng);
  const int64_t J = int64_t(c.taps.size()) * c.fin;
  std::vector<float> w(size_t(J * c.fout));
  for (auto& e : w) e = float(rng.uniform() - 0.5);
  std::vector<int64_t> col(static_cast<size_t>(J));
  column_offsets(c.taps, gx, col.data());
  std::vector<float> plain(gy.size(), 0.0f), y(gy.size(), 0.0f);
  conv_forward<float>(J, col.data(), w.data(), gx, x.data(), gy, plain.data(), Region::all(gy), {});
  Epilogue<float> ep;
  ep.gate = gate.data();
  ep.add = add.data();
  conv_forward<float>(J, col.data(), w.data(), gx, x.data(), gy, y.data(), Region::all(gy), ep);
  for (int64_t i = 0; i < c.n; ++i)
    for (int64_t r = 0; r < c.H; ++r)
      for (int64_t cc = 0; cc < c.W; ++cc)
        for (int64_t o = 0; o < c.fout; ++o) {
          const size_t e = size_t(gy.at(i, r, cc) + o);
          EXPECT_EQ(y[e], add[e] + (gate[e] > 0 ? plain[e] : 0.0f));
        }
}

TEST(Conv, MarginsAndSums) {
  const Margins m = margins_for(pixelcnn_taps(7, false));
  EXPECT_EQ(m.top, 3);
  EXPECT_EQ(m.bottom, 0);
  EXPECT_EQ(m.left, 3);
  EXPECT_EQ(m.right, 3);
  Grid g;
  g.n = 2, g.H = 2, g.W = 3, g.F = 2, g.top = 1, g.left = 1, g.right = 2, g.bottom = 1;
  std::vector<double> v(g.size(), 7.0);
  zero_margins(g, v.data());
  double total = 0;
  for (double e : v) total += e;
  EXPECT_EQ(total, 7.0 * 2 * 2 * 3 * 2);  // only the interior keeps its values
  std::vector<double> s(4);
  sum_pixels(g, v.data(), Region::all(g), s.data());
  EXPECT_EQ(s, std::vector<double>(4, 7.0 * 6));
}

}  // namespace
}  // namespace dgm::nn
