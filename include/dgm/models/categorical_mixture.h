// categorical_mixture.h — parameters and exact scoring, sampling, completion
// and storage shared by the independent model (K = 1) and the mixture of
// independent categoricals (K >= 1), both class-conditional when the space has labels:
//   P(x | y) = sum_k pi_{y,k} prod_d theta_{y,k,d}(x_d),   P(x) = sum_y P(y) P(x | y).
// Symbols: G label groups (the space's labels, or 1 without labels), K components,
// D positions, L levels. Parameters are natural logs; the tables are stored
// (in memory and in the file) in double or, for a float32 mixture, in float.
// A table of rounded floats is still an exact distribution: each categorical
// is P(v) = exp(t_v) / sum_u exp(t_u), its log normaliser formed in double
// from the stored values (log_norm_), so probabilities sum to 1 to double
// precision whatever the storage.
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

  // Largest table accepted (ConfigError past it, before allocating): 2 GiB of
  // table in its storage precision (2^28 entries in double, 2^29 in float).
  static constexpr int64_t kMaxTableBytes = int64_t(1) << 31;
  bool single_precision() const { return single_; }

 protected:
  // Throws DataError for variable-length spaces and ConfigError when the
  // tables would exceed kMaxTableBytes. Starts from uniform parameters.
  // single: the tables are stored in float.
  CategoricalMixtureBase(const Space& space, int64_t components, const char* kind_name, bool single = false);

  // Throws DataError unless `data` is in this model's space and, with labels,
  // every sample carries one. `what` names the dataset ("training data").
  // With comm, `data` is this rank's shard and the check is collective.
  void check_training_data(const Dataset& data, const char* what, Communicator* comm = nullptr) const;
  // log P(x | group g) for one row (values as bytes or int32); acc has room for K.
  template <typename V>
  double log_prob_group(int64_t g, const V* x, double* acc) const;
  // log_prob for unlabeled binary spaces with K >= 8, by GEMM.
  void log_prob_binary(const DataView& x, double* out, ThreadPool& pool) const;

  size_t table_index(int64_t g, int64_t d, int64_t v) const {
    return ((size_t(g) * size_t(D_) + size_t(d)) * size_t(L_) + size_t(v)) * size_t(K_);
  }
  // log theta_{g,k,d}(v) as stored (before normalisation).
  double table_at(size_t index) const { return single_ ? double(log_table32_[index]) : log_table_[index]; }
  // Stores group g's table (D, L, K) in the storage precision and forms its normalisers.
  void set_group_table(int64_t g, const double* table);
  // After log_table_ (double storage) was written directly: the normalisers.
  void tables_changed();
  // Sum of every stored table value (the MAP prior term).
  double table_sum() const;

  int64_t G_, K_, D_, L_;
  bool single_ = false;
  std::vector<double> label_log_prior_;  // (G)
  std::vector<double> log_weight_;       // (G, K)
  std::vector<double> log_table_;        // (G, D, L, K) in double storage: log theta_{g,k,d}(v) at table_index(g, d, v) + k
  std::vector<float> log_table32_;       // the same in float storage
  std::vector<double> log_norm_;         // (G, D, K) log sum_v exp(table): 0 up to rounding of the stored values
  std::vector<double> comp_norm_;        // (G, K) sum_d log_norm_

 private:
  void form_norms(int64_t g);
  // Draws position d of a sample from component k of group g at a temperature.
  int32_t draw_position(int64_t g, int64_t k, int64_t d, double temperature, Rng& rng, std::vector<double>& lw,
                        std::vector<double>& buf) const;
};

}  // namespace dgm
