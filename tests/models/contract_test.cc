// contract_test.cc — the contract every registered model kind meets, run over
// model_kinds() with each kind's test_config: probabilities sum to 1 on
// enumerable spaces (fixed tensors, and every sequence of length 0..4 over 3
// tokens for kinds that take variable-length spaces), sample frequencies
// match exp(log_prob) (chi-square),
// save -> load gives bit-identical scores, a seed gives an identical fit at any
// thread count, and sampling is deterministic under a seed. A kind that does
// not support a test space (create_model or fit throws ConfigError/DataError)
// is skipped for it, with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "dgm/comm.h"
#include "dgm/error.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "models/test_util.h"
#include "thread_comm.h"

namespace dgm {
namespace {

using testing_util::cell_of;
using testing_util::chi_square;
using testing_util::enumerate;
using testing_util::enumerate_sequences;
using testing_util::make_data;
using testing_util::make_sequences;

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
      const Dataset train = space.variable_length() ? make_sequences(space, n, 1) : make_data(space, n, 1);
      const Dataset valid = space.variable_length() ? make_sequences(space, n / 4, 2) : make_data(space, n / 4, 2);
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

TEST_P(Contract, SequenceProbabilitiesSumToOne) {
  // Lengths 0..4 over 3 tokens: the end marker's probability included.
  ThreadPool pool(2);
  const Space space = Space::sequence(4, 3);
  std::string why;
  auto m = fitted(space, &why);
  if (!m) GTEST_SKIP() << why;
  const Dataset all = enumerate_sequences(space);
  ASSERT_EQ(all.size(), 1u + 3 + 9 + 27 + 81);
  const std::vector<double> lp = m->log_prob(all, pool);
  EXPECT_NEAR(sum_exp(lp), 1.0, 1e-9) << space.describe();
  // Sampled sequences (lengths included) follow exp(log_prob).
  std::map<std::vector<int32_t>, size_t> cell;
  for (size_t i = 0; i < all.size(); ++i) cell[all.row(i)] = i;
  Rng rng(99);
  const size_t n = 20000;
  const Dataset s = m->sample(n, rng);
  ASSERT_EQ(s.size(), n);
  std::vector<double> prob(all.size()), observed(all.size(), 0.0);
  for (size_t i = 0; i < all.size(); ++i) prob[i] = std::exp(lp[i]);
  for (size_t i = 0; i < n; ++i) observed[cell.at(s.row(i))] += 1;
  const auto r = chi_square(observed, prob, double(n));
  EXPECT_LT(r.statistic, r.critical) << space.describe() << ": chi2 " << r.statistic << " with " << r.dof << " dof";
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

// Saves every checkpoint offered (or, with stop_at > 0, sets the stop flag at
// that due() call and saves only the checkpoint the stop asks for), each with
// the model file the model gives during the save.
struct RecordingCheckpointer : Checkpointer {
  const Model* model = nullptr;
  std::atomic<bool>* stop = nullptr;
  int64_t stop_at = 0, calls = 0;
  std::vector<TrainState> states;
  std::vector<std::string> files;
  bool due(int64_t, bool) override {
    if (++calls == stop_at) stop->store(true);
    return stop_at == 0;
  }
  void save(const TrainState& s) override {
    states.push_back(s);
    ModelWriter w;
    model->save(w);
    files.push_back(w.serialize());
  }
};

// The contract of checkpoints, for every kind whose fit() has a loop to
// resume: saving checkpoints does not change the fit; a fit resumed from any
// checkpoint (through the model file's arrays) ends in the same bytes as the
// uninterrupted one; a stop saves a checkpoint from which the same holds, and
// the model saved with it is the one the stopped fit leaves.
TEST_P(Contract, ResumeFromAnyCheckpointGivesTheSameFit) {
  const ModelKind& k = kind_named(GetParam());
  const json cfg = json::parse(k.test_config);
  bool any = false;
  for (const Space& space : {binary3x3(), labeled2x2()}) {
    const Dataset train = make_data(space, 300, 1);
    const Dataset valid = make_data(space, 75, 2);
    // Fits a fresh model; returns its file bytes.
    auto fit = [&](Checkpointer* ckpt, RecordingCheckpointer* rec, const TrainState* resume,
                   std::atomic<bool>* stop) -> std::string {
      auto m = create_model(space, cfg.value("model", json::object()), cfg.value("train", json::object()));
      if (rec) rec->model = m.get();
      ThreadPool pool(2);
      Rng rng(7);
      FitContext ctx{&pool, &rng, nullptr, stop, ckpt, resume};
      m->fit(train, &valid, ctx);
      ModelWriter w;
      m->save(w);
      return w.serialize();
    };
    std::string reference;
    try {
      reference = fit(nullptr, nullptr, nullptr, nullptr);
    } catch (const ConfigError&) {
      continue;
    } catch (const DataError&) {
      continue;
    }
    RecordingCheckpointer all;
    EXPECT_EQ(fit(&all, &all, nullptr, nullptr), reference) << space.describe() << ": checkpoints changed the fit";
    if (all.states.empty()) continue;  // no loop to resume
    any = true;
    for (size_t i : {size_t(0), all.states.size() / 2, all.states.size() - 1}) {
      // Through the model file: the state as arrays and back.
      ModelWriter w;
      add_train_state(w, all.states[i]);
      const TrainState back = read_train_state(ModelReader::parse(w.serialize(), "checkpoint.dgm"));
      EXPECT_EQ(fit(nullptr, nullptr, &back, nullptr), reference)
          << space.describe() << ": resumed from checkpoint " << i + 1 << " of " << all.states.size();
    }
    // A stop halfway: one checkpoint, and the stopped model is the one saved with it.
    std::atomic<bool> stop{false};
    RecordingCheckpointer halfway;
    halfway.stop = &stop;
    halfway.stop_at = std::max<int64_t>(1, all.calls / 2);
    const std::string stopped = fit(&halfway, &halfway, nullptr, &stop);
    ASSERT_EQ(halfway.states.size(), 1u) << space.describe();
    EXPECT_EQ(halfway.files[0], stopped) << space.describe() << ": the checkpoint's model is not the stopped one";
    EXPECT_EQ(fit(nullptr, nullptr, &halfway.states[0], nullptr), reference)
        << space.describe() << ": resumed after a stop";
  }
  if (!any) GTEST_SKIP() << GetParam() << " has no training loop to resume";
}

TEST_P(Contract, SameFitOverAnyNumberOfRanks) {
  // Ranks as threads (tests/thread_comm.h), each with its shard of the
  // training and validation data and one thread: the model bytes are those
  // of one process, for P = 2 and 3 (the ranks' shards are whole blocks),
  // and a checkpoint of one number of ranks resumes on another.
  const ModelKind& k = kind_named(GetParam());
  json cfg = json::parse(k.test_config);
  // Minibatches of several gradient chunks, so that ranks share them.
  if (cfg.contains("train") && cfg["train"].contains("batch_size")) cfg["train"]["batch_size"] = 100;
  bool tested = false;
  for (const Space& space : {binary3x3(), ternary4(), labeled2x2(), Space::sequence(6, 3)}) {
    const bool seq = space.variable_length();
    const Dataset train = seq ? make_sequences(space, 3000, 1) : make_data(space, 3000, 1);
    const Dataset valid = seq ? make_sequences(space, 700, 2) : make_data(space, 700, 2);
    auto bytes = [&](int P, RecordingCheckpointer* rec = nullptr, const TrainState* resume = nullptr) -> std::string {
      std::string out;
      test::run_ranks(P, [&](Communicator& comm) {
        auto m = create_model(space, cfg.value("model", json::object()), cfg.value("train", json::object()));
        const Range t = shard_range(train.size(), comm.rank(), P), v = shard_range(valid.size(), comm.rank(), P);
        const Dataset my_train = train.slice(size_t(t.begin), size_t(t.end));
        const Dataset my_valid = valid.slice(size_t(v.begin), size_t(v.end));
        ThreadPool pool(1);
        Rng rng(7);
        const bool root = comm.rank() == 0;
        if (rec && root) rec->model = m.get();
        FitContext ctx{&pool, &rng, nullptr, nullptr, root ? rec : nullptr, resume};
        if (P > 1) ctx.comm = &comm;
        m->fit(my_train, &my_valid, ctx);
        if (comm.rank() == 0) {
          ModelWriter w;
          m->save(w);
          out = w.serialize();
        }
      });
      return out;
    };
    std::string one;
    try {
      one = bytes(1);
    } catch (const ConfigError&) {
      continue;  // the kind does not model this space
    } catch (const DataError&) {
      continue;
    }
    tested = true;
    EXPECT_EQ(one, bytes(2)) << space.describe() << ": 1 and 2 ranks differ";
    EXPECT_EQ(one, bytes(3)) << space.describe() << ": 1 and 3 ranks differ";
    // Checkpoints (rank 0's) of a 2-rank fit, resumed on 3 ranks and on one
    // (through the model file's arrays): the same bytes.
    RecordingCheckpointer all;
    EXPECT_EQ(bytes(2, &all), one) << space.describe() << ": checkpoints changed the 2-rank fit";
    if (all.states.empty()) continue;
    ModelWriter w;
    add_train_state(w, all.states[all.states.size() / 2]);
    const TrainState middle = read_train_state(ModelReader::parse(w.serialize(), "checkpoint.dgm"));
    EXPECT_EQ(bytes(3, nullptr, &middle), one) << space.describe() << ": a 2-rank checkpoint resumed on 3 ranks";
    EXPECT_EQ(bytes(1, nullptr, &middle), one) << space.describe() << ": a 2-rank checkpoint resumed on 1";
  }
  if (!tested) GTEST_SKIP() << k.name << " fits none of the test spaces";
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
