// transformer.h — a decoder-only transformer (GPT-2's pre-LayerNorm shape,
// Radford et al. 2019; over pixels as Image GPT, Chen et al. 2020) for every
// discrete space: fixed tensors in raster order (channel, row, column) and
// variable-length token sequences with an end marker.
//
// Symbols: K levels, L labels, D positions (the maximum length for sequences),
// S predictions of a sample (D for tensors; length + 1 for a sequence shorter
// than D, whose last prediction is the end marker; D for a sequence of length D,
// whose end is implied), W width, H heads, d = W / H, F MLP units, C context,
// s stride, V_in = K + 1 + L input tokens, V_out = K (+ 1 on variable length).
//
// Tokens: 0..K-1 are the levels; K is the marker (the start token as input,
// the end marker as output); K+1+y is the label token of class y, which
// replaces the start token on a labeled space. Inputs u_0 = start (or label
// token), u_t = x_{t-1}; the net predicts x_t from u_{a(t)..t}.
//
// The window (sequences longer than the context). Prediction t is made from
// the window of inputs that starts at a(t) = 0 for t < C and otherwise at
// a(t) = k s with k = floor((t - C) / s) + 1, with position embeddings counted
// from the window's start. So every conditional sees at least C - s earlier
// inputs, P(x_t | x_<t) depends on the prefix only, and the model defined by
// these conditionals is normalised: log_prob is exact for it. Scoring runs
// one window of C inputs per s predictions past the first C.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dgm/model.h"
#include "dgm/train/params.h"
#include "dgm/train/trainer.h"

namespace dgm {

struct TransformerShape {
  int64_t vocab_in = 0;   // V_in
  int64_t vocab_out = 0;  // V_out
  int64_t width = 0;      // W
  int64_t heads = 0;      // H, dividing W
  int64_t layers = 0;
  int64_t context = 0;    // C
  int64_t mlp = 0;        // F
  bool tied = false;      // output weights = the first V_out rows of the token embedding
};

// Offsets of the parameter blocks in one flat array. Weight matrices are
// stored (in, out) row-major, so y = x W + b; embeddings (rows, W).
struct TransformerLayout {
  struct Layer {
    size_t ln1_g, ln1_b;    // (W)
    size_t qkv_w, qkv_b;    // (W, 3W), (3W): columns q | k | v, head h at h*d within each
    size_t proj_w, proj_b;  // (W, W), (W)
    size_t ln2_g, ln2_b;    // (W)
    size_t fc_w, fc_b;      // (W, F), (F)
    size_t out_w, out_b;    // (F, W), (W)
  };
  size_t tok = 0;   // (V_in, W)
  size_t pos = 0;   // (C, W)
  std::vector<Layer> layer;
  size_t lnf_g = 0, lnf_b = 0;  // (W)
  size_t head = 0;              // (W, V_out) when not tied
  size_t size = 0;
};

// Declares every block, in a fixed order, through add(name, shape) -> offset
// (ParamStore::add, or a counter for a plain array).
TransformerLayout make_transformer_layout(
    const TransformerShape& s, const std::function<size_t(const std::string&, std::vector<uint64_t>)>& add);

// The network over one window of T <= C inputs, and one cached step, for float
// (the model) and double (the finite-difference test of the backward pass).
// Every per-row result (matrix products, attention, normalisation) is computed
// by the same code in the same order whatever the number of rows, so the
// cached sampler reproduces the full forward exactly and a sample's score
// never depends on its neighbours.
template <typename T>
class TransformerNet {
 public:
  TransformerNet(TransformerShape shape, TransformerLayout layout);
  const TransformerShape& shape() const { return s_; }
  const TransformerLayout& layout() const { return l_; }

  // Inverted dropout on the embeddings and on both residual branches, with
  // masks drawn from Rng(seed, stream).
  struct Dropout {
    double rate = 0;
    uint64_t seed = 0, stream = 0;
  };

  // Per-row key/value cache of one sample: (layers, H, d, C) keys (transposed)
  // and (layers, H, C, d) values.
  struct Cache {
    std::vector<T> k, v;
  };

  // One window: inputs in[0..n), targets tgt[0..n). Returns the sum over
  // t in [from, n) of -log P(tgt[t]) (nats). When lp is non-null, lp[t - from]
  // receives log P(tgt[t]); when grad is non-null, adds weight * d/dparams of
  // the returned loss to it. When cache is non-null (scoring only) the keys
  // and values of the n positions are stored in it, and when last_logits is
  // non-null it receives the V_out logits of row n - 1.
  double window(const T* params, const int32_t* in, const int32_t* tgt, int64_t n, int64_t from, T weight,
                T* grad, double* lp, const Dropout* drop, Cache* cache = nullptr, T* last_logits = nullptr) const;

  // One step for m rows: row i feeds token tok[i] at window position pos[i]
  // (its cache holds positions 0..pos[i]-1) and receives its V_out logits in
  // logits[i * V_out ..].
  void step(const T* params, const int32_t* tok, const int64_t* pos, Cache* const* caches, size_t m,
            T* logits) const;

  Cache new_cache() const;

 private:
  TransformerShape s_;
  TransformerLayout l_;
};

extern template class TransformerNet<float>;
extern template class TransformerNet<double>;

class TransformerModel : public Model, public Trainable {
 public:
  TransformerModel(const Space& space, ConfigSection& model, ConfigSection& train);

  std::string kind() const override { return "transformer"; }
  void fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) override;
  void log_prob(const DataView& x, double* out, ThreadPool& pool) const override;
  using Model::log_prob;
  Dataset sample(size_t n, Rng& rng, const SampleOptions& opts = {}) const override;
  // Tensors: the known positions of a row must come before its unknown ones
  // in raster order. Variable length: rows are prefixes to continue.
  Dataset complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                   const SampleOptions& opts = {}) const override;
  // Per-position conditionals of the windowed factorisation. On a
  // variable-length space, entries past a row's last prediction are 0 (a row
  // of the maximum length has no end-marker term: its end is implied).
  bool has_position_log_probs() const override { return true; }
  void position_log_probs(const DataView& x, double* out, ThreadPool& pool) const override;
  void save(ModelWriter& w) const override;
  void load(const ModelReader& r) override;
  json describe() const override;
  std::vector<double> label_log_prior() const override;

  // The same draws as complete() without the key/value cache: every step
  // recomputes the window (the reference the cached sampler is tested against).
  Dataset complete_recomputing(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                               const SampleOptions& opts = {}) const;

  // Trainable.
  size_t num_params() const override { return params_.size(); }
  float* params() override { return params_.data(); }
  double loss_and_grad(const Dataset& data, const size_t* rows, size_t n, float* grad) const override {
    return loss_and_grad_at(data, rows, n, 0, grad);
  }
  // Dropout masks are keyed by the step and the sample's place in the epoch.
  double loss_and_grad_at(const Dataset& data, const size_t* rows, size_t n, uint64_t first,
                          float* grad) const override;
  double total_nll(const DataView& x, ThreadPool& pool) const override;
  std::vector<std::pair<size_t, size_t>> decay_ranges() const override;
  size_t chunk_rows() const override { return size_t(chunk_rows_); }
  void begin_step(int64_t step) override { step_ = step; }

  const TransformerNet<float>& net() const { return *net_; }
  ParamStore& param_store() { return params_; }
  const TrainOptions& train_options() const { return train_opt_; }
  // Randomly initialised parameters (GPT-2's scheme), as fit() starts from.
  void init_parameters(Rng& rng);
  // Window start a(t) of prediction t (see the top of this file).
  int64_t window_start(int64_t t) const;

 private:
  struct Row;
  Row make_row(const DataView& x, size_t i, int32_t label) const;
  // log P(x_t | x_<t, y) for the S predictions of a row.
  void row_log_probs(const Row& r, double* lp) const;
  Dataset draw(const Dataset& partial, const std::vector<uint8_t>* known, Rng& rng, const SampleOptions& opts,
               bool cached) const;
  void check_data(const Space& s, const char* what) const;

  int64_t D_, K_, L_;
  bool var_;
  TransformerShape shape_;
  TransformerLayout layout_;
  std::unique_ptr<TransformerNet<float>> net_;
  int64_t stride_;
  double dropout_;
  double init_std_;
  int64_t chunk_rows_;
  uint64_t dropout_seed_ = 0;
  int64_t step_ = 0;
  ParamStore params_;
  std::vector<double> log_prior_;  // (L) log P(y), from label counts + 1
  TrainOptions train_opt_;
  TrainResult result_;
};

std::unique_ptr<Model> create_transformer(const Space& space, ConfigSection& model, ConfigSection& train);

}  // namespace dgm
