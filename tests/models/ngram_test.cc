// ngram_test.cc — the n-gram model: a Kneser-Ney known answer computed by
// hand, normalisation at seen and unseen contexts and over whole spaces,
// save/load, sampling frequencies, ARPA semantics and round trip, discount
// fallback, config limits, and (when data/kjv exists) the KenLM reference
// perplexities.
#include "dgm/models/ngram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "dgm/comm.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/metrics.h"
#include "dgm/model_file.h"
#include "thread_comm.h"

namespace dgm {
namespace {

struct Recorder : TrainMonitor {
  std::vector<std::string> messages;
  void on_step(const TrainProgress&) override {}
  void message(const std::string& text) override { messages.push_back(text); }
};

std::unique_ptr<NgramModel> make(const Space& space, const json& model_cfg) {
  auto m = create_model(space, model_cfg, json::object());
  return std::unique_ptr<NgramModel>(dynamic_cast<NgramModel*>(m.release()));
}

void fit(NgramModel& m, const Dataset& d, Recorder* rec = nullptr) {
  ThreadPool pool(1);
  Rng rng(1);
  FitContext ctx{&pool, &rng, rec, nullptr};
  m.fit(d, nullptr, ctx);
}

Dataset sequences(const Space& s, const std::vector<std::vector<int32_t>>& rows) {
  Dataset d(s);
  for (const auto& r : rows) d.push_back(r);
  return d;
}

std::string temp_path(const std::string& name) {
  std::filesystem::create_directories(DGM_TEST_TMP);
  return std::string(DGM_TEST_TMP) + "/" + name;
}

// Every sequence of a small space, in order.
std::vector<std::vector<int32_t>> enumerate(const Space& s) {
  std::vector<std::vector<int32_t>> out;
  const int64_t lo = s.variable_length() ? 0 : s.dims();
  for (int64_t len = lo; len <= s.dims(); ++len) {
    std::vector<int32_t> x(size_t(len), 0);
    while (true) {
      out.push_back(x);
      int64_t k = len - 1;
      while (k >= 0 && x[size_t(k)] == s.levels() - 1) x[size_t(k--)] = 0;
      if (k < 0) break;
      ++x[size_t(k)];
    }
  }
  return out;
}

// Toy corpus over {a=0, b=1}; </s> = 2, <s> = 3; |V| = 3 (a, b, </s>).
//   <s> a a b </s>   <s> a b </s>   <s> b </s>
// Bigram counts (highest order: raw): <s>a 2, aa 1, ab 2, b</s> 3, <s>b 1.
//   counts of counts n1=2 n2=2 n3=1 n4=0: Y = 2/(2+2*2) = 1/3,
//   D1 = 1 - 2Y*2/2 = 1/3, D2 = 2 - 3Y*1/2 = 3/2, D3+ = 3 - 4Y*0/1 = 3.
// Unigram adjusted counts (distinct left neighbours): a {<s>,a} 2, b {a,<s>} 2,
//   </s> {b} 1: n1=1 n2=2 n3=0 -> fallback D = 0.5, 1, 1.5.
//   denominator 5; gamma = (1*2 + 0.5*1)/5 = 1/2;
//   p(a) = (2-1)/5 + (1/2)/3 = 11/30, p(b) = 11/30, p(</s>) = (1-0.5)/5 + 1/6 = 8/30.
// Context <s>: children a (2), b (1); denominator 3; gamma = (D1 + D2)/3 = 11/18.
//   p(a|<s>) = (2-3/2)/3 + 11/18*11/30 = 211/540, p(b|<s>) = (1-1/3)/3 + 121/540 = 241/540,
//   p(</s>|<s>) = 11/18*8/30 = 88/540.
// Context a: children a (1), b (2): p(a|a) = 241/540, p(b|a) = 211/540, p(</s>|a) = 88/540.
// Context b: child </s> (3): gamma = D3/3 = 1, p(</s>|b) = 0 + 8/30, p(a|b) = p(b|b) = 11/30.
TEST(Ngram, KneserNeyKnownAnswer) {
  const Space s = Space::sequence(10, 2);
  auto m = make(s, {{"type", "ngram"}, {"order", 2}});
  Recorder rec;
  fit(*m, sequences(s, {{0, 0, 1}, {0, 1}, {1}}), &rec);
  EXPECT_TRUE(m->discount_fallback_used()[0]);
  EXPECT_FALSE(m->discount_fallback_used()[1]);
  EXPECT_NEAR(m->discounts()[1][0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(m->discounts()[1][1], 1.5, 1e-12);
  EXPECT_NEAR(m->discounts()[1][2], 3.0, 1e-12);
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_NE(rec.messages[0].find("1-grams"), std::string::npos);

  const double tol = 1e-12;
  EXPECT_NEAR(m->log_prob_next({}, 0), std::log(211.0 / 540), tol);
  EXPECT_NEAR(m->log_prob_next({}, 1), std::log(241.0 / 540), tol);
  EXPECT_NEAR(m->log_prob_next({}, 2), std::log(88.0 / 540), tol);
  EXPECT_NEAR(m->log_prob_next({0}, 0), std::log(241.0 / 540), tol);
  EXPECT_NEAR(m->log_prob_next({0}, 1), std::log(211.0 / 540), tol);
  EXPECT_NEAR(m->log_prob_next({0}, 2), std::log(88.0 / 540), tol);
  EXPECT_NEAR(m->log_prob_next({1}, 2), std::log(8.0 / 30), tol);
  EXPECT_NEAR(m->log_prob_next({1}, 0), std::log(11.0 / 30), tol);
  // Without <s> in front (and no history) the unigram distribution applies.
  EXPECT_NEAR(m->log_prob_next({}, 0, false), std::log(11.0 / 30), tol);

  // Whole sequences include </s>: "a b" and "b b a".
  ThreadPool pool(1);
  const auto lp = m->log_prob(sequences(s, {{0, 1}, {1, 1, 0}}), pool);
  EXPECT_NEAR(lp[0], std::log(211.0 / 540) + std::log(211.0 / 540) + std::log(8.0 / 30), tol);
  EXPECT_NEAR(lp[1], std::log(241.0 / 540) + 2 * std::log(11.0 / 30) + std::log(88.0 / 540), tol);
}

// A text corpus with repeated structure, OOVs in the held-out part.
const char* kToyTrain =
    "the cat sat on the mat .\n"
    "the dog sat on the log .\n"
    "a cat and a dog .\n"
    "the cat ate the fish .\n"
    "a dog ate a bone .\n"
    "the mat is on the floor .\n"
    "the cat sat .\n"
    "on the mat the dog sat .\n";
const char* kToyTest =
    "the cat sat on the log .\n"
    "a bird sat on the mat .\n"
    "the dog ate the cat fish .\n";

// A text corpus through the text codec, as `dgm train` reads it.
struct TextData : TrainingData {
  const TextCodec& text() const { return *dynamic_cast<const TextCodec*>(codec.get()); }
};

TextData toy_text(const std::string& tag) {
  const std::string train = temp_path("ngram_" + tag + "_train.txt");
  const std::string test = temp_path("ngram_" + tag + "_test.txt");
  std::ofstream(train) << kToyTrain;
  std::ofstream(test) << kToyTest;
  return {load_training_data({{"train", train}, {"test", test}, {"format", "text"}, {"tokenizer", "word"}},
                             {{"shape", {32}}, {"variable_length", true}}, 1)};
}

std::unique_ptr<NgramModel> toy_model(const TextData& td, int order) {
  auto m = make(td.space, {{"type", "ngram"}, {"order", order}});
  m->set_codec(td.codec);
  fit(*m, td.train);
  return m;
}

// Lines of text scored through the model's codec, as `dgm eval` scores them.
CorpusFigures score(const Model& m, const std::vector<std::string>& lines, std::vector<double>* lp = nullptr) {
  ThreadPool pool(2);
  const auto& codec = *dynamic_cast<const TextCodec*>(m.codec());
  return corpus_figures(m, codec.encode_lines(lines, m.space()), pool, lp);
}

TEST(Ngram, NormalisesAtEveryContext) {
  const TextData td = toy_text("norm");
  for (int order : {1, 2, 3, 5}) {
    auto m = toy_model(td, order);
    const int32_t P = int32_t(td.space.levels()) + 1;  // values + </s>
    Rng rng(11);
    for (int trial = 0; trial < 200; ++trial) {
      // Seen contexts (prefixes of training lines) and random, mostly unseen, ones.
      std::vector<int32_t> ctx;
      if (trial % 2 == 0) {
        const auto row = td.train.row(size_t(trial / 2) % td.train.size());
        ctx.assign(row.begin(), row.begin() + long(rng.below(row.size() + 1)));
      } else {
        const size_t len = rng.below(6);
        for (size_t k = 0; k < len; ++k) ctx.push_back(int32_t(rng.below(uint64_t(td.space.levels()))));
      }
      for (bool bos : {true, false}) {
        double sum = 0;
        for (int32_t w = 0; w < P; ++w) sum += std::exp(m->log_prob_next(ctx, w, bos));
        EXPECT_NEAR(sum, 1.0, 1e-9) << "order " << order << " trial " << trial;
      }
    }
  }
}

TEST(Ngram, NormalisesOverWholeSpaces) {
  ThreadPool pool(2);
  // Variable length (sequences of length 0..3 end for sure at 3), fixed-length
  // tensors (no </s>), for several orders.
  const std::vector<Space> spaces = {Space::sequence(3, 2), Space::tensor({2, 2}, 2), Space::tensor({3}, 3)};
  for (const Space& s : spaces) {
    Dataset train(s);
    Rng rng(3);
    for (int i = 0; i < 40; ++i) {
      const int64_t len = s.variable_length() ? int64_t(rng.below(uint64_t(s.dims()) + 1)) : s.dims();
      std::vector<int32_t> x(static_cast<size_t>(len));
      for (auto& v : x) v = rng.uniform() < 0.7 ? 0 : int32_t(rng.below(uint64_t(s.levels())));
      train.push_back(x);
    }
    for (int order : {1, 2, 3, 4}) {
      auto m = make(s, {{"type", "ngram"}, {"order", order}});
      fit(*m, train);
      const auto all = enumerate(s);
      const auto lp = m->log_prob(sequences(s, all), pool);
      double sum = 0;
      for (double v : lp) sum += std::exp(v);
      EXPECT_NEAR(sum, 1.0, 1e-9) << s.describe() << " order " << order;
    }
  }
}

TEST(Ngram, SampleFrequenciesMatchLogProb) {
  const Space s = Space::sequence(3, 2);
  auto m = make(s, {{"type", "ngram"}, {"order", 2}});
  fit(*m, sequences(s, {{0, 1}, {1}, {0, 0, 1}, {}, {1, 0}, {0}}));
  ThreadPool pool(1);
  const auto all = enumerate(s);
  const auto lp = m->log_prob(sequences(s, all), pool);
  for (double temperature : {1.0, 0.6}) {
    Rng rng(2024);
    const size_t n = 30000;
    SampleOptions opts;
    opts.temperature = temperature;
    const Dataset d = m->sample(n, rng, opts);
    std::map<std::vector<int32_t>, double> freq;
    for (size_t i = 0; i < d.size(); ++i) freq[d.row(i)] += 1;
    if (temperature == 1.0) {
      // Chi-square with 14 degrees of freedom; 36.1 is the 0.1% point.
      double chi2 = 0;
      for (size_t k = 0; k < all.size(); ++k) {
        const double e = double(n) * std::exp(lp[k]);
        ASSERT_GT(e, 5.0);
        const double o = freq.count(all[k]) ? freq[all[k]] : 0.0;
        chi2 += (o - e) * (o - e) / e;
      }
      EXPECT_LT(chi2, 36.1);
    } else {
      // A lower temperature sharpens: the most likely sequence becomes more frequent.
      size_t best = 0;
      for (size_t k = 1; k < all.size(); ++k)
        if (lp[k] > lp[best]) best = k;
      EXPECT_GT(freq[all[best]] / double(n), std::exp(lp[best]) + 0.02);
    }
  }
}

TEST(Ngram, TemperatureOnOnePosition) {
  // One position: the samples follow p^(1/T) / Z exactly.
  const Space s = Space::tensor({1}, 3);
  auto m = make(s, {{"type", "ngram"}, {"order", 2}});
  fit(*m, sequences(s, {{0}, {0}, {0}, {0}, {1}, {1}, {2}}));
  std::vector<double> p(3);
  double z = 0;
  for (int32_t w = 0; w < 3; ++w) {
    p[size_t(w)] = std::exp(2.0 * m->log_prob_next({}, w));  // T = 0.5
    z += p[size_t(w)];
  }
  Rng rng(5);
  SampleOptions opts;
  opts.temperature = 0.5;
  const size_t n = 20000;
  const Dataset d = m->sample(n, rng, opts);
  std::vector<double> freq(3, 0);
  for (size_t i = 0; i < n; ++i) freq[size_t(d.at(i, 0))] += 1;
  double chi2 = 0;
  for (int w = 0; w < 3; ++w) {
    const double e = double(n) * p[size_t(w)] / z;
    chi2 += (freq[size_t(w)] - e) * (freq[size_t(w)] - e) / e;
  }
  EXPECT_LT(chi2, 13.8);  // 2 degrees of freedom, 0.1% point
}

TEST(Ngram, SaveLoadGivesIdenticalScores) {
  const TextData td = toy_text("save");
  auto m = toy_model(td, 4);
  const std::string path = temp_path("ngram_save.dgm");
  save_model(path, *m, {{"config", {{"model", {{"type", "ngram"}, {"order", 4}}}}}});
  auto loaded = load_model(path);
  ASSERT_EQ(loaded->kind(), "ngram");
  ThreadPool pool(2);
  const auto a = m->log_prob(td.test, pool);
  const auto b = loaded->log_prob(td.test, pool);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]);
  const auto* codec = dynamic_cast<const TextCodec*>(loaded->codec());
  ASSERT_NE(codec, nullptr);
  EXPECT_EQ(codec->vocabulary().tokens(), td.text().vocabulary().tokens());
  const std::vector<std::string> lines = {"the cat sat on the mat .", "a zebra ."};
  EXPECT_EQ(score(*loaded, lines).log_prob, score(*m, lines).log_prob);
  EXPECT_EQ(loaded->describe(), m->describe());
}

// The file's tables are used in place (mapped): the loaded model scores and
// exports exactly as the fitted one; a changed byte of a table is not read at
// open, but no result comes out of it: the first use verifies the tables.
TEST(Ngram, MappedTablesAreVerifiedBeforeFirstUse) {
  const TextData td = toy_text("mapped");
  auto m = toy_model(td, 3);
  // One folder a test (ctest runs tests in parallel).
  std::filesystem::create_directories(temp_path("MappedTablesAreVerifiedBeforeFirstUse"));
  const std::string path = temp_path("MappedTablesAreVerifiedBeforeFirstUse/ngram.dgm");
  save_model(path, *m, {{"config", {{"model", {{"type", "ngram"}, {"order", 3}}}}}});
  std::ostringstream arpa_fitted, arpa_loaded;
  m->export_to("arpa", arpa_fitted);
  load_model(path)->export_to("arpa", arpa_loaded);
  EXPECT_EQ(arpa_loaded.str(), arpa_fitted.str());

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  // A table's first data byte: 64-byte aligned, after the array's name.
  const size_t name_at = bytes.find("ngram3.table");
  ASSERT_NE(name_at, std::string::npos);
  size_t data_at = name_at + 12 + 2 + 2 * 8 + 9;
  data_at += uint8_t(bytes[data_at - 1]);
  ASSERT_EQ(data_at % 64, 0u);
  ThreadPool pool(1);
  for (size_t k : {data_at, data_at + 13, bytes.size() - 17 - 3}) {
    std::string bad = bytes;
    bad[k] = char(bad[k] ^ 0x01);
    const std::string bad_path = temp_path("MappedTablesAreVerifiedBeforeFirstUse/bad.dgm");
    std::ofstream(bad_path, std::ios::binary) << bad;
    auto loaded = load_model(bad_path);  // opened: the table is not read yet
    try {
      (void)loaded->log_prob(td.test, pool);
      ADD_FAILURE() << "byte " << k << " changed, no error";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("corrupted model file"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.dgm"), std::string::npos) << e.what();
    }
    // Every entry point checks, not only the first one called.
    Rng rng(1);
    EXPECT_THROW(loaded->sample(2, rng), FormatError);
  }
}

// The lockstep scorer (log_prob, position_log_probs) against the plain
// per-sequence walk: equal to the last bit, for rows of every length.
TEST(Ngram, LockstepScoringEqualsSequenceScoring) {
  const Space s = Space::sequence(40, 5);
  Dataset d(s);
  Rng rng(3);
  for (int i = 0; i < 300; ++i) {
    std::vector<int32_t> x(size_t(rng.below(41)));
    for (size_t k = 0; k < x.size(); ++k) x[k] = int32_t((k * 3 + rng.below(3)) % 5);
    d.push_back(x);
  }
  for (int order : {1, 2, 4}) {
    auto m = make(s, {{"type", "ngram"}, {"order", order}});
    fit(*m, d.slice(0, 200));
    ThreadPool pool(2);
    const auto lp = m->log_prob(d, pool);
    std::vector<double> pos(d.size() * 41, 7.0);
    m->position_log_probs(d, pos.data(), pool);
    for (size_t i = 0; i < d.size(); ++i) {
      const std::vector<int32_t> x = d.row(i);
      std::vector<double> terms(x.size() + 1);
      EXPECT_EQ(lp[i], m->log_prob_sequence(x.data(), int64_t(x.size()), terms.data())) << order << " row " << i;
      for (size_t t = 0; t <= x.size(); ++t) EXPECT_EQ(pos[i * 41 + t], terms[t]) << order << " row " << i;
    }
  }
}

TEST(Ngram, ScoreLinesFollowsKenlmConventions) {
  const TextData td = toy_text("score");
  auto m = toy_model(td, 3);
  std::vector<std::string> test = {"the cat sat on the log .", "a bird sat on the mat .", "the dog ate the cat fish ."};
  std::vector<double> line_lp;
  const CorpusFigures s = score(*m, test, &line_lp);
  ASSERT_EQ(line_lp.size(), 3u);
  // tokens: words + one </s> a line; "bird" is the one OOV.
  EXPECT_EQ(s.tokens, 7 + 7 + 7 + 3);
  EXPECT_EQ(s.unknown, 1);
  EXPECT_TRUE(s.has_unknown_log_prob);
  EXPECT_EQ(s.chars, int64_t(test[0].size() + test[1].size() + test[2].size() + 3));
  // The line scores are the dataset scores; the OOV part is p(<unk> | a) here.
  ThreadPool pool(1);
  const auto lp = m->log_prob(td.test, pool);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(line_lp[i], lp[i], 1e-12);
  EXPECT_NEAR(s.unknown_log_prob, m->log_prob_next({td.text().vocabulary().id("a")}, Vocabulary::kUnk), 1e-12);
  EXPECT_NEAR(s.perplexity(), std::exp(-(lp[0] + lp[1] + lp[2]) / 24), 1e-9);
  EXPECT_NEAR(s.perplexity_excluding_unknown(), std::exp(-(lp[0] + lp[1] + lp[2] - s.unknown_log_prob) / 23), 1e-9);
  EXPECT_NEAR(s.bits_per_char(), -(lp[0] + lp[1] + lp[2]) / std::log(2.0) / double(s.chars), 1e-12);
  // <unk> gets only interpolated mass: less than any training word at the same context.
  EXPECT_LT(m->log_prob_next({}, Vocabulary::kUnk), m->log_prob_next({}, td.text().vocabulary().id("fish")));
  std::vector<std::string> long_line = {""};
  for (int i = 0; i < 40; ++i) long_line[0] += "the ";
  EXPECT_THROW(score(*m, long_line), DataError);
}

TEST(Ngram, PositionLogProbsSumToTheSequence) {
  const TextData td = toy_text("positions");
  auto m = toy_model(td, 3);
  ThreadPool pool(2);
  const auto lp = m->log_prob(td.test, pool);
  const size_t stride = size_t(td.space.dims()) + 1;
  std::vector<double> pos(td.test.size() * stride, 99.0);
  m->position_log_probs(td.test, pos.data(), pool);
  for (size_t i = 0; i < td.test.size(); ++i) {
    double sum = 0;
    for (int64_t t = 0; t <= td.test.length(i); ++t) sum += pos[i * stride + size_t(t)];
    EXPECT_NEAR(sum, lp[i], 1e-12) << i;
    // Each term is the conditional of that position given the ones before.
    const auto row = td.test.row(i);
    EXPECT_NEAR(pos[i * stride + 1], m->log_prob_next({row[0]}, row[1]), 1e-12);
  }
}

TEST(Ngram, SampleTextWithPrompt) {
  const TextData td = toy_text("sample");
  auto m = toy_model(td, 3);
  const TextCodec& codec = td.text();
  const std::vector<int32_t> prompt = codec.encode_prompt("The cat");
  Dataset partial(td.space);
  for (int i = 0; i < 20; ++i) partial.push_back(prompt);
  Rng rng(9);
  const Dataset out = m->complete(partial, {}, rng);
  ASSERT_EQ(out.size(), 20u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(codec.decode(out.row(i)).rfind("the cat", 0), 0u) << codec.decode(out.row(i));
  // Determinism under a seed, whatever the pool.
  ThreadPool one(1), three(3);
  SampleOptions a, b;
  a.temperature = b.temperature = 0.7;
  a.pool = &one;
  b.pool = &three;
  Rng ra(4), rb(4);
  const Dataset x = m->sample(300, ra, a), y = m->sample(300, rb, b);
  EXPECT_EQ(x.raw(), y.raw());
}

TEST(Ngram, ArpaRoundTrip) {
  const TextData td = toy_text("arpa");
  for (int order : {1, 3, 4}) {
    auto m = toy_model(td, order);
    const std::string path = temp_path("ngram_rt" + std::to_string(order) + ".arpa");
    {
      std::ofstream f(path);
      m->export_to("arpa", f);
    }
    const TokenizerOptions opts = td.text().tokenizer().options();
    auto r = NgramModel::read_arpa(path, 32, &opts);
    EXPECT_EQ(r->order(), order);
    EXPECT_EQ(r->ngram_counts(), m->ngram_counts());
    // ARPA files load as models wherever a model file does.
    auto loaded = load_model(path);
    EXPECT_EQ(loaded->kind(), "ngram");
    const std::vector<std::string> held_out = {"the cat sat on the log .", "a bird sat on the mat .",
                                               "the dog ate the cat fish .", "", "fish fish fish"};
    std::vector<double> a, b;
    const CorpusFigures fa = score(*m, held_out, &a);
    const CorpusFigures fb = score(*r, held_out, &b);
    for (size_t i = 0; i < held_out.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::fabs(a[i]) + 1e-7);
    EXPECT_EQ(fa.unknown, fb.unknown);
  }
  auto m = toy_model(td, 2);
  std::ostringstream out;
  EXPECT_THROW(m->export_to("onnx", out), ConfigError);
}

TEST(Ngram, ArpaBackoffSemantics) {
  // log10 values chosen by hand; the model need not be normalised.
  const std::string path = temp_path("ngram_hand.arpa");
  std::ofstream(path) << "some header text\n\n\\data\\\nngram 1=4\nngram 2=2\n\n"
                         "\\1-grams:\n-1.0\t<unk>\n-0.5\ta\t-0.3\n-0.6\t</s>\n-99\t<s>\t-0.2\n\n"
                         "\\2-grams:\n-0.1\t<s> a\n-0.2\ta </s>\n\n\\end\\\n";
  auto m = NgramModel::read_arpa(path);
  const double ln10 = std::log(10.0);
  std::vector<double> lp;
  const CorpusFigures s = score(*m, {"a", "a a", "", "zzz"}, &lp);
  EXPECT_NEAR(lp[0], (-0.1 - 0.2) * ln10, 1e-12);               // listed, listed
  EXPECT_NEAR(lp[1], (-0.1 + (-0.3 - 0.5) - 0.2) * ln10, 1e-12);  // b(a) p(a)
  EXPECT_NEAR(lp[2], (-0.2 - 0.6) * ln10, 1e-12);                 // b(<s>) p(</s>)
  EXPECT_NEAR(lp[3], (-0.2 - 1.0 - 0.6) * ln10, 1e-12);           // OOV as <unk>
  EXPECT_EQ(s.unknown, 1);

  const std::string bad = temp_path("ngram_bad.arpa");
  std::ofstream(bad) << "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\t</s>\n-1\ta\n\n\\2-grams:\n-0.1\ta b\n";
  try {
    NgramModel::read_arpa(bad);
    FAIL() << "expected a FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("ngram_bad.arpa:10: word 'b' is not among the 1-grams"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(NgramModel::read_arpa(temp_path("missing.arpa")), IoError);
}

TEST(Ngram, DiscountFallbackOnTinyData) {
  const Space s = Space::sequence(5, 3);
  auto m = make(s, {{"type", "ngram"}, {"order", 3}, {"discount_fallback", {0.4, 0.9, 1.2}}});
  Recorder rec;
  fit(*m, sequences(s, {{0, 1, 2}}), &rec);
  EXPECT_EQ(rec.messages.size(), 3u);
  const json d = m->describe();
  EXPECT_EQ(d["discount_fallback_orders"], json({1, 2, 3}));
  EXPECT_EQ(d["discount_fallback"], json({0.4, 0.9, 1.2}));
  // Still a proper distribution.
  double sum = 0;
  for (int32_t w = 0; w <= 3; ++w) sum += std::exp(m->log_prob_next({0, 1}, w));
  EXPECT_NEAR(sum, 1.0, 1e-12);
}

TEST(Ngram, ConfigLimits) {
  const Space s = Space::sequence(5, 3);
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"order", 1000}}), ConfigError);
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"order", 0}}), ConfigError);
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"order", NgramModel::kMaxOrder + 1}}), ConfigError);
  EXPECT_NO_THROW(make(s, {{"type", "ngram"}, {"order", NgramModel::kMaxOrder}}));
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"discount_fallback", {0.5, 2.5, 1.0}}}), ConfigError);
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"odrer", 3}}), ConfigError);
  EXPECT_THROW(make(Space::tensor({2}, 2, 3), {{"type", "ngram"}}), ConfigError);  // labels
  auto m = make(s, {{"type", "ngram"}});
  ThreadPool pool(1);
  EXPECT_THROW(m->log_prob(sequences(s, {{0}}), pool), DataError);  // not fitted
  EXPECT_EQ(m->codec(), nullptr);                                    // no vocabulary
}

// A corpus from a sparse Markov chain: n-grams recur within and across any
// split of it, and many sequences start alike (<s>-initial counts).
Dataset markov_corpus(const Space& s, size_t rows, uint64_t seed) {
  Dataset d(s);
  Rng rng(seed);
  for (size_t i = 0; i < rows; ++i) {
    std::vector<int32_t> x(size_t(5 + rng.below(uint64_t(s.dims()) - 5)));
    int32_t w = int32_t(rng.below(4));
    for (auto& v : x) {
      w = rng.below(4) == 0 ? int32_t(rng.below(uint64_t(s.levels()))) : int32_t((w * 7 + 3) % s.levels());
      v = w;
    }
    d.push_back(x);
  }
  return d;
}

// The number of sections a budgeted build counted in (0: no spill).
int sections_counted(const Recorder& rec) {
  int sections = 0;
  for (const auto& m : rec.messages) std::sscanf(m.c_str(), "ngram: counted in %d sections", &sections);
  return sections;
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A build within a 1 MB budget spills its counts to a temporary file several
// times and merges them: the model file is the in-memory build's, byte for byte.
TEST(Ngram, BudgetedBuildSpillsAndGivesTheSameModelFile) {
  const Space s = Space::sequence(60, 200);
  const Dataset d = markov_corpus(s, 6000, 5);
  for (int order : {3, 5}) {
    auto mem = make(s, {{"type", "ngram"}, {"order", order}});
    Recorder mem_rec, small_rec;
    fit(*mem, d, &mem_rec);
    auto small = make(s, {{"type", "ngram"}, {"order", order}, {"build_memory_mb", 1}});
    fit(*small, d, &small_rec);
    EXPECT_GE(sections_counted(small_rec), 3) << "order " << order << ": the 1 MB budget should force several spills";
    EXPECT_EQ(sections_counted(mem_rec), 0);
    const std::string a = temp_path("ngram_budget_mem" + std::to_string(order) + ".dgm");
    const std::string b = temp_path("ngram_budget_small" + std::to_string(order) + ".dgm");
    save_model(a, *mem, {});
    save_model(b, *small, {});
    EXPECT_TRUE(file_bytes(a) == file_bytes(b)) << "order " << order << ": model files differ";
  }
  // A fixed-length space (no </s>) too.
  const Space t = Space::tensor({40}, 30);
  Dataset dt(t);
  Rng rng(3);
  for (int i = 0; i < 4000; ++i) {
    std::vector<int32_t> x(40);
    for (size_t k = 0; k < x.size(); ++k) x[k] = int32_t((k * 3 + rng.below(k % 2 ? 3 : 30)) % 30);
    dt.push_back(x);
  }
  auto mem = make(t, {{"type", "ngram"}, {"order", 4}});
  auto small = make(t, {{"type", "ngram"}, {"order", 4}, {"build_memory_mb", 1}});
  Recorder rec;
  fit(*mem, dt);
  fit(*small, dt, &rec);
  EXPECT_GE(sections_counted(rec), 3);
  const std::string a = temp_path("ngram_budget_tensor_mem.dgm"), b = temp_path("ngram_budget_tensor_small.dgm");
  save_model(a, *mem, {});
  save_model(b, *small, {});
  EXPECT_TRUE(file_bytes(a) == file_bytes(b)) << "fixed-length space: model files differ";
}

// MPI ranks (threads here) that each spill: their merged counts (merge_counts)
// give the one-process, in-memory model.
TEST(Ngram, BudgetedBuildOnRanksGivesTheSameModel) {
  const Space s = Space::sequence(60, 200);
  const Dataset d = markov_corpus(s, 6000, 9);
  auto bytes = [&](int P, int64_t mb) {
    std::string out;
    test::run_ranks(P, [&](Communicator& comm) {
      auto m = make(s, {{"type", "ngram"}, {"order", 4}, {"build_memory_mb", mb}});
      const Range r = shard_range(d.size(), comm.rank(), P);
      ThreadPool pool(1);
      Rng rng(1);
      Recorder rec;
      FitContext ctx{&pool, &rng, &rec, nullptr};
      if (P > 1) ctx.comm = &comm;
      m->fit(d.slice(size_t(r.begin), size_t(r.end)), nullptr, ctx);
      if (mb == 1) {
        EXPECT_GE(sections_counted(rec), 2) << "rank " << comm.rank();
      }
      if (comm.rank() == 0) {
        ModelWriter w;
        m->save(w);
        out = w.serialize();
      }
    });
    return out;
  };
  const std::string one = bytes(1, 1024);
  EXPECT_TRUE(one == bytes(2, 1)) << "2 spilling ranks differ from one in-memory process";
  EXPECT_TRUE(one == bytes(3, 1)) << "3 spilling ranks differ from one in-memory process";
}

// Sampling and prompt completion spread over the pool (fixed chunks of
// rows, one RNG stream a chunk) draw the same sequences on 1 and 3 threads.
TEST(Ngram, SamplingDoesNotDependOnThreads) {
  const Space s = Space::sequence(60, 200);
  auto m = make(s, {{"type", "ngram"}, {"order", 4}});
  fit(*m, markov_corpus(s, 2000, 4));
  ThreadPool one(1), three(3);
  SampleOptions o1, o3;
  o1.pool = &one;
  o3.pool = &three;
  Rng r1(9), r3(9);
  const Dataset a = m->sample(700, r1, o1), b = m->sample(700, r3, o3);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.row(i), b.row(i)) << "sample " << i;
  const Dataset prompts = sequences(s, std::vector<std::vector<int32_t>>(300, {3, 24}));
  const Dataset c = m->complete(prompts, {}, r1, o1), d = m->complete(prompts, {}, r3, o3);
  for (size_t i = 0; i < c.size(); ++i) ASSERT_EQ(c.row(i), d.row(i)) << "completion " << i;
}

TEST(Ngram, BuildMemoryLimits) {
  const Space s = Space::sequence(60, 50);
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"build_memory_mb", 0}}), ConfigError);
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"build_memory_mb", int64_t(1) << 25}}), ConfigError);
  EXPECT_THROW(make(s, {{"type", "ngram"}, {"build_memory_mb", "a lot"}}), ConfigError);
  // A spill folder that does not exist: an IoError naming it, no model.
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", "/nonexistent-dgm-spill-folder", 1);
  auto m = make(s, {{"type", "ngram"}, {"order", 5}, {"build_memory_mb", 1}});
  try {
    fit(*m, markov_corpus(s, 6000, 5));
    ADD_FAILURE() << "expected an IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dgm-spill-folder: cannot create a temporary file"),
              std::string::npos) << e.what();
  }
  if (old) setenv("TMPDIR", saved.c_str(), 1);
  else unsetenv("TMPDIR");
  ThreadPool pool(1);
  EXPECT_THROW(m->log_prob(sequences(s, {{0}}), pool), DataError);  // not fitted
}

TEST(Ngram, HighOrderOnLongSequences) {
  const Space s = Space::sequence(200, 4);
  Dataset d(s);
  Rng rng(1);
  for (int i = 0; i < 30; ++i) {
    std::vector<int32_t> x(size_t(50 + rng.below(100)));
    for (size_t k = 0; k < x.size(); ++k) x[k] = int32_t((k * 7 + rng.below(2)) % 4);
    d.push_back(x);
  }
  auto m = make(s, {{"type", "ngram"}, {"order", 12}});
  fit(*m, d);
  EXPECT_EQ(m->ngram_counts().size(), 12u);
  double sum = 0;
  for (int32_t w = 0; w <= 4; ++w) sum += std::exp(m->log_prob_next(d.row(0), w));
  EXPECT_NEAR(sum, 1.0, 1e-9);
}

// The reference: KenLM (lmplz + query) on the KJV split of
// scripts/prepare_kjv.sh. Skipped when the data has not been prepared.
TEST(Ngram, KjvMatchesKenlm) {
  const std::string dir = std::string(DGM_SOURCE_DIR) + "/data/kjv/";
  if (!std::filesystem::exists(dir + "train.txt") || !std::filesystem::exists(dir + "test.txt"))
    GTEST_SKIP() << "run scripts/prepare_kjv.sh first";
  const TextData td{load_training_data({{"train", dir + "train.txt"}, {"test", dir + "test.txt"}, {"format", "text"},
                                        {"tokenizer", "word"}, {"split", "whitespace"}},
                                       {{"shape", {256}}, {"variable_length", true}}, 1)};
  auto m = toy_model(td, 3);
  const CorpusFigures s = score(*m, read_text_lines(dir + "test.txt"));
  EXPECT_EQ(s.tokens, 95381);
  EXPECT_EQ(s.unknown, 419);
  EXPECT_NEAR(s.perplexity() / 45.568, 1.0, 1e-4);
  EXPECT_NEAR(s.perplexity_excluding_unknown() / 43.557, 1.0, 1e-4);
}

}  // namespace
}  // namespace dgm
