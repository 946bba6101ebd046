// metrics.h — negative log-likelihood summaries of a model on a dataset:
// nats per sample and bits per dimension (bits/dim = -log2 P(x) / D, with D
// the number of positions; for variable-length sequences D is the sequence's
// length plus one for the end marker).
#pragma once

#include <cstddef>

#include "dgm/comm.h"
#include "dgm/dataset.h"
#include "dgm/model.h"
#include "dgm/thread_pool.h"

namespace dgm {

struct NllSummary {
  size_t samples = 0;
  size_t zero_probability = 0;  // samples with log P = -inf (then the NLL is inf)
  double nats_per_sample = 0;   // mean -log P(x)
  double bits_per_dim = 0;      // sum -log2 P(x) / sum D
};

NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool);
// The summary of a dataset spread over ranks (`data` is this rank's shard,
// as load_data gives it): the same numbers, to the bit, for any number of
// ranks. Collective. Scores and sums per block (comm.h), so the one-rank
// form above equals it.
NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool, Communicator& comm);

}  // namespace dgm
