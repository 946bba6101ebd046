// categorical_mixture.h — parameters and exact scoring, sampling, completion
// and storage shared by the independent model (K = 1) and the mixture of
// independent categoricals (K >= 1), both class-conditional when the space has labels:
//   P(x | y) = sum_k pi_{y,k} prod_d theta_{y,k,d}(x_d),   P(x) = sum_y P(y) P(x | y).
// Symbols: G label groups (the space's labels, or 1 without labels), K components,
// D positions, L levels. All parameters are kept as natural logs in double.
#pragma once

#include <cstdint>
#include <vector>

#include "dgm/model.h"

namespace dgm {

class CategoricalMixtureBase : public Model {
 public:
  using Model::log_prob;
  void log_prob(const DataView& x, double* out, ThreadPool& pool) const override;
  // Temperature T: each categorical p (the label prior excepted) is replaced by
  // p^(1/T) renormalised — per position, and for the component weights.
  Dataset sample(size_t n, Rng& rng, const SampleOptions& opts = {}) const override;
  // Exact: draws (label, component) from their posterior given the known
  // positions (the label is fixed when the sample or opts carries one), then
  // each unknown position from its categorical; temperature tempers both.
  Dataset complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                   const SampleOptions& opts = {}) const override;
  // log P(y): the label prior (labeled spaces only).
  std::vector<double> label_log_prior() const override;
  // Arrays: "label_log_prior" (G), "log_weight" (G, K), "log_table" (G, D, L, K).
  void save(ModelWriter& w) const override;
  void load(const ModelReader& r) override;

  int64_t groups() const { return G_; }
  int64_t components() const { return K_; }
  // Free parameters: (G - 1) + G (K - 1) + G K D (L - 1).
  int64_t num_parameters() const;

  // Largest G*K*D*L accepted (ConfigError past it, before allocating): 2 GiB
  // a copy in double; EM holds about five copies.
  static constexpr int64_t kMaxTableSize = int64_t(1) << 28;

 protected:
  // Throws DataError for variable-length spaces and ConfigError when the
  // tables would exceed kMaxTableSize. Starts from uniform parameters.
  CategoricalMixtureBase(const Space& space, int64_t components, const char* kind_name);

  // Throws DataError unless `data` is in this model's space and, with labels,
  // every sample carries one. `what` names the dataset ("training data").
  void check_training_data(const Dataset& data, const char* what) const;
  // log P(x | group g) for one row (values as bytes or int32); acc has room for K.
  template <typename V>
  double log_prob_group(int64_t g, const V* x, double* acc) const;
  // log_prob for unlabeled binary spaces with K >= 8, by GEMM.
  void log_prob_binary(const DataView& x, double* out, ThreadPool& pool) const;

  size_t table_index(int64_t g, int64_t d, int64_t v) const {
    return ((size_t(g) * size_t(D_) + size_t(d)) * size_t(L_) + size_t(v)) * size_t(K_);
  }

  int64_t G_, K_, D_, L_;
  std::vector<double> label_log_prior_;  // (G)
  std::vector<double> log_weight_;       // (G, K)
  std::vector<double> log_table_;        // (G, D, L, K): log theta_{g,k,d}(v) at table_index(g, d, v) + k
};

}  // namespace dgm
