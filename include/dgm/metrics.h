// metrics.h — negative log-likelihood summaries of a model on a dataset:
// nats per sample and bits per dimension (bits/dim = -log2 P(x) / D, with D
// the number of positions; for variable-length sequences D is the sequence's
// length plus one for the end marker), and the figures of outside data in a
// codec's units (text: perplexity with and without OOVs, bits per token and
// per character), computed from any model's log-probabilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dgm/comm.h"
#include "dgm/dataset.h"
#include "dgm/model.h"
#include "dgm/thread_pool.h"

namespace dgm {

class Records;

struct NllSummary {
  size_t samples = 0;
  size_t zero_probability = 0;  // samples with log P = -inf (then the NLL is inf)
  double nats_per_sample = 0;   // mean -log P(x)
  double bits_per_dim = 0;      // sum -log2 P(x) / sum D
};

NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool);
// The metrics a model file keeps (dgm train, Python's dgm.train): for each
// split its samples and, when it has any, nll_nats and bits_per_dim ("inf"
// when a sample has probability zero) and zero_probability when nonzero;
// on a labeled space, "figure" says that they are -log P(x | y).
json metrics_json(const NllSummary& train, const NllSummary& validation, const NllSummary& test, const Space& space);
// The summary of a dataset spread over ranks (`data` is this rank's shard,
// as load_data gives it), scored and summed per block (comm.h): the same
// numbers, to the bit, for any number of ranks (one included). Collective.
NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool, Communicator& comm);
// The same from log-probabilities already computed (lp[i] for row i of data).
NllSummary summarize_nll(const DataView& data, const double* lp);

// Corpus totals with KenLM's definitions: tokens counts every position
// scored (the values and one end marker a sequence); perplexity =
// exp(-log_prob / tokens); "excluding unknowns" leaves out both the unknown
// tokens (OOVs, stored as <unk>) and their own conditional log-probabilities,
// while the tokens after one are still scored with it in their context.
struct CorpusFigures {
  size_t samples = 0;
  int64_t tokens = 0, unknown = 0, chars = 0;  // chars: 0 when the data are not text
  double log_prob = 0;                         // nats, every token included
  double unknown_log_prob = 0;                 // nats, the unknown tokens' own terms
  bool has_unknown_log_prob = false;           // false: the model has no per-position conditionals
  size_t zero_probability = 0;

  double perplexity() const;
  double perplexity_excluding_unknown() const;  // NaN without per-position conditionals (unless no unknowns)
  double bits_per_token() const;
  double bits_per_char() const;  // NaN without characters
  json to_json() const;
};

// Scores the records (per-sample log-probabilities into *log_probs when
// non-null) and totals them. The unknown tokens' terms come from the model's
// position_log_probs() when it has them.
CorpusFigures corpus_figures(const Model& model, const Records& records, ThreadPool& pool,
                             std::vector<double>* log_probs = nullptr);

}  // namespace dgm
