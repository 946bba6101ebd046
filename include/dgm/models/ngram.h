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
// The text interface (vocabulary, tokenizer, perplexity, ARPA) is the small
// opt-in class TextModel below; the CLI reaches it by dynamic_cast.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "dgm/io/text.h"
#include "dgm/model.h"

namespace dgm {

// Scores of one line of text. tokens counts the words and the </s> (when the
// space has one); chars counts code points plus one for the newline.
struct LineScore {
  double log_prob = 0;      // nats, every token and </s> included
  double oov_log_prob = 0;  // nats, the part of log_prob from OOV tokens
  int64_t tokens = 0;
  int64_t oov = 0;
  int64_t chars = 0;
};

// Corpus totals with the KenLM definitions: perplexity = exp(-log_prob /
// tokens); excluding OOVs, both the OOV tokens and their log-probabilities are
// left out (the words after an OOV are still scored, with the OOV in context).
struct TextScore {
  std::vector<LineScore> lines;
  int64_t num_lines = 0, tokens = 0, oov = 0, chars = 0;
  double log_prob = 0, oov_log_prob = 0;

  void add(const LineScore& s);
  double perplexity() const;
  double perplexity_excluding_oov() const;
  double bits_per_token() const;
  double bits_per_char() const;
  json to_json() const;  // the totals (not the lines)
};

// The text side of a sequence model: encode, decode, score and sample lines,
// and write ARPA. Obtained with dynamic_cast<const TextModel*>(model.get()).
class TextModel {
 public:
  virtual ~TextModel() = default;
  // Attaches the tokenizer and vocabulary (before fit); the vocabulary size
  // must be the space's levels. Saved with the model.
  virtual void set_codec(const TextCodec& codec) = 0;
  virtual bool has_codec() const = 0;
  virtual const TextCodec& codec() const = 0;

  // Line -> token ids (OOVs as <unk>, counted in *oov) and back.
  std::vector<int32_t> encode(const std::string& line, int64_t* oov = nullptr) const {
    return codec().encode(line, oov);
  }
  std::string decode(const std::vector<int32_t>& ids) const { return codec().decode(ids); }

  // Scores lines of raw text (tokenized with the model's codec). A line longer
  // than the space's maximum length is a DataError naming the line (1-based).
  virtual TextScore score_lines(const std::vector<std::string>& lines, ThreadPool& pool,
                                bool keep_lines = true) const = 0;
  // n lines sampled at the given temperature, each continuing `prompt`
  // (tokenized; may be empty) and returned with the prompt in front.
  virtual std::vector<std::string> sample_text(size_t n, Rng& rng, const std::string& prompt = "",
                                               double temperature = 1.0) const = 0;
  // Writes the model as an ARPA file (log10 probabilities and backoffs).
  virtual void write_arpa(const std::string& path) const = 0;
};

// The model kind "ngram". Config ("model" section):
//   "order": N in 1..kMaxOrder (default 3);
//   "discount_fallback": [D1, D2, D3+] used for an order whose discounts
//     cannot be estimated (default [0.5, 1.0, 1.5], KenLM's --discount_fallback).
class NgramModel : public Model, public TextModel {
 public:
  static constexpr int kMaxOrder = 16;

  NgramModel(const Space& space, int order, const std::vector<double>& fallback);
  static std::unique_ptr<Model> create(const Space& space, ConfigSection& model, ConfigSection& train);

  // Reads an ARPA file (from lmplz, SRILM or write_arpa) into a model that
  // scores and samples exactly as the file says: p(w|h) = p*(h w) when the
  // n-gram is listed, else b(h) p(w|h'). The vocabulary is the file's
  // unigrams; words are tokenized by `tokenizer` (default: word, split on
  // whitespace, no lowercasing). Sequences up to max_length tokens. A file
  // without <unk> gets one with log10 p = -100, as KenLM does. FormatError
  // names the file and line.
  static std::unique_ptr<NgramModel> read_arpa(const std::string& path, int64_t max_length = 1024,
                                               const TokenizerOptions* tokenizer = nullptr);

  // Model
  std::string kind() const override { return "ngram"; }
  void fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) override;
  void log_prob(const DataView& x, double* out, ThreadPool& pool) const override;
  using Model::log_prob;
  Dataset sample(size_t n, Rng& rng, const SampleOptions& opts = {}) const override;
  void save(ModelWriter& w) const override;
  void load(const ModelReader& r) override;
  json describe() const override;

  // TextModel
  void set_codec(const TextCodec& codec) override;
  bool has_codec() const override { return has_codec_; }
  const TextCodec& codec() const override;
  TextScore score_lines(const std::vector<std::string>& lines, ThreadPool& pool,
                        bool keep_lines = true) const override;
  std::vector<std::string> sample_text(size_t n, Rng& rng, const std::string& prompt = "",
                                       double temperature = 1.0) const override;
  void write_arpa(const std::string& path) const override;

  // Lower-level access, for tests and tools.
  int order() const { return order_; }
  // log p(w | context) in nats; context holds token ids (the last N-1 count),
  // w in 0..V (V = </s>, only on variable-length spaces). bos: the context
  // starts at the beginning of the sequence (<s> in front).
  double log_prob_next(const std::vector<int32_t>& context, int32_t w, bool bos = true) const;
  // Log probability of a sequence plus its </s> (none on fixed-length spaces).
  double log_prob_sequence(const int32_t* x, int64_t length) const;
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
  void check_fitted(const char* what) const;
  // The children of every context (for whole distributions), built on first use.
  void build_children() const;
  State next_state(const State& st, int32_t x) const;
  // Fills dist[0..num_predicted) with p(. | state) (probabilities, sum 1).
  void next_distribution(const State& st, std::vector<double>& dist) const;
  void sample_into(const std::vector<int32_t>& prompt, int64_t max_len, Rng& rng, double temperature,
                   std::vector<int32_t>& out) const;

  int order_;
  std::array<double, 3> fallback_;
  bool fitted_ = false;
  std::string source_ = "trained";  // or "arpa"
  std::vector<std::array<double, 3>> discounts_;  // (N)
  std::vector<bool> fallback_used_;               // (N)
  std::vector<double> uni_log_prob_;              // (V + 2) nats; <s> gets -inf
  std::vector<double> uni_log_backoff_;           // (V + 2) nats; 0 when not a context
  std::vector<std::shared_ptr<Table>> tables_;    // (N - 1): tables_[k] holds the (k+2)-grams
  bool has_codec_ = false;
  TextCodec codec_;
  // Sampling support, built once on first use (call_once: scoring stays const
  // and thread-safe): for each table k, the children slots of every context
  // slot of the order below, as offsets (lower slots + 1) and slots.
  mutable std::once_flag children_once_;
  mutable std::vector<std::vector<uint32_t>> child_begin_, child_slots_;
  mutable std::vector<double> uni_prob_;  // (num_predicted) exp(uni_log_prob_)
};

}  // namespace dgm
