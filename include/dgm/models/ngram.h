// ngram.h — n-gram language models with interpolated modified Kneser-Ney
// smoothing (Chen & Goodman 1998, "An empirical study of smoothing techniques
// for language modeling", eqs. 17 and 26), scoring with the conventions of
// KenLM's lmplz/query, and ARPA files in both directions.
//
// Symbols: N the order, V the number of token values of the space (for text:
// the vocabulary, <unk> = 0 included), </s> = V, <s> = V + 1.
//
// A sequence w_1..w_T is scored as log P = sum_t log p(w_t | <s> w_1..w_{t-1})
// + log p(</s> | ...): <s> is context only, </s> is predicted once. On a
// fixed-length space (a tensor of D values, read in order) there is no </s>
// and every position predicts one of V values; on a variable-length space of
// maximum length T a sequence of length T ends with probability 1 (so that
// the probabilities over the space sum to exactly 1). The predicted set (V
// values, plus </s> on variable-length spaces) sums to 1 at every context.
//
// Text reaches it as it reaches every model, through the text codec stored
// beside the space (codec.h, io/text.h); ARPA files are read and written with
// src/io/arpa.h (import by the registry, export_to("arpa")).
#pragma once

#include <array>
#include <atomic>
#include <iosfwd>
#include <cstdint>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "dgm/io/text.h"
#include "dgm/model.h"

namespace dgm {

// The model kind "ngram". Config ("model" section):
//   "order": N in 1..kMaxOrder (default 3);
//   "discount_fallback": [D1, D2, D3+] used for an order whose discounts
//     cannot be estimated (default [0.5, 1.0, 1.5], KenLM's --discount_fallback);
//   "build_memory_mb": the budget of fit()'s counting tables in MB (default
//     kDefaultBuildMemoryMb, 1..2^24). When the tables pass half of it the
//     counts so far go to a nameless temporary file in $TMPDIR (default /tmp)
//     and are merged at the end; the model is the same, byte for byte. The
//     merged counts and the model itself are not bounded by it.
class NgramModel : public Model {
 public:
  static constexpr int kMaxOrder = 16;
  static constexpr int64_t kDefaultBuildMemoryMb = 1024;

  NgramModel(const Space& space, int order, const std::vector<double>& fallback,
             uint64_t build_memory = uint64_t(kDefaultBuildMemoryMb) << 20);
  static std::unique_ptr<Model> create(const Space& space, ConfigSection& model, ConfigSection& train);

  // Reads an ARPA file (from lmplz, SRILM or export_to("arpa")) into a model
  // that scores and samples exactly as the file says: p(w|h) = p*(h w) when
  // the n-gram is listed, else b(h) p(w|h'). The vocabulary is the file's
  // unigrams, kept in a text codec whose words are tokenized by `tokenizer`
  // (default: word, split on whitespace, no lowercasing). Sequences up to
  // max_length tokens. A file without <unk> gets one with log10 p = -100, as
  // KenLM does. FormatError names the file and line.
  static std::unique_ptr<NgramModel> read_arpa(const std::string& path, int64_t max_length = 1024,
                                               const TokenizerOptions* tokenizer = nullptr);
  static std::unique_ptr<NgramModel> read_arpa(std::istream& in, const std::string& name, uint64_t size,
                                               int64_t max_length = 1024, const TokenizerOptions* tokenizer = nullptr);
  // The registry's importer: whether a file's first bytes are ARPA, and read_arpa with the defaults.
  static bool recognise_arpa(const std::string& head);
  static std::unique_ptr<Model> import_arpa(std::istream& in, const std::string& name, uint64_t size);

  // Model
  std::string kind() const override { return "ngram"; }
  void fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) override;
  void log_prob(const DataView& x, double* out, ThreadPool& pool) const override;
  using Model::log_prob;
  Dataset sample(size_t n, Rng& rng, const SampleOptions& opts = {}) const override;
  // Variable-length spaces: continues each row of `partial` (a prefix); fixed
  // shapes: fills the unknown positions when they all follow the known ones.
  Dataset complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                   const SampleOptions& opts = {}) const override;
  bool has_position_log_probs() const override { return true; }
  void position_log_probs(const DataView& x, double* out, ThreadPool& pool) const override;
  std::vector<std::string> export_formats() const override { return {"arpa"}; }
  // ARPA (log10 probabilities and backoffs); words are the text codec's
  // tokens when the model has one, else the value numbers.
  void export_to(const std::string& format, std::ostream& out) const override;
  void save(ModelWriter& w) const override;
  void load(const ModelReader& r) override;
  json describe() const override;

  // Lower-level access, for tests and tools.
  int order() const { return order_; }
  // log p(w | context) in nats; context holds token ids (the last N-1 count),
  // w in 0..V (V = </s>, only on variable-length spaces). bos: the context
  // starts at the beginning of the sequence (<s> in front).
  double log_prob_next(const std::vector<int32_t>& context, int32_t w, bool bos = true) const;
  // Log probability of a sequence plus its </s> (none on fixed-length
  // spaces); with `terms`, each position's term too (length + 1 values on a
  // variable-length space: the </s> term last, 0 for a full-length sequence).
  double log_prob_sequence(const int32_t* x, int64_t length, double* terms = nullptr) const;
  // The discounts [order][D1, D2, D3+] used, and whether an order fell back.
  const std::vector<std::array<double, 3>>& discounts() const { return discounts_; }
  const std::vector<bool>& discount_fallback_used() const { return fallback_used_; }
  // Number of n-grams of each order (index 0: unigrams incl. <s>, </s>, <unk>).
  std::vector<uint64_t> ngram_counts() const;

 private:
  struct Table;  // one order's open-addressing hash table (defined in ngram.cc)
  struct State;

  int32_t eos() const { return int32_t(space_.levels()); }
  int32_t bos() const { return int32_t(space_.levels()) + 1; }
  bool has_eos() const { return space_.variable_length(); }
  // Number of predicted values: V (+1 for </s>).
  int32_t num_predicted() const { return int32_t(space_.levels()) + (has_eos() ? 1 : 0); }
  void check_fitted(const char* what) const;  // and check_tables()
  void check_tables() const;
  // The children of every context (for whole distributions), built on first use.
  void build_children() const;
  State next_state(const State& st, int32_t x) const;
  void score_rows(const DataView& x, size_t begin, size_t end, double* out, double* terms, size_t stride) const;
  // Fills dist[0..num_predicted) with p(. | state) (probabilities, sum 1).
  void next_distribution(const State& st, std::vector<double>& dist) const;
  // dist: workspace (num_predicted values), reused across calls.
  void sample_into(const std::vector<int32_t>& prompt, int64_t max_len, Rng& rng, double temperature,
                   std::vector<int32_t>& out, std::vector<double>& dist) const;

  int order_;
  std::array<double, 3> fallback_;
  uint64_t build_memory_;  // bytes (model.build_memory_mb)
  bool fitted_ = false;
  std::string source_ = "trained";  // or "arpa"
  std::vector<std::array<double, 3>> discounts_;  // (N)
  std::vector<bool> fallback_used_;               // (N)
  std::vector<double> uni_log_prob_;              // (V + 2) nats; <s> gets -inf
  std::vector<double> uni_log_backoff_;           // (V + 2) nats; 0 when not a context
  std::vector<std::shared_ptr<Table>> tables_;    // (N - 1): tables_[k] holds the (k+2)-grams
  std::string file_;                              // the model file the tables came from (messages)
  mutable std::atomic<bool> checked_{true};       // false: mapped tables not yet checked
  mutable std::mutex check_mutex_;
  // Sampling support, built once on first use (call_once: scoring stays const
  // and thread-safe): for each table k, the children of every context
  // slot of the order below, as offsets (lower slots + 1) into their words
  // and probabilities (exp of the table's log_prob), side by side.
  mutable std::once_flag children_once_;
  mutable std::vector<std::vector<uint32_t>> child_begin_, child_word_;
  mutable std::vector<std::vector<double>> child_prob_;
  mutable std::vector<double> uni_prob_;  // (num_predicted) exp(uni_log_prob_)
};

}  // namespace dgm
