// independent.cc — a product of per-position categoricals, class-conditional on
// labeled spaces: P(x | y) = prod_d Cat(x_d; theta_{y,d}), P(y) from label counts.
// Fitted in closed form with additive (Laplace/Lidstone) smoothing "alpha":
// theta_{y,d}(v) = (n_{y,d,v} + alpha) / (n_y + L alpha), P(y) = (n_y + alpha) / (N + G alpha).
// The default alpha = 1 is Laplace's rule (one pseudo-count per value); alpha = 0
// gives the maximum-likelihood frequencies (a group without data is then uniform).
#include "dgm/models/independent.h"

#include <algorithm>
#include <cmath>

#include "dgm/error.h"
#include "dgm/models/categorical_mixture.h"

namespace dgm {
namespace {

constexpr int64_t kPositionGrain = 64;  // positions counted per task

class IndependentModel : public CategoricalMixtureBase {
 public:
  IndependentModel(const Space& space, double alpha) : CategoricalMixtureBase(space, 1, "independent"), alpha_(alpha) {}

  std::string kind() const override { return "independent"; }

  void fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) override {
    (void)validation;  // closed form: nothing to stop early
    check_training_data(train, "training data", ctx.comm);
    size_t n = train.size();
    // counts (G, D, L): each task owns a block of positions and scans every
    // sample in order, so the counts do not depend on the thread count; over
    // ranks they are integers, summed exactly.
    std::vector<double> counts(size_t(G_ * D_ * L_), 0.0);
    std::vector<double> group_n(size_t(G_), 0.0);
    for (size_t i = 0; i < n; ++i) group_n[size_t(std::max(0, train.label(i)))] += 1;
    const bool bytes = train.width() == 1;
    ctx.pool->run(num_chunks(size_t(D_), size_t(kPositionGrain)), [&](size_t c) {
      const int64_t d0 = int64_t(c) * kPositionGrain, d1 = std::min(D_, d0 + kPositionGrain);
      for (size_t i = 0; i < n; ++i) {
        const size_t g = size_t(std::max(0, train.label(i)));
        double* cg = &counts[g * size_t(D_ * L_)];
        if (bytes) {
          const uint8_t* r = train.row_u8(i);
          for (int64_t d = d0; d < d1; ++d) cg[size_t(d * L_ + r[d])] += 1;
        } else {
          for (int64_t d = d0; d < d1; ++d) cg[size_t(d * L_ + train.at(i, d))] += 1;
        }
      }
    });
    if (ctx.comm && ctx.comm->size() > 1) {
      std::vector<int64_t> all(counts.begin(), counts.end());
      all.insert(all.end(), group_n.begin(), group_n.end());
      all.push_back(int64_t(n));
      ctx.comm->sum(all.data(), all.size());
      for (size_t k = 0; k < counts.size(); ++k) counts[k] = double(all[k]);
      for (size_t g = 0; g < group_n.size(); ++g) group_n[g] = double(all[counts.size() + g]);
      n = size_t(all.back());
    }
    for (int64_t g = 0; g < G_; ++g) {
      const double denom_y = double(n) + double(G_) * alpha_;
      label_log_prior_[size_t(g)] = denom_y > 0 ? std::log((group_n[size_t(g)] + alpha_) / denom_y) : -std::log(double(G_));
      log_weight_[size_t(g)] = 0.0;
      const double denom = group_n[size_t(g)] + double(L_) * alpha_;
      for (int64_t d = 0; d < D_; ++d)
        for (int64_t v = 0; v < L_; ++v)
          log_table_[table_index(g, d, v)] =
              denom > 0 ? std::log((counts[size_t((g * D_ + d) * L_ + v)] + alpha_) / denom) : -std::log(double(L_));
    }
    tables_changed();
    if (ctx.monitor) {
      TrainProgress p;
      p.unit = "iteration";
      p.step = p.total = 1;
      // log P(x, y) = log P(x | y) + log P(y) when labeled.
      std::vector<double> lp = log_prob(train, *ctx.pool);
      double s = 0;
      for (size_t i = 0; i < lp.size(); ++i)
        s += lp[i] + (space_.has_labels() ? label_log_prior_[size_t(train.label(i))] : 0.0);
      if (ctx.comm) s = sum_in_order(*ctx.comm, {s});
      p.train_nll = n ? -s / double(n) : 0.0;
      p.best = true;
      ctx.monitor->on_step(p);
    }
  }

  json describe() const override {
    return {{"type", "independent"}, {"alpha", alpha_}, {"labels", space_.labels()},
            {"parameters", num_parameters()}};
  }

 private:
  double alpha_;
};

}  // namespace

std::unique_ptr<Model> create_independent_model(const Space& space, ConfigSection& model, ConfigSection& train) {
  (void)train;
  const double alpha = model.get_double("alpha", 1.0, 0.0, 1e9);
  return std::make_unique<IndependentModel>(space, alpha);
}

}  // namespace dgm
