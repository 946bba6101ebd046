// transformer_test.cc — the transformer's hand-written backward pass against
// central finite differences in double (tied and untied heads, a scored
// suffix, dropout), the cached step against the full window bit for bit, the
// cached sampler against the recomputing one under a seed, normalisation and
// per-position conditionals under the sliding window, prefix completion, and
// learning on a small problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "dgm/error.h"
#include "dgm/models/transformer.h"
#include "models/test_util.h"

namespace dgm {
namespace {

using testing_util::enumerate;
using testing_util::enumerate_sequences;
using testing_util::make_data;
using testing_util::make_sequences;

template <typename T>
TransformerLayout plain_layout(const TransformerShape& s) {
  size_t n = 0;
  return make_transformer_layout(s, [&](const std::string&, std::vector<uint64_t> shape) {
    const size_t off = n;
    uint64_t c = 1;
    for (auto e : shape) c *= e;
    n += size_t(c);
    return off;
  });
}

void check_gradient(bool tied, double dropout, int64_t from) {
  TransformerShape s;
  s.vocab_in = 6;
  s.vocab_out = 5;
  s.width = 8;
  s.heads = 2;
  s.layers = 2;
  s.context = 7;
  s.mlp = 12;
  s.tied = tied;
  const TransformerLayout l = plain_layout<double>(s);
  TransformerNet<double> net(s, l);
  Rng rng(3);
  std::vector<double> p(l.size);
  for (auto& v : p) v = 0.3 * rng.normal();
  for (const auto& b : l.layer)
    for (size_t j = 0; j < size_t(s.width); ++j) p[b.ln1_g + j] += 1.0, p[b.ln2_g + j] += 1.0;
  const std::vector<int32_t> in{5, 0, 3, 4, 4, 1, 2}, tgt{0, 3, 4, 4, 1, 2, 0};
  const int64_t n = int64_t(in.size());
  TransformerNet<double>::Dropout drop;
  drop.rate = dropout;
  drop.seed = 11;
  drop.stream = 2;
  const TransformerNet<double>::Dropout* dp = dropout > 0 ? &drop : nullptr;
  std::vector<double> g(l.size, 0.0), unused(l.size);
  const double w = 0.75;
  net.window(p.data(), in.data(), tgt.data(), n, from, w, g.data(), nullptr, dp);
  // The forward pass with gradients and the scoring pass agree on the loss.
  const double l0 = net.window(p.data(), in.data(), tgt.data(), n, from, w, unused.data(), nullptr, dp);
  if (!dp) {
    EXPECT_NEAR(l0, net.window(p.data(), in.data(), tgt.data(), n, from, w, nullptr, nullptr, nullptr), 1e-12);
  }
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < l.size; ++i) {
    const double h = 1e-5, keep = p[i];
    p[i] = keep + h;
    const double up = net.window(p.data(), in.data(), tgt.data(), n, from, w, unused.data(), nullptr, dp);
    p[i] = keep - h;
    const double down = net.window(p.data(), in.data(), tgt.data(), n, from, w, unused.data(), nullptr, dp);
    p[i] = keep;
    const double fd = w * (up - down) / (2 * h);
    const double err = std::fabs(fd - g[i]) / std::max(1e-2, std::fabs(fd) + std::fabs(g[i]));
    if (err > worst) worst = err, worst_i = i;
  }
  EXPECT_LT(worst, 1e-6) << "parameter " << worst_i << " of " << l.size << (tied ? " (tied)" : " (untied)");
}

TEST(TransformerNet, BackwardMatchesFiniteDifferences) { check_gradient(false, 0.0, 0); }
TEST(TransformerNet, BackwardMatchesFiniteDifferencesTied) { check_gradient(true, 0.0, 0); }
TEST(TransformerNet, BackwardMatchesFiniteDifferencesOnAScoredSuffix) { check_gradient(true, 0.0, 3); }
TEST(TransformerNet, BackwardMatchesFiniteDifferencesWithDropout) { check_gradient(false, 0.3, 0); }

json small_config(int64_t context, int64_t stride, bool tied = true) {
  return {{"type", "transformer"}, {"layers", 2},        {"heads", 2},       {"width", 32},
          {"context", context},    {"stride", stride},   {"tied", tied},     {"init_std", 0.5}};
}

std::unique_ptr<TransformerModel> random_model(const Space& space, const json& cfg, uint64_t seed = 1) {
  ConfigSection m(cfg, "model"), t(json::object(), "train");
  auto model = std::make_unique<TransformerModel>(space, m, t);
  Rng rng(seed);
  model->init_parameters(rng);
  return model;
}

TEST(TransformerNet, CachedStepIsBitIdenticalToTheWindow) {
  const Space space = Space::tensor({40}, 7);
  for (bool tied : {true, false}) {
    auto m = random_model(space, small_config(40, 20, tied));
    const auto& net = m->net();
    const int64_t V = net.shape().vocab_out;
    Rng rng(2);
    std::vector<int32_t> in(40);
    for (auto& v : in) v = int32_t(rng.below(7));
    in[0] = 7;  // the start token
    auto cache = net.new_cache();
    std::vector<float> a(static_cast<size_t>(V)), b(static_cast<size_t>(V));
    for (int64_t t = 0; t < 40; ++t) {
      const int32_t tok = in[size_t(t)];
      auto* cp = &cache;
      net.step(m->param_store().data(), &tok, &t, &cp, 1, a.data());
      net.window(m->param_store().data(), in.data(), nullptr, t + 1, t + 1, 1.0f, nullptr, nullptr, nullptr, nullptr,
                 b.data());
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "position " << t << " tied " << tied;
    }
  }
}

TEST(Transformer, CachedSamplerDrawsWhatTheRecomputingSamplerDraws) {
  // Windows are active (context < D), so the cache is refilled on the way.
  for (const Space& space : {Space::tensor({3, 5}, 4, 3), Space::sequence(12, 5)}) {
    auto m = random_model(space, small_config(6, 2));
    const size_t n = 40;
    Dataset partial(space);
    std::vector<uint8_t> known;
    Rng prng(8);
    for (size_t i = 0; i < n; ++i) {
      const int64_t p = int64_t(i % 4);  // known prefixes of 0..3 values
      std::vector<int32_t> x(size_t(space.variable_length() ? p : space.dims()), 0);
      for (int64_t t = 0; t < p; ++t) x[size_t(t)] = int32_t(prng.below(4));
      partial.push_back(x, space.has_labels() ? int32_t(i % 3) - 1 : -1);
      if (!space.variable_length())
        for (int64_t t = 0; t < space.dims(); ++t) known.push_back(t < p ? 1 : 0);
    }
    SampleOptions opts;
    opts.temperature = 0.8;
    Rng a(21), b(21);
    const Dataset x = m->complete(partial, known, a, opts);
    const Dataset y = m->complete_recomputing(partial, known, b, opts);
    ASSERT_EQ(x.size(), n);
    EXPECT_EQ(x.raw(), y.raw()) << space.describe();
    EXPECT_EQ(x.labels(), y.labels());
    for (size_t i = 0; i < n; ++i) {
      const int64_t p = int64_t(i % 4);
      for (int64_t t = 0; t < std::min<int64_t>(p, x.length(i)); ++t) EXPECT_EQ(x.at(i, t), partial.at(i, t));
      if (space.variable_length()) {
        EXPECT_GE(x.length(i), p);
      }
      if (space.has_labels() && partial.label(i) >= 0) {
        EXPECT_EQ(x.label(i), partial.label(i));
      }
    }
    // A pool of any size gives the same samples.
    ThreadPool pool(3);
    opts.pool = &pool;
    Rng c(21);
    EXPECT_EQ(m->complete(partial, known, c, opts).raw(), x.raw());
  }
}

TEST(Transformer, SlidingWindowModelIsNormalised) {
  ThreadPool pool(2);
  {
    const Space space = Space::sequence(4, 3);
    auto m = random_model(space, small_config(2, 1));
    const auto lp = m->log_prob(enumerate_sequences(space), pool);
    double s = 0;
    for (double v : lp) s += std::exp(v);
    EXPECT_NEAR(s, 1.0, 1e-9);
  }
  {
    const Space space = Space::tensor({3, 3}, 2, 2);
    auto m = random_model(space, small_config(4, 3));
    for (int32_t y : {0, 1, -1}) {
      const auto lp = m->log_prob(enumerate(space, y), pool);
      double s = 0;
      for (double v : lp) s += std::exp(v);
      EXPECT_NEAR(s, 1.0, 1e-9) << "label " << y;
    }
  }
}

TEST(Transformer, PositionLogProbsAreTheWindowedConditionals) {
  ThreadPool pool(2);
  for (const Space& space : {Space::tensor({11}, 3, 2), Space::sequence(11, 3)}) {
    auto m = random_model(space, small_config(5, 2));
    Dataset data = space.variable_length() ? make_sequences(space, 9, 4) : make_data(space, 9, 4);
    if (space.has_labels()) data.set_label(0, -1);  // one marginal row
    const size_t stride = size_t(space.dims() + (space.variable_length() ? 1 : 0));
    std::vector<double> pos(data.size() * stride);
    m->position_log_probs(data, pos.data(), pool);
    const auto lp = m->log_prob(data, pool);
    for (size_t i = 0; i < data.size(); ++i) {
      double s = 0;
      for (size_t t = 0; t < stride; ++t) s += pos[i * stride + t];
      EXPECT_NEAR(s, lp[i], 1e-9) << space.describe() << " row " << i;
      if (data.label(i) < 0 && space.has_labels()) continue;
      // Each conditional is the one of its own window a(t)..t, run alone.
      const int64_t S = space.variable_length() && data.length(i) < space.dims() ? data.length(i) + 1 : data.length(i);
      std::vector<int32_t> in(static_cast<size_t>(S)), tgt(static_cast<size_t>(S));
      in[0] = space.has_labels() ? int32_t(space.levels() + 1 + data.label(i)) : int32_t(space.levels());
      for (int64_t t = 0; t < S; ++t) {
        tgt[size_t(t)] = t < data.length(i) ? data.at(i, t) : int32_t(space.levels());
        if (t + 1 < S) in[size_t(t + 1)] = tgt[size_t(t)];
      }
      for (int64_t t = 0; t < S; ++t) {
        const int64_t a = m->window_start(t);
        double one = 0;
        m->net().window(m->param_store().data(), in.data() + a, tgt.data() + a, t - a + 1, t - a, 1.0f, nullptr, &one,
                        nullptr);
        EXPECT_EQ(one, pos[i * stride + size_t(t)]) << "row " << i << " position " << t;
      }
    }
  }
}

TEST(Transformer, CompletionRejectsKnownValuesAfterUnknownOnes) {
  const Space space = Space::tensor({4}, 2);
  auto m = random_model(space, small_config(4, 2));
  Dataset partial(space);
  partial.push_back({1, 0, 1, 0});
  Rng rng(1);
  EXPECT_THROW(m->complete(partial, {1, 0, 1, 0}, rng), DataError);
  const Dataset ok = m->complete(partial, {1, 1, 0, 0}, rng);
  EXPECT_EQ(ok.at(0, 0), 1);
  EXPECT_EQ(ok.at(0, 1), 0);
}

TEST(Transformer, LearnsASequenceDistribution) {
  // Sequences "0 1 2 ... k-1" of random length: after training, nearly all
  // samples have that form.
  const Space space = Space::sequence(8, 8);
  Dataset train(space);
  Rng rng(5);
  for (int i = 0; i < 400; ++i) {
    std::vector<int32_t> x(size_t(1 + rng.below(8)));
    for (size_t t = 0; t < x.size(); ++t) x[t] = int32_t(t);
    train.push_back(x);
  }
  json cfg = {{"type", "transformer"}, {"layers", 1}, {"heads", 2}, {"width", 16}, {"context", 8}};
  json tcfg = {{"epochs", 30}, {"batch_size", 20}, {"learning_rate", 0.01}, {"optimizer", "adamw"}, {"weight_decay", 0.01}};
  auto m = create_model(space, cfg, tcfg);
  ThreadPool pool(2);
  Rng frng(1);
  m->fit(train, nullptr, {&pool, &frng, nullptr, nullptr});
  Rng srng(2);
  const Dataset s = m->sample(200, srng);
  int good = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = s.length(i) > 0;
    for (int64_t t = 0; t < s.length(i); ++t) ok &= s.at(i, t) == t;
    good += ok;
  }
  EXPECT_GT(good, 180);
  // The end marker is learned: the average NLL is near log 8 (the length).
  const auto lp = m->log_prob(train, pool);
  double nll = 0;
  for (double v : lp) nll -= v / double(lp.size());
  EXPECT_LT(nll, std::log(8.0) + 0.15);
}

}  // namespace
}  // namespace dgm
