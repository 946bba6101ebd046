// adam_test.cc — one Adam step by hand, clipping by global norm, weight decay
// (L2 and decoupled), learning-rate decay and the warmup / cosine schedule.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "dgm/train/adam.h"
#include "dgm/train/trainer.h"

namespace dgm {
namespace {

TEST(Adam, FirstStepMovesByLearningRate) {
  AdamOptions o;
  o.learning_rate = 0.1;
  Adam a(2, o);
  ThreadPool pool(1);
  std::vector<float> p{1.0f, -2.0f}, g{0.5f, -0.25f};
  a.step(p.data(), g.data(), pool);
  // m_hat = g, v_hat = g^2: the first step is lr * sign(g).
  EXPECT_NEAR(p[0], 0.9f, 1e-6);
  EXPECT_NEAR(p[1], -1.9f, 1e-6);
  // Second step with the same gradient, computed by the textbook formula.
  std::vector<float> g2{0.5f, -0.25f};
  a.step(p.data(), g2.data(), pool);
  const double m = 0.9 * 0.05 + 0.1 * 0.5, v = 0.999 * 0.00025 + 0.001 * 0.25;
  const double mh = m / (1 - 0.81), vh = v / (1 - 0.998001);
  EXPECT_NEAR(p[0], 0.9 - 0.1 * mh / (std::sqrt(vh) + 1e-8), 1e-5);
}

TEST(Adam, ClipsWeightDecaysAndDecaysRate) {
  AdamOptions o;
  o.learning_rate = 1.0;
  o.clip_norm = 1.0;
  o.weight_decay = 0.5;
  o.lr_decay = 0.5;
  Adam a(2, o);
  a.set_epoch(3);
  EXPECT_DOUBLE_EQ(a.learning_rate(), 0.25);
  ThreadPool pool(1);
  std::vector<float> p{2.0f, 0.0f}, g{2.0f, 0.0f};
  const double norm = a.step(p.data(), g.data(), pool);
  EXPECT_NEAR(norm, 3.0, 1e-6);  // 2 + 0.5 * 2
  EXPECT_NEAR(p[0], 1.75f, 1e-5);
  EXPECT_EQ(p[1], 0.0f);
}

TEST(Adam, DecoupledWeightDecayShrinksOnlyTheDecayRanges) {
  AdamOptions o;
  o.learning_rate = 0.1;
  o.weight_decay = 0.5;
  o.decoupled = true;
  Adam a(3, o);
  a.set_decay({{0, 2}});
  ThreadPool pool(1);
  std::vector<float> p{2.0f, -4.0f, 2.0f}, g{1.0f, 1.0f, 1.0f};
  a.step(p.data(), g.data(), pool);
  // torch.optim.AdamW: theta (1 - lr wd) - lr sign(g) on the first step; the
  // decay does not enter the moments (the gradient is unchanged).
  EXPECT_NEAR(p[0], 2.0 * 0.95 - 0.1, 1e-6);
  EXPECT_NEAR(p[1], -4.0 * 0.95 - 0.1, 1e-6);
  EXPECT_NEAR(p[2], 2.0 - 0.1, 1e-6);  // outside the decay ranges
}

TEST(Schedule, WarmupThenCosineToTheMinimum) {
  TrainOptions o;
  o.adam.learning_rate = 1.0;
  o.warmup_steps = 4;
  o.schedule = "cosine";
  o.min_learning_rate = 0.1;
  EXPECT_DOUBLE_EQ(scheduled_learning_rate(o, 0, 14, 1), 0.25);
  EXPECT_DOUBLE_EQ(scheduled_learning_rate(o, 3, 14, 1), 1.0);
  EXPECT_NEAR(scheduled_learning_rate(o, 9, 14, 1), 0.1 + 0.9 * 0.5, 1e-12);  // halfway through the decay
  EXPECT_NEAR(scheduled_learning_rate(o, 14, 14, 1), 0.1, 1e-12);
  o.schedule = "constant";
  o.adam.lr_decay = 0.5;
  EXPECT_DOUBLE_EQ(scheduled_learning_rate(o, 10, 14, 3), 0.25);
}

TEST(Adam, SumsChunkGradientsWithScale) {
  AdamOptions o;
  Adam a(3, o), b(3, o);
  ThreadPool pool(1);
  std::vector<float> p1{1, 2, 3}, p2{1, 2, 3}, g1{0.5f, 1, -1}, g2{0.25f, -3, 1}, gs{0.375f, -1, 0};
  a.step(p1.data(), {g1.data(), g2.data()}, 0.5f, pool, /*clear_grads=*/true);
  b.step(p2.data(), gs.data(), pool);
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(g1, std::vector<float>(3, 0.0f));
  EXPECT_EQ(g2, std::vector<float>(3, 0.0f));
}

TEST(Adam, ActiveRangesOnlyAreUpdated) {
  AdamOptions o;
  o.learning_rate = 0.1;
  Adam a(5, o);
  a.set_active({{1, 2}, {3, 5}});
  ThreadPool pool(1);
  std::vector<float> p{1, 1, 1, 1, 1}, g{1, 1, 1, 1, 1};
  a.step(p.data(), {g.data()}, 1.0f, pool, /*clear_grads=*/true);
  EXPECT_EQ(p[0], 1.0f);
  EXPECT_EQ(p[2], 1.0f);
  EXPECT_NEAR(p[1], 0.9f, 1e-6);
  EXPECT_NEAR(p[4], 0.9f, 1e-6);
  EXPECT_EQ(g, (std::vector<float>{1, 0, 1, 0, 0}));
}

TEST(Adam, ResultsDoNotDependOnThreads) {
  const size_t n = 100000;
  std::vector<float> p1(n), p2(n), g1(n), g2(n);
  for (size_t i = 0; i < n; ++i) p1[i] = p2[i] = g1[i] = g2[i] = float(std::sin(double(i)));
  AdamOptions o;
  o.clip_norm = 10;
  Adam a1(n, o), a2(n, o);
  ThreadPool t1(1), t3(3);
  EXPECT_EQ(a1.step(p1.data(), g1.data(), t1), a2.step(p2.data(), g2.data(), t3));
  EXPECT_EQ(p1, p2);
}

// step(source) gives the floats of step() on the gathered gradient, over
// active and decay ranges that cut its blocks unevenly, for L2 and decoupled
// decay and with clipping, at any thread count; it reads only the active ranges.
TEST(Adam, GradientFromASourceGivesTheSameSteps) {
  const size_t n = 70001;
  const std::vector<std::pair<size_t, size_t>> active{{3, 40000}, {40007, 70001}}, decay{{1000, 45000}};
  for (int variant = 0; variant < 3; ++variant) {
    AdamOptions o;
    o.weight_decay = 0.01;
    o.decoupled = variant == 1;
    o.clip_norm = variant == 2 ? 5.0 : 0.0;
    Adam a(n, o), b(n, o);
    for (Adam* x : {&a, &b}) {
      x->set_active(active);
      x->set_decay(decay);
    }
    ThreadPool t1(1), t2(2);
    std::vector<float> pa(n), pb(n), g(n);
    for (size_t i = 0; i < n; ++i) pa[i] = pb[i] = float(std::cos(double(i)));
    for (int s = 0; s < 3; ++s) {
      for (size_t i = 0; i < n; ++i) g[i] = float(std::sin(double(i * (s + 1))));
      std::vector<float> gb = g;
      std::atomic<size_t> read{0};
      auto source = [&](size_t begin, size_t end, float* out) {
        for (size_t i = begin; i < end; ++i) {
          EXPECT_TRUE((i >= 3 && i < 40000) || i >= 40007) << i;
          out[i - begin] = g[i];
        }
        read += end - begin;
      };
      a.step(pa.data(), source, 0.5f, s == 1 ? t2 : t1);
      b.step(pb.data(), {gb.data()}, 0.5f, t1, /*clear_grads=*/true);
      EXPECT_EQ(read.load(), n - 3 - 7) << variant;
      EXPECT_EQ(pa, pb) << "variant " << variant << ", step " << s;
    }
    EXPECT_EQ(a.first_moment(), b.first_moment());
    EXPECT_EQ(a.second_moment(), b.second_moment());
  }
}

}  // namespace
}  // namespace dgm
