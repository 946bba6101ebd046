// autoregressive_test.cc — FVSBN, NADE and MADE: analytic gradients against
// central finite differences (labeled, unlabeled and K-level data, several
// masks), exact normalisation on enumerable spaces, the autoregressive masks
// (changing x_d never changes a conditional at or before d in the order),
// save/load identity, thread-count independence, sampling, completion.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "dgm/error.h"
#include "dgm/model_file.h"
#include "dgm/models/autoregressive.h"

namespace dgm {
namespace {

struct Case {
  const char* name;
  const char* model;  // JSON of the model section
};

const Case kCases[] = {
    {"fvsbn", R"({"type": "fvsbn"})"},
    {"nade", R"({"type": "nade", "hidden": 7})"},
    {"made1", R"({"type": "made", "hidden": 9})"},
    {"made2_random", R"({"type": "made", "hidden": [8, 6], "ordering": "random"})"},
    {"made_masks", R"({"type": "made", "hidden": [7, 7], "ordering": "random", "masks": 3, "ensemble": 2})"},
    {"made_value", R"({"type": "made", "hidden": [6], "input": "value"})"},
    {"nade_value", R"({"type": "nade", "hidden": 5, "input": "value"})"},
};

// Structured data: x_d depends on x_{d-1} and the label.
Dataset make_data(const Space& s, size_t n, uint64_t seed, bool some_unlabeled = false) {
  Rng rng(seed);
  Dataset d(s);
  const int64_t D = s.dims(), K = s.levels();
  for (size_t i = 0; i < n; ++i) {
    const int32_t y = s.has_labels() ? int32_t(rng.below(uint64_t(s.labels()))) : -1;
    std::vector<int32_t> x(static_cast<size_t>(D));
    for (int64_t j = 0; j < D; ++j) {
      const int32_t prev = j ? x[size_t(j - 1)] : (y > 0 ? y : 0);
      x[size_t(j)] = rng.uniform() < 0.7 ? int32_t((prev + j) % K) : int32_t(rng.below(uint64_t(K)));
    }
    d.push_back(x, some_unlabeled && i % 3 == 0 ? -1 : y);
  }
  return d;
}

std::unique_ptr<AutoregressiveModel> make(const Space& s, const char* model, const json& train = json::object()) {
  json t = train;
  if (!t.contains("epochs")) t["epochs"] = 2;
  if (!t.contains("batch_size")) t["batch_size"] = 8;
  if (!t.contains("learning_rate")) t["learning_rate"] = 0.05;
  auto m = create_model(s, json::parse(model), t);
  return std::unique_ptr<AutoregressiveModel>(dynamic_cast<AutoregressiveModel*>(m.release()));
}

void fit(AutoregressiveModel& m, const Dataset& d, int threads = 1, uint64_t seed = 1) {
  ThreadPool pool(threads);
  Rng rng(seed);
  m.fit(d, nullptr, {&pool, &rng, nullptr, nullptr});
}

// Every point of the space (labels excluded).
std::vector<std::vector<int32_t>> enumerate(const Space& s) {
  std::vector<std::vector<int32_t>> all(1);
  for (int64_t d = 0; d < s.dims(); ++d) {
    std::vector<std::vector<int32_t>> next;
    for (auto& x : all)
      for (int32_t v = 0; v < s.levels(); ++v) {
        next.push_back(x);
        next.back().push_back(v);
      }
    all.swap(next);
  }
  return all;
}

class Neural : public ::testing::TestWithParam<Case> {};

TEST_P(Neural, GradientMatchesFiniteDifferences) {
  for (const Space& s : {Space::tensor({5}, 2), Space::tensor({4}, 3, 2)}) {
    auto m = make(s, GetParam().model);
    Dataset d = make_data(s, 40, 7);
    fit(*m, d);  // non-trivial parameters
    Dataset batch = make_data(s, 6, 11, /*some_unlabeled=*/true);
    std::vector<size_t> rows{0, 1, 2, 3, 4, 5};
    for (int64_t step : {int64_t(0), int64_t(1)}) {
      m->begin_step(step);
      const size_t P = m->num_params();
      std::vector<float> g(P, 0.0f);
      const double loss = m->loss_and_grad(batch, rows.data(), rows.size(), g.data());
      ASSERT_TRUE(std::isfinite(loss));
      float* p = m->params();
      Rng pick(3);
      const float eps = 1e-3f;
      int checked = 0, kinks = 0;
      for (int it = 0; it < 150; ++it) {
        const size_t k = size_t(pick.below(P));
        const float old = p[k];
        // Weights outside a single MADE/FVSBN mask are stored as exact zeros
        // that never receive gradient; perturbing them is outside the model.
        if (old == 0.0f) {
          EXPECT_EQ(g[k], 0.0f);
          ++checked;
          continue;
        }
        std::vector<float> scratch(P);
        // begin_step() refreshes what a model derives from its parameters.
        p[k] = old + eps;
        m->begin_step(step);
        const double lp = m->loss_and_grad(batch, rows.data(), rows.size(), scratch.data());
        p[k] = old - eps;
        m->begin_step(step);
        const double lm = m->loss_and_grad(batch, rows.data(), rows.size(), scratch.data());
        p[k] = old;
        m->begin_step(step);
        const double fd = (lp - lm) / (2.0 * double(eps));
        // A ReLU kink inside [old-eps, old+eps] makes the one-sided slopes
        // disagree; such points have no derivative to compare.
        const double right = (lp - loss) / double(eps), left = (loss - lm) / double(eps);
        if (std::abs(right - left) > 0.05 * std::max(1.0, std::abs(fd)) + 0.5 * double(eps) * 50) {
          ++kinks;
          continue;
        }
        EXPECT_NEAR(g[k], fd, 3e-3 + 2e-2 * std::abs(fd)) << GetParam().name << " " << s.describe() << " param " << k
                                                           << " step " << step;
        ++checked;
      }
      EXPECT_EQ(checked + kinks, 150);
      EXPECT_LE(kinks, 8);
    }
  }
}

TEST_P(Neural, NormalisedOnEnumerableSpaces) {
  for (const Space& s : {Space::tensor({4}, 2), Space::tensor({3}, 3), Space::tensor({2, 2}, 2, 3),
                         Space::tensor({3}, 3, 2)}) {
    auto m = make(s, GetParam().model);
    fit(*m, make_data(s, 50, 5));
    const auto pts = enumerate(s);
    ThreadPool pool(2);
    std::vector<int32_t> labels{-1};
    for (int64_t y = 0; y < s.labels(); ++y) labels.push_back(int32_t(y));
    if (!s.has_labels()) labels = {-1};
    for (int32_t y : labels) {
      Dataset all(s);
      for (auto& x : pts) all.push_back(x, y);
      double total = 0;
      for (double lp : m->log_prob(all, pool)) total += std::exp(lp);
      EXPECT_NEAR(total, 1.0, 1e-5) << GetParam().name << " " << s.describe() << " label " << y;
    }
  }
}

TEST_P(Neural, MasksAreAutoregressive) {
  const Space s = Space::tensor({6}, 3, 2);
  auto m = make(s, GetParam().model);
  fit(*m, make_data(s, 60, 9));
  Rng rng(4);
  for (int v = 0; v < m->ensemble_size(); ++v) {
    const auto& o = m->ordering(v);
    std::vector<int64_t> rank(o.size());
    for (size_t t = 0; t < o.size(); ++t) rank[size_t(o[t])] = int64_t(t);
    for (int trial = 0; trial < 10; ++trial) {
      std::vector<int32_t> x(6);
      for (auto& e : x) e = int32_t(rng.below(3));
      const int32_t y = int32_t(rng.below(2));
      const auto base = m->conditional_log_probs(x, y, v);
      for (int64_t d = 0; d < 6; ++d) {
        auto x2 = x;
        x2[size_t(d)] = (x2[size_t(d)] + 1) % 3;
        const auto pert = m->conditional_log_probs(x2, y, v);
        bool later_changed = false;
        for (int64_t e = 0; e < 6; ++e) {
          if (rank[size_t(e)] < rank[size_t(d)]) {
            EXPECT_EQ(base[size_t(e)], pert[size_t(e)]) << "position " << e;
          }
          if (rank[size_t(e)] > rank[size_t(d)] && base[size_t(e)] != pert[size_t(e)]) later_changed = true;
        }
        // Some later conditional depends on x_d (the net is not degenerate).
        if (rank[size_t(d)] < 5) {
          EXPECT_TRUE(later_changed || std::string(GetParam().name).rfind("made", 0) == 0);
        }
      }
    }
  }
}

std::string serialize(const AutoregressiveModel& m, const json& model_cfg, const json& train_cfg) {
  ModelWriter w;
  w.header()["kind"] = m.kind();
  w.header()["space"] = m.space().to_json();
  w.header()["config"] = {{"model", model_cfg}, {"train", train_cfg}};
  m.save(w);
  return w.serialize();
}

TEST_P(Neural, SaveLoadIdentityAndThreadIndependence) {
  const Space s = Space::tensor({3, 3}, 2, 2);
  const json mc = json::parse(GetParam().model);
  const json tc = {{"epochs", 3}, {"batch_size", 16}, {"learning_rate", 0.02}};
  Dataset d = make_data(s, 200, 21, true);
  auto a = make(s, GetParam().model, tc);
  auto b = make(s, GetParam().model, tc);
  fit(*a, d, 1, 5);
  fit(*b, d, 3, 5);
  const std::string ba = serialize(*a, mc, tc), bb = serialize(*b, mc, tc);
  EXPECT_TRUE(ba == bb) << "model bytes differ between 1 and 3 threads";
  auto loaded = load_model(ModelReader::parse(ba, "mem"));
  ThreadPool pool(2);
  Dataset test = make_data(s, 30, 99, true);
  EXPECT_EQ(a->log_prob(test, pool), loaded->log_prob(test, pool));
  Rng r1(8), r2(8);
  Dataset s1 = a->sample(20, r1), s2 = loaded->sample(20, r2);
  EXPECT_EQ(s1.raw(), s2.raw());
  EXPECT_EQ(s1.labels(), s2.labels());
  EXPECT_EQ(serialize(dynamic_cast<AutoregressiveModel&>(*loaded), mc, tc), ba);
}

TEST_P(Neural, SamplesFollowLogProbAndLabels) {
  const Space s = Space::tensor({3}, 2, 2);
  auto m = make(s, GetParam().model);
  fit(*m, make_data(s, 80, 13));
  Rng rng(17);
  const size_t n = 20000;
  for (int32_t y : {-1, 1}) {
    SampleOptions o;
    o.label = y;
    Dataset smp = m->sample(n, rng, o);
    std::map<std::vector<int32_t>, double> freq;
    for (size_t i = 0; i < n; ++i) {
      if (y >= 0) {
        EXPECT_EQ(smp.label(i), y);
      }
      freq[smp.row(i)] += 1.0 / double(n);
    }
    Dataset all(s);
    for (auto& x : enumerate(s)) all.push_back(x, y);
    ThreadPool pool(1);
    auto lp = m->log_prob(all, pool);
    for (size_t i = 0; i < all.size(); ++i) EXPECT_NEAR(freq[all.row(i)], std::exp(lp[i]), 0.015) << GetParam().name;
  }
  // A low temperature concentrates on the mode.
  SampleOptions cold;
  cold.label = 0;
  cold.temperature = 0.05;
  Dataset c1 = m->sample(50, rng, cold);
  size_t same = 0;
  for (size_t i = 0; i < 50; ++i) same += c1.row(i) == c1.row(0);
  EXPECT_GE(same, 45u);
}

TEST_P(Neural, CompletesPrefixesOnly) {
  const Space s = Space::tensor({4}, 3);
  auto m = make(s, GetParam().model);
  fit(*m, make_data(s, 60, 3));
  const auto& o = m->ordering(0);
  Dataset partial(s);
  partial.push_back({2, 1, 0, 2});
  std::vector<uint8_t> known(4, 0);
  known[size_t(o[0])] = known[size_t(o[1])] = 1;
  Rng rng(2);
  bool all_prefix = true;
  for (int v = 1; v < m->ensemble_size(); ++v) all_prefix &= m->ordering(v)[0] + m->ordering(v)[1] == o[0] + o[1] &&
                                                           std::min(m->ordering(v)[0], m->ordering(v)[1]) == std::min(o[0], o[1]);
  if (all_prefix) {
    Dataset c = m->complete(partial, known, rng);
    EXPECT_EQ(c.at(0, o[0]), partial.at(0, o[0]));
    EXPECT_EQ(c.at(0, o[1]), partial.at(0, o[1]));
  }
  std::vector<uint8_t> bad(4, 0);
  bad[size_t(o[3])] = 1;
  try {
    m->complete(partial, bad, rng);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(s.position(o[3])), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(All, Neural, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

TEST(Neural, CompletionDistributionIsTheConditional) {
  const Space s = Space::tensor({3}, 2);
  auto m = make(s, R"({"type": "nade", "hidden": 4})");
  fit(*m, make_data(s, 50, 1));
  Dataset partial(s);
  const size_t n = 20000;
  for (size_t i = 0; i < n; ++i) partial.push_back({1, 0, 0});
  std::vector<uint8_t> known(3 * n, 0);
  for (size_t i = 0; i < n; ++i) known[3 * i] = 1;
  Rng rng(5);
  Dataset c = m->complete(partial, known, rng);
  ThreadPool pool(1);
  Dataset all(s), prefix(s);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) all.push_back({1, a, b});
  auto lp = m->log_prob(all, pool);
  double z = 0;
  for (double v : lp) z += std::exp(v);
  std::map<std::vector<int32_t>, double> freq;
  for (size_t i = 0; i < n; ++i) freq[c.row(i)] += 1.0 / double(n);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(freq[all.row(i)], std::exp(lp[i]) / z, 0.015);
}

TEST(Neural, TrainingLowersNllAndReportsEpochs) {
  const Space s = Space::tensor({8}, 2);
  Dataset train = make_data(s, 600, 1), valid = make_data(s, 100, 2);
  struct Mon : TrainMonitor {
    int steps = 0, work = 0;
    void on_step(const TrainProgress& p) override {
      ++steps;
      EXPECT_EQ(p.unit, "epoch");
      EXPECT_TRUE(std::isfinite(p.valid_nll));
    }
    void on_work(int64_t, int64_t) override { ++work; }
    void message(const std::string&) override {}
  } mon;
  for (const char* cfg : {R"({"type": "fvsbn"})", R"({"type": "nade", "hidden": 16})", R"({"type": "made", "hidden": 32})"}) {
    auto m = make(s, cfg, {{"epochs", 15}, {"batch_size", 20}, {"learning_rate", 0.02}});
    ThreadPool pool(2);
    Rng rng(1);
    mon.steps = mon.work = 0;
    m->fit(train, &valid, {&pool, &rng, &mon, nullptr});
    EXPECT_GT(mon.steps, 0);
    EXPECT_EQ(mon.work, mon.steps * 30);
    double nll = m->total_nll(valid, pool) / double(valid.size());
    EXPECT_LT(nll, 8 * std::log(2.0) - 1.0) << cfg;  // well below the uniform model
  }
}

TEST(Neural, StopFlagKeepsParametersAndReturns) {
  const Space s = Space::tensor({4}, 2);
  auto m = make(s, R"({"type": "nade", "hidden": 4})", {{"epochs", 50}});
  std::atomic<bool> stop{true};
  ThreadPool pool(1);
  Rng rng(1);
  m->fit(make_data(s, 50, 1), nullptr, {&pool, &rng, nullptr, &stop});
  EXPECT_TRUE(m->train_result().interrupted);
  EXPECT_EQ(m->train_result().epochs_run, 0);
}

TEST(Neural, RejectsBadConfigs) {
  const Space s = Space::tensor({4}, 2);
  EXPECT_THROW(make(s, R"({"type": "made", "hidden": "big"})"), ConfigError);
  EXPECT_THROW(make(s, R"({"type": "made", "hidden": 5, "masks": 2, "ensemble": 3})"), ConfigError);
  EXPECT_THROW(make(s, R"({"type": "nade", "ordering": "random"})"), ConfigError);
  EXPECT_THROW(make(Space::sequence(5, 3), R"({"type": "nade"})"), ConfigError);
}

}  // namespace
}  // namespace dgm
