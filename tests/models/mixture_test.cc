// mixture_test.cc — EM for the mixture of categoricals: the MAP objective never
// decreases, restarts keep the best, early stopping keeps the best validation
// parameters, smoothing, label marginalisation, exact completion, limits and
// model-file checks.
#include "dgm/models/mixture.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "dgm/error.h"
#include "dgm/logmath.h"
#include "dgm/model_file.h"
#include "models/test_util.h"
#include "thread_comm.h"

namespace dgm {
namespace {

using testing_util::make_data;

struct Recorder : TrainMonitor {
  std::vector<TrainProgress> steps;
  void on_step(const TrainProgress& p) override { steps.push_back(p); }
  void message(const std::string&) override {}
};

std::unique_ptr<MixtureModel> fit_mixture(const Dataset& train, const Dataset* valid, json model, json trainc,
                                          Recorder* rec = nullptr, int threads = 2, uint64_t seed = 3) {
  model["type"] = "mixture";
  auto base = create_model(train.space(), model, trainc);
  std::unique_ptr<MixtureModel> m(dynamic_cast<MixtureModel*>(base.release()));
  ThreadPool pool(threads);
  Rng rng(seed);
  m->fit(train, valid, {&pool, &rng, rec, nullptr});
  return m;
}

double total_log_prob(const Model& m, const Dataset& d) {
  ThreadPool pool(1);
  double s = 0;
  for (double v : m.log_prob(d, pool)) s += v;
  return s;
}

// EM must never decrease sum log P(x) + log p(theta), on the binary (GEMM) and
// the table-lookup paths.
TEST(Mixture, EmNeverDecreasesTheMapObjective) {
  for (const Space& s : {Space::tensor({4, 4}, 2), Space::tensor({6}, 4)}) {
    const Dataset train = make_data(s, 400, 1);
    double prev = -std::numeric_limits<double>::infinity();
    for (int t = 1; t <= 25; ++t) {
      auto m = fit_mixture(train, nullptr, {{"components", 4}, {"alpha", 0.5}, {"precision", "float64"}},
                           {{"max_iterations", t}, {"tolerance", 0.0}});
      const double obj = total_log_prob(*m, train) + m->log_prior();
      EXPECT_GE(obj, prev - 1e-9 * std::fabs(prev)) << s.describe() << " iteration " << t;
      prev = obj;
    }
  }
}

TEST(Mixture, ReportedTrainNllNeverIncreasesWithTinyAlpha) {
  const Space s = Space::tensor({4, 4}, 2);
  const Dataset train = make_data(s, 500, 1);
  Recorder rec;
  fit_mixture(train, nullptr, {{"components", 5}, {"alpha", 1e-9}, {"precision", "float64"}},
              {{"max_iterations", 40}, {"tolerance", 0.0}}, &rec);
  ASSERT_EQ(rec.steps.size(), 40u);
  for (size_t i = 1; i < rec.steps.size(); ++i) {
    EXPECT_EQ(rec.steps[i].unit, "iteration");
    EXPECT_EQ(rec.steps[i].step, int64_t(i + 1));
    EXPECT_LE(rec.steps[i].train_nll, rec.steps[i - 1].train_nll + 1e-9) << "iteration " << i + 1;
  }
}

TEST(Mixture, Float32AndFloat64AgreeClosely) {
  const Space s = Space::tensor({5, 5}, 2);
  const Dataset train = make_data(s, 2000, 1), test = make_data(s, 500, 9);
  auto a = fit_mixture(train, nullptr, {{"components", 6}, {"precision", "float32"}}, {{"max_iterations", 20}});
  auto b = fit_mixture(train, nullptr, {{"components", 6}, {"precision", "float64"}}, {{"max_iterations", 20}});
  EXPECT_NEAR(total_log_prob(*a, test) / 500, total_log_prob(*b, test) / 500, 1e-3);
}

TEST(Mixture, RestartsKeepTheBest) {
  const Space s = Space::tensor({3, 3}, 3);
  const Dataset train = make_data(s, 300, 1);
  const json mc = {{"components", 6}, {"alpha", 0.1}, {"precision", "float64"}};
  auto objective = [&](const MixtureModel& m) { return total_log_prob(m, train) + m.log_prior(); };
  Recorder rec;
  auto one = fit_mixture(train, nullptr, mc, {{"restarts", 1}, {"max_iterations", 30}});
  auto five = fit_mixture(train, nullptr, mc, {{"restarts", 5}, {"max_iterations", 30}}, &rec);
  // Restart 1 of five is the same run as the single restart (same seed).
  EXPECT_GE(objective(*five), objective(*one) - 1e-9);
  // The kept model is the best of the five restarts' final objectives; the
  // reported train NLL omits the prior, so compare the likelihood bound loosely.
  double best_nll = 1e300;
  for (const auto& p : rec.steps) best_nll = std::min(best_nll, p.train_nll);
  EXPECT_LE(-total_log_prob(*five, train) / 300, best_nll + 0.05);
}

TEST(Mixture, EarlyStoppingKeepsTheBestValidationParameters) {
  const Space s = Space::tensor({4, 4}, 2);
  const Dataset train = make_data(s, 60, 1), valid = make_data(s, 400, 2);
  Recorder rec;
  auto m = fit_mixture(train, &valid, {{"components", 20}, {"alpha", 1e-6}, {"precision", "float64"}},
                       {{"max_iterations", 200}, {"tolerance", 0.0}, {"patience", 3}}, &rec);
  ASSERT_FALSE(rec.steps.empty());
  EXPECT_LT(rec.steps.size(), 200u) << "20 components on 60 samples should overfit and stop early";
  double best = 1e300;
  for (const auto& p : rec.steps) best = std::min(best, p.valid_nll);
  EXPECT_NEAR(-total_log_prob(*m, valid) / 400, best, 1e-9);
  EXPECT_GT(rec.steps.back().valid_nll, best);  // stopped after patience worse steps
}

TEST(Mixture, HeavySmoothingTendsToUniform) {
  const Space s = Space::tensor({3, 3}, 3);
  auto m = fit_mixture(make_data(s, 200, 1), nullptr, {{"components", 3}, {"alpha", 1e7}}, {{"max_iterations", 5}});
  ThreadPool pool(1);
  for (double lp : m->log_prob(testing_util::enumerate(s), pool)) EXPECT_NEAR(lp, -9 * std::log(3.0), 1e-3);
}

TEST(Mixture, LabelMarginalisation) {
  const Space s = Space::tensor({2, 2}, 2, 3);
  const Dataset train = make_data(s, 300, 1);
  const double alpha = 1.0;
  auto m = fit_mixture(train, nullptr, {{"components", 2}, {"alpha", alpha}}, {{"max_iterations", 10}});
  std::vector<double> ny(3, 0);
  for (size_t i = 0; i < train.size(); ++i) ny[size_t(train.label(i))] += 1;
  ThreadPool pool(1);
  const Dataset x = testing_util::enumerate(s);
  const auto marginal = m->log_prob(x, pool);
  std::vector<std::vector<double>> cond;
  for (int32_t y = 0; y < 3; ++y) cond.push_back(m->log_prob(testing_util::enumerate(s, y), pool));
  for (size_t i = 0; i < x.size(); ++i) {
    double p = 0;
    for (int y = 0; y < 3; ++y) p += (ny[size_t(y)] + alpha) / (300 + 3 * alpha) * std::exp(cond[size_t(y)][i]);
    EXPECT_NEAR(marginal[i], std::log(p), 1e-12);
  }
}

// Completion is exact: completed unknown positions follow P(unknown | known),
// computed here by enumeration from log_prob.
TEST(Mixture, CompletionFollowsTheConditional) {
  const Space s = Space::tensor({3}, 2);
  auto m = fit_mixture(make_data(s, 300, 1), nullptr, {{"components", 3}}, {{"max_iterations", 20}});
  ThreadPool pool(1);
  const auto lp = m->log_prob(testing_util::enumerate(s), pool);  // cells x0 x1 x2 in base 2
  std::vector<double> cond(4);  // P(x1, x2 | x0 = 1)
  double z = 0;
  for (int c = 0; c < 4; ++c) z += cond[size_t(c)] = std::exp(lp[size_t(4 + c)]);
  for (auto& c : cond) c /= z;
  const size_t n = 20000;
  Dataset partial(s);
  std::vector<uint8_t> known;
  for (size_t i = 0; i < n; ++i) {
    partial.push_back({1, 0, 0});
    known.insert(known.end(), {1, 0, 0});
  }
  Rng rng(8);
  const Dataset done = m->complete(partial, known, rng);
  std::vector<double> observed(4, 0);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(done.at(i, 0), 1);
    observed[size_t(done.at(i, 1) * 2 + done.at(i, 2))] += 1;
  }
  const auto r = testing_util::chi_square(observed, cond, double(n));
  EXPECT_LT(r.statistic, r.critical);
}

TEST(Mixture, StopFlagKeepsTheInitialParameters) {
  const Space s = Space::tensor({3, 3}, 2);
  auto base = create_model(s, {{"type", "mixture"}, {"components", 2}}, json::object());
  ThreadPool pool(1);
  Rng rng(1);
  Recorder rec;
  std::atomic<bool> stop{true};
  base->fit(make_data(s, 100, 1), nullptr, {&pool, &rng, &rec, &stop});
  EXPECT_TRUE(rec.steps.empty());
  EXPECT_NEAR(std::exp(log_sum_exp(base->log_prob(testing_util::enumerate(s), pool).data(), 512)), 1.0, 1e-9);
}

TEST(Mixture, ConfigLimitsAndRestrictions) {
  const Space s = Space::tensor({3, 3}, 2);
  EXPECT_THROW(create_model(s, {{"type", "mixture"}, {"components", 1e12}}, json::object()), ConfigError);
  EXPECT_THROW(create_model(s, {{"type", "mixture"}, {"alpha", 0}}, json::object()), ConfigError);
  EXPECT_THROW(create_model(s, {{"type", "mixture"}, {"precision", "half"}}, json::object()), ConfigError);
  EXPECT_THROW(create_model(s, {{"type", "mixture"}}, {{"max_iterations", 0}}), ConfigError);
  EXPECT_THROW(create_model(s, {{"type", "mixture"}}, {{"componets", 3}}), ConfigError);
  // 100000 components of a CIFAR-sized space: refused before allocating.
  EXPECT_THROW(create_model(Space::tensor({3, 32, 32}, 256), {{"type", "mixture"}, {"components", 100000}}, json::object()),
               ConfigError);
  EXPECT_THROW(create_model(Space::sequence(10, 4), {{"type", "mixture"}}, json::object()), DataError);
}

// The tables are stored in the precision the config declares: a float32
// mixture writes a float32 table (half the bytes) that is still exactly
// normalised; a file with a float64 table loads into a float32 model; and the
// table limit counts bytes, so K = 50 on a CIFAR-shaped space with 10 labels
// (1.5 GiB in float32) is refused only for float64 (the float32 model is
// refused here by the memory limit, before allocating, not by the table limit).
TEST(Mixture, TablesInTheDeclaredPrecision) {
  const Space s = Space::tensor({2, 2}, 3, 2);
  const Dataset data = make_data(s, 200, 4);
  auto f32 = fit_mixture(data, nullptr, {{"components", 3}, {"precision", "float32"}}, {{"max_iterations", 5}});
  auto f64 = fit_mixture(data, nullptr, {{"components", 3}, {"precision", "float64"}}, {{"max_iterations", 5}});
  ModelWriter w32, w64;
  f32->save(w32);
  f64->save(w64);
  const ModelReader r32 = ModelReader::parse(w32.serialize(), "f32.dgm"), r64 = ModelReader::parse(w64.serialize(), "f64.dgm");
  std::vector<float> t32(2 * 4 * 3 * 3);
  r32.read("log_table", t32.data(), {2, 4, 3, 3});  // a float32 array
  std::vector<double> t64(t32.size());
  EXPECT_THROW(r32.read("log_table", t64.data(), {2, 4, 3, 3}), FormatError);
  ThreadPool pool(1);
  for (int32_t y : {0, 1, -1}) {
    const std::vector<double> lp = f32->log_prob(testing_util::enumerate(s, y), pool);
    EXPECT_NEAR(log_sum_exp(lp.data(), lp.size()), 0.0, 1e-13) << "label " << y;
  }
  auto loaded = create_model(s, {{"type", "mixture"}, {"components", 3}, {"precision", "float32"}}, json::object());
  EXPECT_NO_THROW(loaded->load(r64));
  const std::vector<double> a = loaded->log_prob(data, pool), b = f64->log_prob(data, pool);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::fabs(b[i]) + 1e-6);
  const Space cifar = Space::tensor({3, 32, 32}, 256, 10);
  try {
    create_model(cifar, {{"type", "mixture"}, {"components", 50}, {"precision", "float64"}}, json::object());
    ADD_FAILURE() << "K = 50 in float64 was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("table entries"), std::string::npos) << e.what();
  }
  setenv("DGM_MEMORY_LIMIT_MB", "64", 1);
  try {
    create_model(cifar, {{"type", "mixture"}, {"components", 50}, {"precision", "float32"}}, json::object());
    ADD_FAILURE() << "K = 50 in float32 under a 64 MiB limit was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("memory available"), std::string::npos) << e.what();
  }
  unsetenv("DGM_MEMORY_LIMIT_MB");
}

TEST(Mixture, ModelFileOfAnotherShapeIsAFormatError) {
  const Space s = Space::tensor({3, 3}, 2);
  auto m = fit_mixture(make_data(s, 100, 1), nullptr, {{"components", 3}}, {{"max_iterations", 3}});
  ModelWriter w;
  m->save(w);
  const ModelReader r = ModelReader::parse(w.serialize(), "m.dgm");
  auto four = create_model(s, {{"type", "mixture"}, {"components", 4}}, json::object());
  EXPECT_THROW(four->load(r), FormatError);
  auto labeled = create_model(Space::tensor({3, 3}, 2, 2), {{"type", "mixture"}, {"components", 3}}, json::object());
  EXPECT_THROW(labeled->load(r), FormatError);
  auto same = create_model(s, {{"type", "mixture"}, {"components", 3}}, json::object());
  EXPECT_NO_THROW(same->load(r));
  EXPECT_EQ(same->describe()["components"], 3);
}

}  // namespace
}  // namespace dgm

namespace dgm {
namespace {

// Unlabeled binary spaces with K >= 8 score by GEMM: still exact.
TEST(Mixture, GemmScoringIsNormalisedAndMatchesTheConditionalPath) {
  const Space s = Space::tensor({3, 3}, 2);
  auto m = fit_mixture(make_data(s, 400, 1), nullptr, {{"components", 10}}, {{"max_iterations", 10}});
  ThreadPool pool(2);
  const Dataset all = testing_util::enumerate(s);
  const auto lp = m->log_prob(all, pool);
  double z = 0;
  for (double v : lp) z += std::exp(v);
  EXPECT_NEAR(z, 1.0, 1e-9);
  // Completing nothing and sampling agree with it too: P(x) by chi-square.
  Rng rng(4);
  const Dataset smp = m->sample(20000, rng);
  std::vector<double> observed(all.size(), 0), prob(all.size());
  for (size_t i = 0; i < smp.size(); ++i) observed[size_t(testing_util::cell_of(smp, i))] += 1;
  for (size_t i = 0; i < all.size(); ++i) prob[i] = std::exp(lp[i]);
  const auto r = testing_util::chi_square(observed, prob, 20000);
  EXPECT_LT(r.statistic, r.critical);
}

// Binary data of 10 well-separated prototypes (10% of bits flipped), K = 10:
// most r_nk underflow, so most chunks (blocks of 32 samples here) take the
// sparse M-step (per-term grid values at the ones' bits) and some, where two
// components share a prototype, the dense one; the E-step sums rows over 200
// positions (three whole words and a partial one). The model bytes must not
// depend on the number of threads or of ranks, in float32 and float64, and EM
// must not decrease the MAP objective there.
TEST(Mixture, SparseResponsibilitiesGiveTheSameFitOverThreadsAndRanks) {
  const Space space = Space::tensor({200}, 2);
  Rng gen(11);
  std::vector<std::vector<uint8_t>> proto(10, std::vector<uint8_t>(200));
  for (auto& p : proto)
    for (auto& v : p) v = uint8_t(gen.below(2));
  Dataset train(space);
  std::vector<uint8_t> row(200);
  for (int i = 0; i < 1700; ++i) {
    const auto& p = proto[gen.below(10)];
    for (size_t d = 0; d < 200; ++d) row[d] = uint8_t(p[d] ^ (gen.below(10) == 0));
    train.push_back_u8(row.data());
  }
  for (const char* precision : {"float32", "float64"}) {
    const json mcfg = {{"type", "mixture"}, {"components", 10}, {"alpha", 0.5}, {"precision", precision}};
    auto fit_bytes = [&](int threads, int ranks, int iterations) {
      std::string out;
      test::run_ranks(ranks, [&](Communicator& comm) {
        auto m = create_model(space, mcfg, {{"max_iterations", iterations}, {"tolerance", 0.0}});
        const Range r = shard_range(train.size(), comm.rank(), ranks);
        ThreadPool pool(threads);
        Rng rng(5);
        FitContext ctx{&pool, &rng, nullptr, nullptr};
        if (ranks > 1) ctx.comm = &comm;
        m->fit(train.slice(size_t(r.begin), size_t(r.end)), nullptr, ctx);
        if (comm.rank() == 0) {
          ModelWriter w;
          m->save(w);
          out = w.serialize();
        }
      });
      return out;
    };
    const std::string one = fit_bytes(1, 1, 6);
    EXPECT_EQ(one, fit_bytes(3, 1, 6)) << precision << ": 1 and 3 threads differ";
    EXPECT_EQ(one, fit_bytes(1, 2, 6)) << precision << ": 1 and 2 ranks differ";
    EXPECT_EQ(one, fit_bytes(2, 3, 6)) << precision << ": 1 and 3 ranks differ";
  }
  double prev = -std::numeric_limits<double>::infinity();
  for (int t = 1; t <= 6; ++t) {
    auto m = fit_mixture(train, nullptr, {{"components", 10}, {"alpha", 0.5}, {"precision", "float64"}},
                         {{"max_iterations", t}, {"tolerance", 0.0}});
    const double obj = total_log_prob(*m, train) + m->log_prior();
    EXPECT_GE(obj, prev - 1e-9 * std::fabs(prev)) << "iteration " << t;
    prev = obj;
  }
}

}  // namespace
}  // namespace dgm
