// wavenet_test.cc — WaveNet beyond the contract suite: causality and the
// receptive field (the conditional at t depends on x_{t-RF} .. x_{t-1} and on
// nothing else), the hand-written gradient against central finite
// differences in double, exact normalisation at 256 levels, the cached
// sampler drawing exactly what the plain one draws, and learning a signal
// that a label selects.
#include <gtest/gtest.h>

#include <cmath>

#include "dgm/model.h"
#include "dgm/models/autoregressive.h"
#include "dgm/models/wavenet.h"
#include "models/test_util.h"

namespace dgm {
namespace {

using testing_util::enumerate;
using testing_util::make_data;

std::unique_ptr<Model> make_fitted(const Space& space, const json& extra, int epochs = 1, size_t n = 48,
                                   double learning_rate = 0.02) {
  json model = {{"type", "wavenet"}, {"channels", 5}, {"skip", 6}, {"hidden", 7}, {"layers", 4}, {"cycle", 3}};
  for (auto it = extra.begin(); it != extra.end(); ++it) model[it.key()] = it.value();
  auto m = create_model(space, model, {{"epochs", epochs}, {"batch_size", 16}, {"learning_rate", learning_rate}});
  ThreadPool pool(2);
  Rng rng(11);
  m->fit(make_data(space, n, 3), nullptr, {&pool, &rng, nullptr, nullptr});
  return m;
}

// Dilations 1, 2, 4, 1 (cycle 3): RF = 2 + 8 = 10. Changing x_s changes the
// conditionals of exactly the positions s+1 .. s+RF.
TEST(WaveNet, CausalWithTheReceptiveField) {
  const Space space = Space::tensor({24}, 6, 2);
  auto m = make_fitted(space, json::object(), 1, 48, 1e-3);
  const int64_t rf = wavenet_testing::receptive_field(*m);
  ASSERT_EQ(rf, 10);
  const auto& ar = dynamic_cast<const AutoregressiveModel&>(*m);
  Rng rng(3);
  std::vector<int32_t> x(24);
  for (auto& v : x) v = int32_t(rng.below(6));
  const std::vector<double> base = ar.conditional_log_probs(x, 1, 0);
  for (int64_t s = 0; s < 24; ++s) {
    std::vector<int32_t> z = x;
    z[size_t(s)] = (z[size_t(s)] + 3) % 6;
    const std::vector<double> pert = ar.conditional_log_probs(z, 1, 0);
    for (int64_t t = 0; t < 24; ++t) {
      if (t == s) continue;  // its own term scores the changed value
      const bool sees = t > s && t - s <= rf;
      if (sees) EXPECT_NE(pert[size_t(t)], base[size_t(t)]) << "x_" << t << " does not see x_" << s;
      else EXPECT_EQ(pert[size_t(t)], base[size_t(t)]) << "x_" << t << " depends on x_" << s;
    }
  }
}

TEST(WaveNet, GradientMatchesFiniteDifferences) {
  for (const Space& space : {Space::tensor({7}, 5, 3), Space::tensor({2, 3}, 4)}) {
    // Barely trained (a few hidden ReLUs of a small net die in a real epoch).
    auto m = make_fitted(space, {{"channels", 3}, {"skip", 4}, {"hidden", 6}, {"layers", 3}, {"cycle", 2}}, 1, 48, 1e-4);
    const size_t n = 3;
    const Dataset data = make_data(space, n, 5);
    std::vector<int32_t> x(n * size_t(space.dims())), y(n);
    for (size_t i = 0; i < n; ++i) {
      data.get(i, x.data() + i * size_t(space.dims()));
      y[i] = data.label(i);
    }
    // Jitter every parameter so that no ReLU input sits at its kink.
    std::vector<double> p = wavenet_testing::parameters(*m), grad;
    Rng jitter(8);
    for (double& v : p) v += 0.05 * (2 * jitter.uniform() - 1);
    wavenet_testing::loss_grad_double(*m, p, x, y, &grad);
    ASSERT_EQ(grad.size(), p.size());
    size_t nonzero = 0;
    for (size_t k = 0; k < p.size(); ++k) {
      const double keep = p[k], eps = 1e-6;
      p[k] = keep + eps;
      const double up = wavenet_testing::loss_grad_double(*m, p, x, y, nullptr);
      p[k] = keep - eps;
      const double down = wavenet_testing::loss_grad_double(*m, p, x, y, nullptr);
      p[k] = keep;
      const double fd = (up - down) / (2 * eps);
      nonzero += grad[k] != 0;
      EXPECT_LT(std::abs(fd - grad[k]) / std::max(1.0, std::abs(fd)), 1e-5)
          << space.describe() << " parameter " << k << ": analytic " << grad[k] << " fd " << fd;
    }
    EXPECT_GT(nonzero, p.size() / 2) << space.describe();
  }
}

TEST(WaveNet, SumsToOneAt256Levels) {
  ThreadPool pool(2);
  auto m = make_fitted(Space::tensor({2}, 256, 2), json::object());
  for (int32_t y : {0, 1, -1}) {
    double s = 0;
    for (double v : m->log_prob(enumerate(m->space(), y), pool)) s += std::exp(v);
    EXPECT_NEAR(s, 1.0, 1e-9) << "label " << y;
  }
}

// The cached sampler (one position of every layer a sample, past activations
// in rings) draws exactly what the plain one (the network over the receptive
// field before every position) draws, with labels given or drawn, a
// temperature, completion of a known prefix, and at any thread count.
TEST(WaveNet, CachedSamplerDrawsWhatThePlainOneDraws) {
  SampleOptions hot;
  hot.temperature = 0.8;
  SampleOptions label1;
  label1.label = 1;
  struct Case {
    Space space;
    json extra;
    SampleOptions opts;
  };
  const std::vector<Case> cases = {
      {Space::tensor({40}, 256, 3), json::object(), {}},
      {Space::tensor({40}, 256, 3), {{"layers", 6}, {"cycle", 4}}, label1},
      {Space::tensor({3, 11}, 7), {{"channels", 16}, {"skip", 17}}, hot},
  };
  for (const Case& c : cases) {
    auto m = make_fitted(c.space, c.extra);
    auto plain = wavenet_testing::with_plain_sampler(*m);
    ThreadPool one(1), three(3);
    SampleOptions o1 = c.opts, o3 = c.opts;
    o1.pool = &one;
    o3.pool = &three;
    Rng a(21), b(21), d(21);
    const Dataset cached = m->sample(19, a, o1), slow = plain->sample(19, b, o1), par = m->sample(19, d, o3);
    EXPECT_EQ(cached.raw(), slow.raw()) << c.space.describe();
    EXPECT_EQ(cached.labels(), slow.labels()) << c.space.describe();
    EXPECT_EQ(cached.raw(), par.raw()) << c.space.describe() << ": 1 and 3 threads differ";
    const int64_t D = c.space.dims();
    std::vector<uint8_t> known(size_t(19 * D), 0);
    for (int64_t i = 0; i < 19; ++i)
      for (int64_t t = 0; t < D / 3; ++t) known[size_t(i * D + t)] = 1;
    Rng e(5), f(5);
    const Dataset done = m->complete(cached, known, e, o3), done_plain = plain->complete(cached, known, f, o1);
    EXPECT_EQ(done.raw(), done_plain.raw()) << c.space.describe();
    for (int64_t i = 0; i < 19; ++i)
      for (int64_t t = 0; t < D / 3; ++t) EXPECT_EQ(done.at(size_t(i), t), cached.at(size_t(i), t));
  }
}

// Two labelled signals of 256 levels: a sawtooth (label 0) and a square wave
// (label 1), each at a random phase. Independent positions are near uniform
// (a random phase spreads every level); a WaveNet that sees the last two
// values predicts the next one and samples for a label follow its signal.
TEST(WaveNet, LearnsSignalsALabelSelects) {
  const Space space = Space::tensor({32}, 256, 2);
  auto signal = [](int32_t label, int64_t phase, int64_t t) {
    const int64_t u = (t + phase) % 16;
    return label == 0 ? int32_t(u * 16) : int32_t(u < 8 ? 40 : 200);
  };
  Rng rng(2);
  Dataset train(space), test(space);
  for (int i = 0; i < 500; ++i) {
    const int32_t y = int32_t(rng.below(2));
    const int64_t phase = int64_t(rng.below(16));
    std::vector<int32_t> x(32);
    for (int64_t t = 0; t < 32; ++t) x[size_t(t)] = signal(y, phase, t);
    (i < 400 ? train : test).push_back(x, y);
  }
  auto m = create_model(space, {{"type", "wavenet"}, {"channels", 16}, {"skip", 16}, {"hidden", 32}, {"layers", 4}},
                        {{"epochs", 30}, {"batch_size", 16}, {"learning_rate", 0.01}});
  ThreadPool pool(2);
  const double nll = testing_util::fit_then_test_nll(*m, train, test, pool);
  // Uniform: 32 log 256 = 177 nats. The truth: log 16 for the phase (2.8
  // nats) given the label. A model that learned the recurrences is far under 40.
  EXPECT_LT(nll, 40.0);
  SampleOptions so;
  so.label = 1;
  so.pool = &pool;
  Rng srng(3);
  const Dataset s = m->sample(20, srng, so);
  size_t square = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = true;
    for (int64_t t = 0; t < 32; ++t) ok &= s.at(i, t) == 40 || s.at(i, t) == 200;
    square += ok;
  }
  EXPECT_GE(square, 10u) << "samples for label 1 are not square waves";
}

}  // namespace
}  // namespace dgm
