// made.cc — MADE, the Masked Autoencoder for Distribution Estimation (Germain,
// Gregor, Murray & Larochelle, 2015), and FVSBN (the fully visible sigmoid
// belief net: each position a logistic / softmax regression on all earlier
// ones), which is MADE without hidden layers.
//
// Degrees: input position at order index t has degree t (1..D); a hidden unit
// of layer l draws m ~ U{min degree of layer l-1 .. D-1} and sees units of the
// previous layer with degree <= m; the output of order index t sees units of
// degree < t. With rows and columns sorted by degree every mask is a staircase
// (row r uses columns [0, prefix[r])), so each layer multiplies only the
// nonzero blocks (about half the dense cost): training and scoring run on the
// staircase kernels of nn/conv.h, each block of 48 outputs reading only the
// inputs below its longest prefix (the forward pass from the weights
// transposed once a minibatch or scoring call, the adjoint and weight
// gradient from them as stored); sampling finalises the hidden units of one
// degree at a time. Hidden units are ReLU. Several masks ("masks": M) are
// trained in turn, one a minibatch; scoring averages the first "ensemble": N
// of them (a uniform mixture, exact log of the average probability).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "nn/eigen.h"

#include "dgm/error.h"
#include "dgm/model_file.h"
#include "dgm/models/autoregressive.h"
#include "nn/conv.h"
#include "nn/gemm.h"
#include "nn/sparse_rows.h"
#include "nn/workspace.h"

namespace dgm {

namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;
using VecF = Eigen::VectorXf;

class Made : public AutoregressiveModel {
 public:
  Made(const Space& space, const std::string& kind, ConfigSection& m, ConfigSection& t, bool fvsbn)
      : AutoregressiveModel(space, kind, m, t, TrainOptions{}), fvsbn_(fvsbn) {
    if (!fvsbn) {
      json h = m.get_json("hidden");
      if (h.is_null()) h = 500;
      if (h.is_number_integer()) {
        const int64_t layers = m.get_int("layers", 1, 1, 64);
        const int64_t size = h.get<int64_t>();
        if (size < 1 || size > (1 << 20)) throw ConfigError("model.hidden: must be between 1 and 1048576, got " + h.dump());
        hidden_.assign(size_t(layers), size);
      } else if (h.is_array() && !h.empty()) {
        for (const auto& e : h) {
          if (!e.is_number_integer() || e.get<int64_t>() < 1 || e.get<int64_t>() > (1 << 20))
            throw ConfigError("model.hidden: expected positive layer sizes, got " + h.dump());
          hidden_.push_back(e.get<int64_t>());
        }
      } else {
        throw ConfigError("model.hidden: expected a layer size or a list of sizes, got " + h.dump());
      }
      random_order_ = m.get_choice("ordering", "natural", {"natural", "random"}) == "random";
      num_masks_ = int(m.get_int("masks", 1, 1, 4096));
      ensemble_ = int(m.get_int("ensemble", 1, 1, 4096));
      if (m.has("masks") && ensemble_ > num_masks_)
        throw ConfigError("model.ensemble: " + std::to_string(ensemble_) + " exceeds model.masks = " +
                          std::to_string(num_masks_));
      num_masks_ = std::max(num_masks_, ensemble_);
    }
    // Layers: hidden..., output. Each has W (out, in), b (out), U (out, L).
    int64_t in = F_;
    std::vector<int64_t> outs = hidden_;
    outs.push_back(D_ * Km1_);
    for (size_t l = 0; l < outs.size(); ++l) {
      Layer ly;
      ly.in = in;
      ly.out = outs[l];
      const std::string s = l + 1 == outs.size() ? "out" : std::to_string(l + 1);
      ly.w = params_.add("w" + s, {uint64_t(ly.out), uint64_t(ly.in)});
      ly.b = params_.add("b" + s, {uint64_t(ly.out)});
      if (L_ > 0) ly.u = params_.add("u" + s, {uint64_t(ly.out), uint64_t(L_)});
      layers_.push_back(ly);
      in = ly.out;
    }
    params_.allocate();
    // The transposed weights: layer l at wt_off_[l]; the first layer's (0/1
    // inputs, through sparse_rows_forward) packed by blocks of outputs.
    size_t wt_at = 0;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& ly = layers_[l];
      const bool sparse = l == 0 && nn::sparse_rows_fit(ly.in);
      wt_sparse_.push_back(sparse);
      wt_off_.push_back(wt_at);
      wt_at += (size_t(sparse ? nn::sparse_rows_packed(ly.in, ly.out) : ly.in * ly.out) + 15) / 16 * 16;
    }
    wt_size_ = wt_at;
    int64_t widest = 0;
    for (const Layer& ly : layers_) widest = std::max({widest, ly.in, ly.out});
    iota_.resize(size_t(widest));
    std::iota(iota_.begin(), iota_.end(), int64_t(0));
    Rng rng(0);
    make_masks(rng);
  }

  size_t chunk_rows() const override { return 50; }
  // With one mask, weights outside it are fixed zeros: Adam skips them
  // (about half of every weight matrix).
  std::vector<std::pair<size_t, size_t>> active_ranges() const override {
    std::vector<std::pair<size_t, size_t>> r;
    if (num_masks_ > 1) return r;
    auto add = [&](size_t b, size_t e) {
      if (b == e) return;
      if (!r.empty() && r.back().second == b) r.back().second = e;
      else r.emplace_back(b, e);
    };
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& ly = layers_[l];
      const MaskLayer& ml = masks_[0].layers[l];
      for (int64_t row = 0; row < ly.out; ++row)
        add(ly.w + size_t(row * ly.in), ly.w + size_t(row * ly.in + ml.prefix[size_t(row)]));
      add(ly.b, ly.b + size_t(ly.out));
      if (L_ > 0) add(ly.u, ly.u + size_t(ly.out * L_));
    }
    return r;
  }
  void begin_step(int64_t step) override {
    active_ = int(step % num_masks_);
    if (num_masks_ > 1) gather(active_, train_eff_);
    // A single mask's transposed zeros stay in place from the first step on.
    const bool staircase = num_masks_ == 1 && train_wt_.size() == wt_size_;
    transpose_weights(num_masks_ > 1 ? train_eff_.data() : params_.data(), train_wt_, staircase);
  }

 protected:
  struct Layer {
    int64_t in = 0, out = 0;
    size_t w = 0, b = 0, u = 0;  // offsets into params_
  };
  // One mask set. Rows of every layer are in sorted-degree order.
  struct MaskLayer {
    std::vector<int32_t> row_perm;  // (out) stored row of sorted row r
    std::vector<int32_t> col_perm;  // (in) stored column of sorted column c
    std::vector<int64_t> degree;    // (out) degree of sorted row r
    std::vector<int64_t> prefix;    // (out) columns sorted row r may use
    // Column ranges for the staircase kernels (nn/conv.h block_cols), per
    // block of nn::kOutputBlock: outputs' blocks of the forward pass read
    // inputs [0, prefix of the block's last row); inputs' blocks of the
    // adjoint and weight gradient read the outputs that use them.
    std::vector<int64_t> forward_cols, adjoint_cols;
  };
  struct Mask {
    std::vector<int64_t> order;                // (D) position at order index t
    std::vector<std::vector<int64_t>> degrees;  // per hidden layer (H_l) degrees in stored unit order
    std::vector<MaskLayer> layers;
  };

  int num_variants() const override { return ensemble_; }
  const std::vector<int64_t>& order(int s) const override { return masks_[size_t(s)].order; }

  void init_parameters(Rng& rng) override {
    make_masks(rng);
    train_wt_.clear();  // the next begin_step transposes in full (new masks)
    float* p = params_.data();
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& ly = layers_[l];
      const float bound = 1.0f / std::sqrt(float(ly.in));
      auto uni = [&] { return float((2.0 * rng.uniform() - 1.0) * bound); };
      for (int64_t i = 0; i < ly.out * ly.in; ++i) p[ly.w + size_t(i)] = uni();
      for (int64_t i = 0; i < ly.out; ++i) p[ly.b + size_t(i)] = uni();
      if (L_ > 0)
        for (int64_t i = 0; i < ly.out * L_; ++i) p[ly.u + size_t(i)] = uni();
    }
    // With one mask the stored weights are kept masked (their gradients are
    // masked too), so training and scoring use them in place.
    if (num_masks_ == 1) apply_mask(0, p);
    active_ = 0;
    if (num_masks_ > 1) gather(0, train_eff_);
  }

  // begin_step() has set train_eff_ (masks > 1) and train_wt_.
  void loss_grad_rows(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad,
                      double* nll) const override {
    const int s = active_;
    const float* eff = params_.data();
    if (num_masks_ > 1) eff = train_eff_.data();
    if (train_wt_.size() != wt_size_)
      throw std::logic_error("made: loss_and_grad before begin_step");
    float* g = grad;
    FloatBuffer geff;
    if (grad && num_masks_ > 1) {
      geff.assign(params_.size(), 0.0f);
      g = geff.data();
    }
    run(s, eff, train_wt_.data(), x, y, w, n, g, nll, nullptr);
    if (grad && num_masks_ > 1) scatter_add(s, geff.data(), grad);
  }

  // Per scoring call: each ensemble member's effective weights (gathered when
  // there are several masks) and their transposes.
  struct Prepared : Derived {
    std::vector<FloatBuffer> eff, wt;  // (variants) of (P)
  };
  std::unique_ptr<const Derived> derive() const override {
    auto d = std::make_unique<Prepared>();
    d->eff.resize(size_t(ensemble_));
    d->wt.resize(size_t(ensemble_));
    for (int s = 0; s < ensemble_; ++s) {
      if (num_masks_ > 1) gather(s, d->eff[size_t(s)]);
      transpose_weights(num_masks_ > 1 ? d->eff[size_t(s)].data() : params_.data(), d->wt[size_t(s)]);
    }
    return d;
  }

  void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int variant, const uint8_t* known, double* out,
                     const Derived* derived) const override {
    const auto* prep = dynamic_cast<const Prepared*>(derived);
    std::unique_ptr<const Derived> own;
    if (!prep) {
      own = derive();
      prep = static_cast<const Prepared*>(own.get());
    }
    const float* eff = num_masks_ > 1 ? prep->eff[size_t(variant)].data() : params_.data();
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    double* nll = ws.take<double>(n);
    run(variant, eff, prep->wt[size_t(variant)].data(), x, y, nullptr, n, nullptr, nll, known);
    for (size_t i = 0; i < n; ++i) out[i] = -nll[i];
  }

  void sample_rows(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, int s, double temperature,
                   Rng& rng) const override {
    FloatBuffer local;
    const float* eff = params_.data();
    if (num_masks_ > 1) {
      gather(s, local);
      eff = local.data();
    }
    const Mask& mk = masks_[size_t(s)];
    const size_t nl = layers_.size();
    std::vector<MatR> act(nl);  // act[0] = input features (n, F); act[l] = hidden layer l (n, H_l)
    act[0] = MatR::Zero(long(n), long(F_));
    for (size_t l = 1; l < nl; ++l) act[l] = MatR::Zero(long(n), long(layers_[l - 1].out));
    MatR z(static_cast<long>(n), static_cast<long>(Km1_));
    SampleScratch sc;
    for (int64_t t = 1; t <= D_; ++t) {
      if (t >= 2) {
        // Finalise the hidden units of degree t-1 (their inputs are all known now).
        for (size_t l = 0; l + 1 < nl; ++l) {
          const MaskLayer& ml = mk.layers[l];
          const auto lo = std::lower_bound(ml.degree.begin(), ml.degree.end(), t - 1) - ml.degree.begin();
          const auto hi = std::upper_bound(ml.degree.begin(), ml.degree.end(), t - 1) - ml.degree.begin();
          if (lo == hi) continue;
          const int64_t p = ml.prefix[size_t(lo)];
          CMapR W(eff + layers_[l].w, long(layers_[l].out), long(layers_[l].in));
          MatR pre = act[l].leftCols(long(p)) * W.block(lo, 0, hi - lo, long(p)).transpose();
          add_bias(l, eff, y, n, lo, hi, pre);
          act[l + 1].middleCols(lo, hi - lo) = pre.cwiseMax(0.0f);
        }
      }
      const size_t lo = size_t(t - 1) * size_t(Km1_);
      const MaskLayer& mo = mk.layers[nl - 1];
      const int64_t p = mo.prefix[lo];
      CMapR W(eff + layers_[nl - 1].w, long(layers_[nl - 1].out), long(layers_[nl - 1].in));
      z.noalias() = act[nl - 1].leftCols(long(p)) * W.block(long(lo), 0, long(Km1_), long(p)).transpose();
      add_bias(nl - 1, eff, y, n, long(lo), long(lo) + long(Km1_), z);
      const int64_t d = mk.order[size_t(t - 1)];
      for (size_t i = 0; i < n; ++i) {
        int32_t& v = x[i * size_t(D_) + size_t(d)];
        if (!known || !known[i * size_t(D_) + size_t(d)]) v = sample_ref(z.data() + i * size_t(Km1_), temperature, rng, sc);
        int64_t col;
        float val;
        if (feature(t - 1, v, &col, &val)) act[0](long(i), long(col)) = val;
      }
    }
  }

  void save_extra(ModelWriter& w) const override {
    if (fvsbn_) return;
    for (int s = 0; s < num_masks_; ++s) {
      const Mask& mk = masks_[size_t(s)];
      w.add("mask" + std::to_string(s) + ".order", mk.order.data(), {uint64_t(D_)});
      for (size_t l = 0; l < hidden_.size(); ++l)
        w.add("mask" + std::to_string(s) + ".degree" + std::to_string(l + 1), mk.degrees[l].data(),
              {uint64_t(hidden_[l])});
    }
  }

  void load_extra(const ModelReader& r) override {
    if (fvsbn_) return;
    masks_.assign(size_t(num_masks_), Mask{});
    for (int s = 0; s < num_masks_; ++s) {
      Mask& mk = masks_[size_t(s)];
      mk.order.resize(size_t(D_));
      r.read("mask" + std::to_string(s) + ".order", mk.order.data(), {uint64_t(D_)});
      std::vector<int64_t> seen(size_t(D_), 0);
      for (int64_t d : mk.order) {
        if (d < 0 || d >= D_ || seen[size_t(d)]++)
          throw FormatError(r.name() + ": array 'mask" + std::to_string(s) + ".order' is not a permutation of 0.." +
                            std::to_string(D_ - 1));
      }
      mk.degrees.resize(hidden_.size());
      for (size_t l = 0; l < hidden_.size(); ++l) {
        mk.degrees[l].resize(size_t(hidden_[l]));
        r.read("mask" + std::to_string(s) + ".degree" + std::to_string(l + 1), mk.degrees[l].data(),
               {uint64_t(hidden_[l])});
        for (int64_t m : mk.degrees[l])
          if (m < 1 || m > std::max<int64_t>(1, D_ - 1))
            throw FormatError(r.name() + ": array 'mask" + std::to_string(s) + ".degree" + std::to_string(l + 1) +
                              "' holds degree " + std::to_string(m) + " outside 1.." + std::to_string(D_ - 1));
      }
      build_layers(mk);
    }
    active_ = 0;
    if (num_masks_ > 1) gather(0, train_eff_);
    train_wt_.clear();
  }

  void describe_extra(json& j) const override {
    if (fvsbn_) return;
    j["hidden"] = hidden_;
    j["ordering"] = random_order_ ? "random" : "natural";
    j["masks"] = num_masks_;
    j["ensemble"] = ensemble_;
  }

 private:
  // Draws orders and degrees for every mask.
  void make_masks(Rng& rng) {
    masks_.assign(size_t(num_masks_), Mask{});
    for (int s = 0; s < num_masks_; ++s) {
      Mask& mk = masks_[size_t(s)];
      mk.order = natural_order_;
      if (random_order_)
        for (size_t i = size_t(D_); i > 1; --i) std::swap(mk.order[i - 1], mk.order[rng.below(i)]);
      int64_t lo = 1;
      const int64_t top = std::max<int64_t>(1, D_ - 1);
      for (int64_t h : hidden_) {
        std::vector<int64_t> deg(static_cast<size_t>(h));
        for (auto& m : deg) m = lo + int64_t(rng.below(uint64_t(std::max<int64_t>(1, top - lo + 1))));
        // With a single mask, stored units are in degree order (any order is
        // equivalent), so scoring needs no permutation.
        if (num_masks_ == 1) std::sort(deg.begin(), deg.end());
        lo = *std::min_element(deg.begin(), deg.end());
        mk.degrees.push_back(std::move(deg));
      }
      build_layers(mk);
    }
  }

  // Sorted rows, permutations and staircase prefixes of a mask. Stored input
  // columns and output rows follow mask 0's order.
  void build_layers(Mask& mk) {
    const int64_t Fp = onehot_ ? Km1_ : 1;
    const Mask& m0 = masks_[0];
    const std::vector<int64_t>& o0 = (&mk == &m0) ? mk.order : m0.order;
    std::vector<int64_t> rank0(static_cast<size_t>(D_));
    for (int64_t t = 0; t < D_; ++t) rank0[size_t(o0[size_t(t)])] = t;
    mk.layers.assign(layers_.size(), MaskLayer{});
    // Sorted input column c = (t-1)*Fp + k (position order[t-1]) is stored at rank0 * Fp + k.
    std::vector<int32_t> in_perm(static_cast<size_t>(F_));
    for (int64_t t = 0; t < D_; ++t)
      for (int64_t k = 0; k < Fp; ++k) in_perm[size_t(t * Fp + k)] = int32_t(rank0[size_t(mk.order[size_t(t)])] * Fp + k);
    std::vector<int64_t> prev_deg(static_cast<size_t>(F_));  // degrees of the previous layer's sorted units
    for (int64_t c = 0; c < F_; ++c) prev_deg[size_t(c)] = c / Fp + 1;
    std::vector<int32_t> prev_perm = in_perm;
    for (size_t l = 0; l < layers_.size(); ++l) {
      MaskLayer& ml = mk.layers[l];
      ml.col_perm = prev_perm;
      const bool output = l + 1 == layers_.size();
      const int64_t out = layers_[l].out;
      ml.row_perm.resize(size_t(out));
      ml.degree.resize(size_t(out));
      if (output) {
        for (int64_t t = 0; t < D_; ++t)
          for (int64_t k = 0; k < Km1_; ++k) {
            ml.row_perm[size_t(t * Km1_ + k)] = int32_t(rank0[size_t(mk.order[size_t(t)])] * Km1_ + k);
            ml.degree[size_t(t * Km1_ + k)] = t + 1;
          }
      } else {
        std::iota(ml.row_perm.begin(), ml.row_perm.end(), 0);
        const auto& deg = mk.degrees[l];
        std::stable_sort(ml.row_perm.begin(), ml.row_perm.end(), [&](int32_t a, int32_t b) { return deg[size_t(a)] < deg[size_t(b)]; });
        for (int64_t r = 0; r < out; ++r) ml.degree[size_t(r)] = deg[size_t(ml.row_perm[size_t(r)])];
      }
      ml.prefix.resize(size_t(out));
      for (int64_t r = 0; r < out; ++r) {
        const int64_t m = ml.degree[size_t(r)];
        // hidden: previous degree <= m; output: previous degree < m.
        const auto it = output ? std::lower_bound(prev_deg.begin(), prev_deg.end(), m)
                               : std::upper_bound(prev_deg.begin(), prev_deg.end(), m);
        ml.prefix[size_t(r)] = it - prev_deg.begin();
      }
      const int64_t in = layers_[l].in;
      ml.forward_cols.clear();
      for (int64_t b = 0; b < nn::num_output_blocks(out); ++b)
        ml.forward_cols.insert(ml.forward_cols.end(),
                               {0, ml.prefix[size_t(std::min(out, (b + 1) * nn::kOutputBlock) - 1)]});
      ml.adjoint_cols.clear();
      for (int64_t b = 0; b < nn::num_output_blocks(in); ++b) {
        const int64_t first = std::upper_bound(ml.prefix.begin(), ml.prefix.end(), b * nn::kOutputBlock) - ml.prefix.begin();
        ml.adjoint_cols.insert(ml.adjoint_cols.end(), {first, out});
      }
      prev_deg = ml.degree;
      prev_perm = ml.row_perm;
    }
  }

  // Zeroes the stored weights outside mask s (valid only with identity permutations).
  void apply_mask(int s, float* p) const {
    for (size_t l = 0; l < layers_.size(); ++l) {
      const MaskLayer& ml = masks_[size_t(s)].layers[l];
      const Layer& ly = layers_[l];
      for (int64_t r = 0; r < ly.out; ++r)
        std::fill(p + ly.w + size_t(r * ly.in + ml.prefix[size_t(r)]), p + ly.w + size_t((r + 1) * ly.in), 0.0f);
    }
  }

  // eff = the parameters in mask s's sorted layout, masked (same block offsets).
  void gather(int s, FloatBuffer& eff) const {
    eff.assign(params_.size(), 0.0f);
    const float* p = params_.data();
    for (size_t l = 0; l < layers_.size(); ++l) {
      const MaskLayer& ml = masks_[size_t(s)].layers[l];
      const Layer& ly = layers_[l];
      for (int64_t r = 0; r < ly.out; ++r) {
        const size_t src = size_t(ml.row_perm[size_t(r)]);
        const float* wr = p + ly.w + src * size_t(ly.in);
        float* dst = eff.data() + ly.w + size_t(r * ly.in);
        for (int64_t c = 0; c < ml.prefix[size_t(r)]; ++c) dst[c] = wr[ml.col_perm[size_t(c)]];
        eff[ly.b + size_t(r)] = p[ly.b + src];
        if (L_ > 0)
          std::copy(p + ly.u + src * size_t(L_), p + ly.u + (src + 1) * size_t(L_), eff.data() + ly.u + size_t(r * L_));
      }
    }
  }

  // grad += the sorted-layout gradient geff mapped back to the stored layout.
  void scatter_add(int s, const float* geff, float* grad) const {
    for (size_t l = 0; l < layers_.size(); ++l) {
      const MaskLayer& ml = masks_[size_t(s)].layers[l];
      const Layer& ly = layers_[l];
      for (int64_t r = 0; r < ly.out; ++r) {
        const size_t dst = size_t(ml.row_perm[size_t(r)]);
        const float* gr = geff + ly.w + size_t(r * ly.in);
        float* wr = grad + ly.w + dst * size_t(ly.in);
        for (int64_t c = 0; c < ml.prefix[size_t(r)]; ++c) wr[ml.col_perm[size_t(c)]] += gr[c];
        grad[ly.b + dst] += geff[ly.b + size_t(r)];
        if (L_ > 0)
          for (int64_t k = 0; k < L_; ++k) grad[ly.u + dst * size_t(L_) + size_t(k)] += geff[ly.u + size_t(r * L_ + k)];
      }
    }
  }

  // pre(:, cols lo..hi) += b + U[:, y_i] for layer l.
  template <typename M>
  void add_bias(size_t l, const float* eff, const int32_t* y, size_t n, long lo, long hi, M& pre) const {
    const Layer& ly = layers_[l];
    for (size_t i = 0; i < n; ++i)
      for (long r = lo; r < hi; ++r) {
        float v = eff[ly.b + size_t(r)];
        if (L_ > 0) v += eff[ly.u + size_t(r) * size_t(L_) + size_t(y[i])];
        pre(long(i), r - lo) += v;
      }
  }

  // Every layer's weights of `eff` transposed, (in, out) at wt_off_ (packed
  // by blocks of nn::kOutputBlock outputs where wt_sparse_): the forward pass
  // streams rows of W^T.
  // With `staircase` (a single mask, whose masked weights are fixed zeros),
  // only the bands of 16 rows up to their longest prefix are transposed: wt
  // must already hold the zeros elsewhere (a previous full call).
  void transpose_weights(const float* eff, FloatBuffer& wt, bool staircase = false) const {
    wt.resize(wt_size_);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& ly = layers_[l];
      float* dst = wt.data() + wt_off_[l];
      // Rows [r0, r1) of W, columns [0, c), to their place in W^T.
      auto put = [&](int64_t r0, int64_t r1, int64_t c) {
        const float* src = eff + ly.w + size_t(r0 * ly.in);
        if (!wt_sparse_[l]) return nn::transpose(r1 - r0, c, src, ly.in, dst + r0, ly.out);
        const int64_t b = r0 / nn::kOutputBlock;
        nn::transpose(r1 - r0, c, src, ly.in, dst + (b * ly.in * nn::kOutputBlock + r0 - b * nn::kOutputBlock),
                      nn::kOutputBlock);
      };
      static_assert(nn::kOutputBlock % 16 == 0, "bands of 16 rows stay inside a block");
      const std::vector<int64_t>& prefix = masks_[0].layers[l].prefix;
      for (int64_t r0 = 0; r0 < ly.out; r0 += 16) {
        const int64_t r1 = std::min(ly.out, r0 + 16);
        // Columns up to a multiple of 16 (whole tiles; the band's weights
        // there are the staircase's zeros, over zeros).
        put(r0, r1, staircase ? std::min(ly.in, (prefix[size_t(r1 - 1)] + 15) / 16 * 16) : ly.in);
      }
    }
  }

  // Forward (and, when g is non-null, backward) pass of mask s with effective
  // weights eff (sorted layout) and their transposes wt, on n rows, through the
  // staircase kernels of nn/conv.h (rows are 1x1 "images"): every output block
  // of a layer reads only the inputs its mask allows. nll[i] = -sum of log P
  // over positions (known ones only when known is non-null).
  void run(int s, const float* eff, const float* wt, const int32_t* x, const int32_t* y, const float* w, size_t n,
           float* g, double* nll, const uint8_t* known) const {
    const Mask& mk = masks_[size_t(s)];
    const size_t nl = layers_.size();
    const int64_t N = int64_t(n);
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    auto rows = [&](int64_t F) {
      nn::Grid gr;
      gr.n = N, gr.H = 1, gr.W = 1, gr.F = F;
      return gr;
    };
    // act[0] (n, F) input features in the mask's sorted order; act[l] (n, H_l) ReLU outputs; z (n, D*(K-1)).
    float** act = ws.take<float*>(nl + 1);
    if (!one_feature_per_position()) {
      act[0] = ws.take_zero<float>(size_t(N * F_));
      for (int64_t i = 0; i < N; ++i)
        for (int64_t t = 0; t < D_; ++t) {
          int64_t col;
          float val;
          if (feature(t, x[i * D_ + mk.order[size_t(t)]], &col, &val)) act[0][i * F_ + col] = val;
        }
    } else {
      // One feature a position (column t): written for every value, without
      // the branch on v == 0 (unpredictable on binary images).
      act[0] = ws.take<float>(size_t(N * F_));
      for (int64_t i = 0; i < N; ++i)
        for (int64_t t = 0; t < D_; ++t) act[0][i * F_ + t] = position_feature(x[i * D_ + mk.order[size_t(t)]]);
    }
    for (size_t l = 0; l < nl; ++l) {
      const Layer& ly = layers_[l];
      float* init = ws.take<float>(size_t(N * ly.out));  // b + U[:, y_i]
      for (int64_t i = 0; i < N; ++i)
        for (int64_t r = 0; r < ly.out; ++r)
          init[i * ly.out + r] = eff[ly.b + size_t(r)] + (L_ > 0 ? eff[ly.u + size_t(r * L_ + y[i])] : 0.0f);
      act[l + 1] = ws.take<float>(size_t(N * ly.out));
      // The first layer's inputs are 0/1 features, mostly 0: rows visit their
      // nonzeros only (a hidden layer's ReLU outputs are mostly nonzero).
      if (wt_sparse_[l]) {
        if (!nn::sparse_rows_forward(N, ly.in, act[l], wt + wt_off_[l], ly.out, mk.layers[l].forward_cols.data(), init,
                                     act[l + 1], l + 1 < nl))
          throw std::logic_error("made: sparse_rows_forward refused a layer it fits");
        continue;
      }
      nn::Epilogue<float> ep;
      ep.init = init;
      ep.block_cols = mk.layers[l].forward_cols.data();
      if (l + 1 < nl) ep.relu = act[l + 1];  // stored over the pre-activation: only the ReLU is kept
      nn::conv_forward<float>(ly.in, iota_.data(), wt + wt_off_[l], rows(ly.in), act[l], rows(ly.out), act[l + 1],
                              nn::Region::all(rows(ly.out)), ep);
    }
    const float* z = act[nl];
    // Outputs: sorted row (t, k) is position order[t], level k+1.
    const int64_t O = D_ * Km1_;
    float* dz = g ? ws.take<float>(size_t(N * O)) : nullptr;
    if (Km1_ == 1 && !known) {
      // Binary: act[0] holds the 0/1 targets in the same sorted layout as z.
      double* lp = ws.take<double>(size_t(N * O));
      binary_log_probs(z, act[0], long(N * O), lp, dz);
      // Each row's sum in position order; four rows at a time (independent chains).
      int64_t i0 = 0;
      for (; i0 + 4 <= N; i0 += 4) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const double* r = lp + i0 * O;
        for (int64_t j = 0; j < O; ++j) s0 += r[j], s1 += r[O + j], s2 += r[2 * O + j], s3 += r[3 * O + j];
        nll[i0] = -s0, nll[i0 + 1] = -s1, nll[i0 + 2] = -s2, nll[i0 + 3] = -s3;
      }
      for (; i0 < N; ++i0) {
        double sum = 0;
        for (int64_t j = 0; j < O; ++j) sum += lp[i0 * O + j];
        nll[i0] = -sum;
      }
      if (dz && w)
        for (int64_t i = 0; i < N; ++i)
          if (w[i] != 1.0f)
            for (int64_t j = 0; j < O; ++j) dz[i * O + j] *= w[i];
    } else {
      for (int64_t i = 0; i < N; ++i) {
        double lp = 0;
        const float wi = w ? w[i] : 1.0f;
        for (int64_t t = 0; t < D_; ++t) {
          const int64_t d = mk.order[size_t(t)];
          if (known && !known[i * D_ + d]) {
            if (dz) std::fill(dz + i * O + t * Km1_, dz + i * O + (t + 1) * Km1_, 0.0f);
            continue;
          }
          lp += log_softmax_ref(z + i * O + t * Km1_, x[i * D_ + d], wi, dz ? dz + i * O + t * Km1_ : nullptr);
        }
        nll[i] = -lp;
      }
    }
    if (!g) return;
    // Backward, output layer first. dpre (n, out) is d loss / d pre-activation.
    const float* dpre = dz;
    for (size_t l = nl; l-- > 0;) {
      const Layer& ly = layers_[l];
      const MaskLayer& ml = mk.layers[l];
      for (int64_t i = 0; i < N; ++i)
        for (int64_t r = 0; r < ly.out; ++r) {
          const float d = dpre[i * ly.out + r];
          g[ly.b + size_t(r)] += d;
          if (L_ > 0) g[ly.u + size_t(r * L_ + y[i])] += d;
        }
      // dW (out, in) += dpre^T act[l]: "columns" are the outputs r, vectors run
      // over the inputs; each block of inputs reads the outputs that may use them.
      // The first layer's 0/1 inputs: blocks of inputs skip the rows that are all 0 there.
      if (!wt_sparse_[l] ||
          !nn::sparse_rows_weight_gradient(N, ly.out, ly.in, dpre, act[l], ml.adjoint_cols.data(), g + ly.w))
        nn::conv_backward_weights<float>(ly.out, iota_.data(), rows(ly.out), dpre, rows(ly.in), act[l],
                                         nn::Region::all(rows(ly.in)), g + ly.w, ml.adjoint_cols.data());
      // Keep the staircase: entries past each row's own prefix get no gradient
      // (the kernel wrote whole input blocks).
      for (int64_t r = 0; r < ly.out; ++r) {
        const int64_t p = ml.prefix[size_t(r)], end = std::min(ly.in, nn::num_output_blocks(p) * nn::kOutputBlock);
        std::fill(g + ly.w + size_t(r * ly.in + p), g + ly.w + size_t(r * ly.in + end), 0.0f);
      }
      if (l == 0) break;
      // d act[l] = dpre W, zero where the ReLU was off.
      float* din = ws.take<float>(size_t(N * ly.in));
      nn::Epilogue<float> ep;
      ep.gate = act[l];
      ep.block_cols = ml.adjoint_cols.data();
      nn::conv_forward<float>(ly.out, iota_.data(), eff + ly.w, rows(ly.out), dpre, rows(ly.in), din,
                              nn::Region::all(rows(ly.in)), ep);
      dpre = din;
    }
  }

  bool fvsbn_;
  std::vector<int64_t> hidden_;  // H_l per hidden layer
  bool random_order_ = false;
  int num_masks_ = 1, ensemble_ = 1;
  std::vector<Layer> layers_;
  std::vector<Mask> masks_;
  int active_ = 0;                  // the mask of the current minibatch
  FloatBuffer train_eff_;    // (P) gathered weights of the active mask when masks > 1
  FloatBuffer train_wt_;     // (wt_size_) their (or the parameters') weights transposed, for the current minibatch
  std::vector<size_t> wt_off_;   // per layer: offset of W^T in a transposed buffer
  std::vector<bool> wt_sparse_;  // per layer: forward through sparse_rows_forward
  size_t wt_size_ = 0;
  std::vector<int64_t> iota_;  // 0, 1, 2, ...: the column offsets of a dense layer
};

}  // namespace

std::unique_ptr<Model> create_made(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<Made>(space, "made", model, train, false);
}

std::unique_ptr<Model> create_fvsbn(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<Made>(space, "fvsbn", model, train, true);
}

}  // namespace dgm
