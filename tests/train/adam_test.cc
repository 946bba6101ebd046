// adam_test.cc — one Adam step by hand, clipping by global norm, weight decay
// and learning-rate decay.
#include <gtest/gtest.h>

#include <cmath>

#include "dgm/train/adam.h"

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

}  // namespace
}  // namespace dgm
