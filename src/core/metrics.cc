// metrics.cc — NLL in nats per sample and bits per dimension, and corpus
// figures in a codec's units from any model's log-probabilities.
#include "dgm/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dgm/comm.h"
#include "dgm/io/read.h"

namespace dgm {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kBatch = 4096;  // rows scored at once (bounds the conditionals' memory)

json finite_or(double v, const char* inf) { return std::isfinite(v) ? json(v) : std::isnan(v) ? json(nullptr) : json(inf); }
}  // namespace

json metrics_json(const NllSummary& train, const NllSummary& validation, const NllSummary& test, const Space& space) {
  auto split = [](const NllSummary& s) {
    json j;
    j["samples"] = s.samples;
    if (s.samples == 0) return j;
    j["nll_nats"] = std::isfinite(s.nats_per_sample) ? json(s.nats_per_sample) : json("inf");
    j["bits_per_dim"] = std::isfinite(s.bits_per_dim) ? json(s.bits_per_dim) : json("inf");
    if (s.zero_probability) j["zero_probability"] = s.zero_probability;
    return j;
  };
  json m = {{"train", split(train)}, {"validation", split(validation)}, {"test", split(test)}};
  if (space.has_labels()) m["figure"] = "-log P(x | y), the label given";
  return m;
}

NllSummary summarize_nll(const DataView& data, const double* lp) {
  NllSummary s;
  s.samples = data.size();
  if (data.empty()) return s;
  double sum = 0, dims = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    if (std::isinf(lp[i]) && lp[i] < 0) ++s.zero_probability;
    sum += lp[i];
    dims += double(data.length(i)) + (data.space().variable_length() ? 1.0 : 0.0);
  }
  s.nats_per_sample = -sum / double(data.size());
  s.bits_per_dim = dims > 0 ? -sum / dims / std::log(2.0) : kNaN;
  return s;
}

NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool) {
  // Summed as a distributed run sums: `dgm eval`, Python and `dgm train` on
  // any number of ranks give the same figures to the bit.
  LocalCommunicator one;
  return evaluate_nll(model, data, pool, one);
}

NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool, Communicator& comm) {
  const ShardPlace place = shard_place(comm, data.size());
  NllSummary s;
  s.samples = size_t(place.total);
  if (place.total == 0) return s;
  // Scored and summed block by block (blocks are the same for any number of
  // ranks), then the block sums added in block order.
  const uint64_t block = shard_block(place.total);
  if (place.offset % block != 0 && !data.empty())
    throw Error("evaluate_nll: the shard does not start at a block boundary");
  std::vector<double> sums, dims;
  int64_t zeros = 0;
  for (size_t b0 = 0; b0 < data.size(); b0 += size_t(block)) {
    const DataView v = data.sub(b0, std::min(data.size(), b0 + size_t(block)));
    const std::vector<double> lp = model.log_prob(v, pool);
    double sum = 0, d = 0;
    for (size_t i = 0; i < lp.size(); ++i) {
      if (std::isinf(lp[i]) && lp[i] < 0) ++zeros;
      sum += lp[i];
      d += double(v.length(i)) + (v.space().variable_length() ? 1.0 : 0.0);
    }
    sums.push_back(sum);
    dims.push_back(d);
  }
  const double sum = sum_in_order(comm, sums), total_dims = sum_in_order(comm, dims);
  s.zero_probability = size_t(comm.sum(zeros));
  s.nats_per_sample = -sum / double(place.total);
  s.bits_per_dim = total_dims > 0 ? -sum / total_dims / std::log(2.0) : kNaN;
  return s;
}

double CorpusFigures::perplexity() const { return std::exp(-log_prob / double(tokens)); }
double CorpusFigures::perplexity_excluding_unknown() const {
  if (unknown > 0 && !has_unknown_log_prob) return kNaN;
  return std::exp(-(log_prob - unknown_log_prob) / double(tokens - unknown));
}
double CorpusFigures::bits_per_token() const { return -log_prob / (double(tokens) * std::log(2.0)); }
double CorpusFigures::bits_per_char() const { return chars > 0 ? -log_prob / (double(chars) * std::log(2.0)) : kNaN; }

json CorpusFigures::to_json() const {
  json j = {{"samples", samples}, {"tokens", tokens}, {"unknown", unknown}, {"log_prob", finite_or(log_prob, "-inf")},
            {"perplexity", finite_or(perplexity(), "inf")}, {"bits_per_token", finite_or(bits_per_token(), "inf")}};
  j["perplexity_excluding_unknown"] = finite_or(perplexity_excluding_unknown(), "inf");
  if (!has_unknown_log_prob && unknown > 0) j["perplexity_excluding_unknown_note"] = "the model has no per-position conditionals";
  if (chars > 0) {
    j["chars"] = chars;
    j["bits_per_char"] = finite_or(bits_per_char(), "inf");
  }
  if (zero_probability) j["zero_probability"] = zero_probability;
  return j;
}

CorpusFigures corpus_figures(const Model& model, const Records& records, ThreadPool& pool, std::vector<double>* log_probs) {
  const Dataset& d = records.data;
  CorpusFigures f;
  f.samples = d.size();
  const bool var = d.space().variable_length();
  const size_t stride = size_t(d.dims()) + (var ? 1 : 0);
  const bool want_unknown = !records.unknown.empty() && model.has_position_log_probs();
  f.has_unknown_log_prob = want_unknown || records.unknown.empty();
  if (log_probs) log_probs->assign(d.size(), 0.0);
  std::vector<double> lp, pos;
  size_t value = 0;  // index into records.unknown
  for (size_t b = 0; b < d.size(); b += kBatch) {
    const size_t e = std::min(d.size(), b + kBatch);
    const DataView view(d, b, e);
    lp = model.log_prob(view, pool);
    if (want_unknown) {
      pos.assign((e - b) * stride, 0.0);
      model.position_log_probs(view, pos.data(), pool);
    }
    for (size_t i = 0; i < e - b; ++i) {
      const int64_t len = view.length(i);
      f.log_prob += lp[i];
      if (std::isinf(lp[i]) && lp[i] < 0) ++f.zero_probability;
      f.tokens += len + (var ? 1 : 0);
      if (!records.chars.empty()) f.chars += records.chars[b + i];
      if (!records.unknown.empty()) {
        for (int64_t t = 0; t < len; ++t, ++value) {
          if (!records.unknown[value]) continue;
          ++f.unknown;
          if (want_unknown) f.unknown_log_prob += pos[i * stride + size_t(t)];
        }
      }
      if (log_probs) (*log_probs)[b + i] = lp[i];
    }
  }
  return f;
}

}  // namespace dgm
