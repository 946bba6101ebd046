// metrics.cc — NLL in nats per sample and bits per dimension.
#include "dgm/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dgm {

NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool) {
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
  s.bits_per_dim = total_dims > 0 ? -sum / total_dims / std::log(2.0) : std::numeric_limits<double>::quiet_NaN();
  return s;
}

}  // namespace dgm
