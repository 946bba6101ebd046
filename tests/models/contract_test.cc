// contract_test.cc — the contract every registered model kind meets, run over
// model_kinds() with each kind's test_config: probabilities sum to 1 on
// enumerable spaces, sample frequencies match exp(log_prob) (chi-square),
// save -> load gives bit-identical scores, a seed gives an identical fit at any
// thread count, and sampling is deterministic under a seed. A kind that does
// not support a test space (create_model or fit throws ConfigError/DataError)
// is skipped for it, with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "dgm/error.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "models/test_util.h"

namespace dgm {
namespace {

using testing_util::cell_of;
using testing_util::chi_square;
using testing_util::enumerate;
using testing_util::make_data;

const ModelKind& kind_named(const std::string& name) {
  for (const auto& k : model_kinds())
    if (name == k.name) return k;
  throw std::runtime_error("no model kind " + name);
}

std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  for (const auto& k : model_kinds()) names.push_back(k.name);
  return names;
}

Space binary3x3() { return Space::tensor({3, 3}, 2); }
Space ternary4() { return Space::tensor({4}, 3); }
Space labeled2x2() { return Space::tensor({2, 2}, 2, 3); }

class Contract : public ::testing::TestWithParam<std::string> {
 protected:
  // A fitted model of this kind on `space`, or null with *why set when the
  // kind does not support the space.
  std::unique_ptr<Model> fitted(const Space& space, std::string* why, int threads = 2, uint64_t seed = 7,
                                size_t n = 300) {
    const ModelKind& k = kind_named(GetParam());
    const json cfg = json::parse(k.test_config);
    try {
      auto m = create_model(space, cfg.value("model", json::object()), cfg.value("train", json::object()));
      const Dataset train = make_data(space, n, 1);
      const Dataset valid = make_data(space, n / 4, 2);
      ThreadPool pool(threads);
      Rng rng(seed);
      m->fit(train, &valid, {&pool, &rng, nullptr, nullptr});
      return m;
    } catch (const ConfigError& e) {
      *why = std::string(k.name) + " does not support " + space.describe() + ": " + e.what();
    } catch (const DataError& e) {
      *why = std::string(k.name) + " does not support " + space.describe() + ": " + e.what();
    }
    return nullptr;
  }

  static double sum_exp(const std::vector<double>& lp) {
    double s = 0;
    for (double v : lp) s += std::exp(v);
    return s;
  }

  // Chi-square test of n samples (with `label`, or the model's own labels when -1)
  // against exp(log_prob) over the enumerated space.
  void check_frequencies(const Model& m, int32_t label) {
    ThreadPool pool(1);
    Rng rng(99);
    const size_t n = 20000;
    SampleOptions opts;
    opts.label = label;
    const Dataset s = m.sample(n, rng, opts);
    ASSERT_EQ(s.size(), n);
    const Dataset all = enumerate(m.space(), label);
    std::vector<double> prob(all.size()), observed(all.size(), 0.0);
    const std::vector<double> lp = m.log_prob(all, pool);
    for (size_t i = 0; i < all.size(); ++i) prob[i] = std::exp(lp[i]);
    for (size_t i = 0; i < n; ++i) {
      if (label >= 0) {
        ASSERT_EQ(s.label(i), label);
      }
      observed[size_t(cell_of(s, i))] += 1;
    }
    const auto r = chi_square(observed, prob, double(n));
    EXPECT_LT(r.statistic, r.critical) << m.space().describe() << " label " << label << ": chi2 " << r.statistic
                                       << " with " << r.dof << " dof";
  }
};

TEST_P(Contract, ProbabilitiesSumToOne) {
  ThreadPool pool(2);
  for (const Space& space : {binary3x3(), ternary4()}) {
    std::string why;
    auto m = fitted(space, &why);
    if (!m) GTEST_SKIP() << why;
    EXPECT_NEAR(sum_exp(m->log_prob(enumerate(space), pool)), 1.0, 1e-9) << space.describe();
  }
  const Space space = labeled2x2();
  std::string why;
  auto m = fitted(space, &why);
  if (!m) GTEST_SKIP() << why;
  for (int32_t y = 0; y < 3; ++y)
    EXPECT_NEAR(sum_exp(m->log_prob(enumerate(space, y), pool)), 1.0, 1e-9) << "P(x | y = " << y << ")";
  EXPECT_NEAR(sum_exp(m->log_prob(enumerate(space, -1), pool)), 1.0, 1e-9) << "marginal P(x)";
}

TEST_P(Contract, SampleFrequenciesMatchLogProb) {
  for (const Space& space : {Space::tensor({3}, 2), Space::tensor({2}, 3)}) {
    std::string why;
    auto m = fitted(space, &why);
    if (!m) GTEST_SKIP() << why;
    check_frequencies(*m, -1);
  }
  std::string why;
  auto m = fitted(labeled2x2(), &why);
  if (!m) GTEST_SKIP() << why;
  check_frequencies(*m, 1);
}

TEST_P(Contract, SaveLoadGivesBitIdenticalScores) {
  ThreadPool pool(2);
  for (const Space& space : {binary3x3(), labeled2x2()}) {
    std::string why;
    auto m = fitted(space, &why);
    if (!m) GTEST_SKIP() << why;
    ModelWriter w;
    m->save(w);
    const ModelReader r = ModelReader::parse(w.serialize(), "contract.dgm");
    const json cfg = json::parse(kind_named(GetParam()).test_config);
    auto loaded = create_model(space, cfg.value("model", json::object()), cfg.value("train", json::object()));
    loaded->load(r);
    Dataset all = enumerate(space);
    if (space.has_labels()) all.append(enumerate(space, 2));
    const auto a = m->log_prob(all, pool), b = loaded->log_prob(all, pool);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0) << space.describe();
  }
}

TEST_P(Contract, SeedGivesIdenticalFitAtAnyThreadCount) {
  for (const Space& space : {binary3x3(), ternary4(), labeled2x2()}) {
    std::string why;
    auto bytes = [&](int threads, uint64_t seed) -> std::string {
      auto m = fitted(space, &why, threads, seed, 9000);  // > one 8192-sample wave of the mixture
      if (!m) return "";
      ModelWriter w;
      m->save(w);
      return w.serialize();
    };
    const std::string one = bytes(1, 7);
    if (one.empty()) GTEST_SKIP() << why;
    EXPECT_EQ(one, bytes(1, 7)) << space.describe() << ": same seed, different fit";
    EXPECT_EQ(one, bytes(3, 7)) << space.describe() << ": 1 and 3 threads differ";
  }
}

TEST_P(Contract, SamplingIsDeterministicUnderASeed) {
  for (const Space& space : {binary3x3(), labeled2x2()}) {
    std::string why;
    auto m = fitted(space, &why);
    if (!m) GTEST_SKIP() << why;
    Rng a(5), b(5);
    const Dataset x = m->sample(200, a), y = m->sample(200, b);
    EXPECT_EQ(x.raw(), y.raw());
    EXPECT_EQ(x.labels(), y.labels());
  }
}

// Sampling and completion spread over SampleOptions::pool draw the same bytes
// with 1 and 3 threads (fixed chunks, one RNG stream a chunk). Completion
// keeps the first position of every sample and is skipped for a kind that
// cannot complete that mask.
TEST_P(Contract, SamplingAndCompletionDoNotDependOnThreads) {
  for (const Space& space : {binary3x3(), labeled2x2()}) {
    std::string why;
    auto m = fitted(space, &why);
    if (!m) GTEST_SKIP() << why;
    ThreadPool one(1), three(3);
    SampleOptions o1, o3;
    o1.pool = &one;
    o3.pool = &three;
    Rng a(5), b(5);
    const size_t n = 700;  // several chunks of every model
    const Dataset x = m->sample(n, a, o1), y = m->sample(n, b, o3);
    EXPECT_EQ(x.raw(), y.raw()) << space.describe();
    EXPECT_EQ(x.labels(), y.labels()) << space.describe();
    std::vector<uint8_t> known(n * size_t(space.dims()), 0);
    for (size_t i = 0; i < n; ++i) known[i * size_t(space.dims())] = 1;
    try {
      Rng c(6), d(6);
      const Dataset u = m->complete(x, known, c, o1), v = m->complete(x, known, d, o3);
      EXPECT_EQ(u.raw(), v.raw()) << space.describe();
      EXPECT_EQ(u.labels(), v.labels()) << space.describe();
    } catch (const DataError& e) {
      std::cerr << GetParam() << " does not complete a first-position mask: " << e.what() << "\n";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, Contract, ::testing::ValuesIn(kind_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace dgm
