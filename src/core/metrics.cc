// metrics.cc — NLL in nats per sample and bits per dimension.
#include "dgm/metrics.h"

#include <cmath>
#include <limits>
#include <vector>

namespace dgm {

NllSummary evaluate_nll(const Model& model, const DataView& data, ThreadPool& pool) {
  NllSummary s;
  s.samples = data.size();
  if (data.empty()) return s;
  std::vector<double> lp = model.log_prob(data, pool);
  double sum = 0, dims = 0;
  for (size_t i = 0; i < lp.size(); ++i) {
    if (std::isinf(lp[i]) && lp[i] < 0) ++s.zero_probability;
    sum += lp[i];
    dims += double(data.length(i)) + (data.space().variable_length() ? 1.0 : 0.0);
  }
  s.nats_per_sample = -sum / double(lp.size());
  s.bits_per_dim = dims > 0 ? -sum / dims / std::log(2.0) : std::numeric_limits<double>::quiet_NaN();
  return s;
}

}  // namespace dgm
