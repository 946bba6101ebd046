// autoregressive.h — what the neural autoregressive models (FVSBN, NADE, MADE)
// share: P(x | y) = prod_t P(x_{o_t} | x_{o_<t}, y) over an ordering o, one
// softmax over the K levels a position, an optional label y (one-hot input) with
// a smoothed label prior, marginalisation over y for unlabeled samples,
// ensembles (mixtures) of orderings, ancestral sampling with temperature, prefix
// completion, minibatch training through train/trainer.h, and save/load.
//
// Symbols: N samples, D positions, K levels, L labels, F input features,
// H hidden units. Encoding (documented once, used by every subclass):
//   input  "onehot" (default when K <= 16): position d with value v contributes
//          feature column d*(K-1) + v-1 with value 1, nothing when v = 0 (level 0
//          is the reference, so binary data is the plain 0/1 value);
//          "value": one column d with value v / (K-1) (compact for 8-bit images).
//   output K-1 logits a position; level 0 has logit 0 (reference), so
//          P(v) = softmax(0, z_1..z_{K-1})_v — a sigmoid when K = 2.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dgm/model.h"
#include "dgm/train/params.h"
#include "dgm/train/trainer.h"

namespace dgm {

class AutoregressiveModel : public Model, public Trainable {
 public:
  std::string kind() const override { return kind_; }
  void fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) override;
  void log_prob(const DataView& x, double* out, ThreadPool& pool) const override;
  using Model::log_prob;
  Dataset sample(size_t n, Rng& rng, const SampleOptions& opts = {}) const override;
  // Fills the unknown positions when, in the model's order, every unknown
  // position comes after every known one; DataError naming the first known
  // position that follows an unknown one otherwise.
  Dataset complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                   const SampleOptions& opts = {}) const override;
  void save(ModelWriter& w) const override;
  void load(const ModelReader& r) override;
  json describe() const override;
  // log P(y), from the training labels' counts + 1 (labeled spaces only).
  std::vector<double> label_log_prior() const override;

  // Trainable.
  size_t num_params() const override { return params_.size(); }
  float* params() override { return params_.data(); }
  double loss_and_grad(const Dataset& data, const size_t* rows, size_t n, float* grad) const override;
  double total_nll(const DataView& x, ThreadPool& pool) const override;

  // log P_variant(x_d | x before d in the order, y) for every position d, in
  // position order (tests check the autoregressive masks with it).
  std::vector<double> conditional_log_probs(const std::vector<int32_t>& x, int32_t y, int variant) const;
  int ensemble_size() const { return num_variants(); }
  const std::vector<int64_t>& ordering(int variant) const { return order(variant); }

  const TrainOptions& train_options() const { return train_opt_; }
  const ParamStore& param_store() const { return params_; }
  ParamStore& param_store() { return params_; }
  const TrainResult& train_result() const { return result_; }

  // Input features of one value (false when it contributes nothing).
  bool feature(int64_t d, int32_t v, int64_t* col, float* val) const {
    if (v == 0) return false;
    if (onehot_) { *col = d * (K_ - 1) + (v - 1); *val = 1.0f; }
    else { *col = d; *val = position_feature(v); }
    return true;
  }
  // Whether each position has one feature, column d (not one-hot, or two
  // values), of value position_feature(v): 0 for v = 0, where feature() adds nothing.
  bool one_feature_per_position() const { return !onehot_ || K_ == 2; }
  float position_feature(int32_t v) const { return float(v) / float(K_ - 1); }

 protected:
  // Reads "input" from the model section and the training keys from `train`.
  AutoregressiveModel(const Space& space, std::string kind, ConfigSection& model, ConfigSection& train,
                      const TrainOptions& train_defaults);

  // --- what a subclass implements (x: (n, D) values, row-major; y: (n) labels,
  // each in [0, L) on a labeled space and ignored otherwise).
  // Random initial parameters (and masks/orderings) before training.
  virtual void init_parameters(Rng& rng) = 0;
  // nll[i] = -log P(x_i | y_i) under the training network; when grad is
  // non-null adds sum_i w[i] * d nll[i] / d params to it.
  virtual void loss_grad_rows(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad,
                              double* nll) const = 0;
  // What one scoring or completion call derives from the parameters once for
  // all its chunks (MADE's transposed weights); none by default.
  struct Derived {
    virtual ~Derived() = default;
  };
  virtual std::unique_ptr<const Derived> derive() const { return nullptr; }
  // out[i] = sum over positions d (those with known[i*D+d] != 0 when known is
  // non-null) of log P_variant(x_d | earlier x, y_i). With known a prefix of
  // the order, this is the exact marginal of the known values. `derived` is
  // derive()'s result for the current parameters (or null: derive it here).
  virtual void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int variant, const uint8_t* known,
                             double* out, const Derived* derived) const = 0;
  // Ancestral sampling of the positions not known (known may be null: none)
  // along order(variant), logits divided by temperature.
  virtual void sample_rows(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, int variant,
                           double temperature, Rng& rng) const = 0;
  // Members of the ensemble averaged by log_prob (a uniform mixture).
  virtual int num_variants() const { return 1; }
  virtual const std::vector<int64_t>& order(int variant) const { (void)variant; return natural_order_; }
  virtual void save_extra(ModelWriter& w) const { (void)w; }
  virtual void load_extra(const ModelReader& r) { (void)r; }
  virtual void describe_extra(json& j) const { (void)j; }
  // Rows a scoring chunk, and a sampling / completion chunk (each chunk draws
  // from its own RNG stream; model constants, never from the thread count).
  virtual size_t score_chunk_rows() const { return 64; }
  virtual size_t sample_chunk_rows() const { return score_chunk_rows(); }

  // Softmax helpers over the K-1 logits z (level 0 has logit 0).
  // log P(v); when dz is non-null, writes w * d(-log P(v))/dz = w * (p - onehot(v)).
  double log_softmax_ref(const float* z, int32_t v, float w, float* dz) const;
  // A level drawn from the K-1 logits z at a temperature (Rng::categorical_log);
  // sc is scratch reused across calls.
  struct SampleScratch {
    std::vector<double> lw, w;
  };
  int32_t sample_ref(const float* z, double temperature, Rng& rng, SampleScratch& sc) const;
  // Binary case, vectorised over m logits: lp[j] = log P(t_j | z_j) with
  // t_j in {0, 1}; when dz is non-null, dz[j] = sigmoid(z_j) - t_j.
  static void binary_log_probs(const float* z, const float* t, long m, double* lp, float* dz);

  int64_t D_, K_, L_, Km1_, F_;  // positions, levels, labels, K-1, input features
  bool onehot_ = true;
  ParamStore params_;
  std::vector<double> log_prior_;  // (L) log P(y), from label counts + 1
  std::vector<int64_t> natural_order_;
  TrainOptions train_opt_;
  TrainResult result_;

 private:
  void check_space(const Space& s, const char* what) const;
  std::string kind_;
};

// Creators for the registry (src/models/fvsbn.cc, nade.cc, made.cc).
std::unique_ptr<Model> create_fvsbn(const Space& space, ConfigSection& model, ConfigSection& train);
std::unique_ptr<Model> create_nade(const Space& space, ConfigSection& model, ConfigSection& train);
std::unique_ptr<Model> create_made(const Space& space, ConfigSection& model, ConfigSection& train);

}  // namespace dgm
