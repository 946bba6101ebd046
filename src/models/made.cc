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
// nonzero blocks: groups of kGroupRows rows times their longest prefix (about
// half the dense cost). Hidden units are ReLU. Several masks ("masks": M) are
// trained in turn, one a minibatch; scoring averages the first "ensemble": N
// of them (a uniform mixture, exact log of the average probability).
#include <algorithm>
#include <cmath>
#include <numeric>

// GCC 12 flags Eigen's AVX-512 kernels (_mm512_undefined_ps) as maybe-uninitialized:
// a known false positive (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>

#include "dgm/error.h"
#include "dgm/model_file.h"
#include "dgm/models/autoregressive.h"

namespace dgm {

namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapR = Eigen::Map<MatR>;
using CMapR = Eigen::Map<const MatR>;
using VecF = Eigen::VectorXf;

constexpr int64_t kGroupRows = 64;

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

  void loss_grad_rows(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad,
                      double* nll) const override {
    const int s = active_;
    const float* eff = params_.data();
    if (num_masks_ > 1) eff = train_eff_.data();
    float* g = grad;
    FloatBuffer geff;
    if (grad && num_masks_ > 1) {
      geff.assign(params_.size(), 0.0f);
      g = geff.data();
    }
    run(s, eff, x, y, w, n, g, nll, nullptr);
    if (grad && num_masks_ > 1) scatter_add(s, geff.data(), grad);
  }

  void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int variant, const uint8_t* known,
                     double* out) const override {
    FloatBuffer local;
    const float* eff = params_.data();
    if (num_masks_ > 1) {
      gather(variant, local);
      eff = local.data();
    }
    std::vector<double> nll(n);
    run(variant, eff, x, y, nullptr, n, nullptr, nll.data(), known);
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

  // Forward (and, when g is non-null, backward) pass of mask s with effective
  // weights eff on n rows. nll[i] = -sum of log P over positions (known ones
  // only when known is non-null).
  void run(int s, const float* eff, const int32_t* x, const int32_t* y, const float* w, size_t n, float* g,
           double* nll, const uint8_t* known) const {
    const Mask& mk = masks_[size_t(s)];
    const size_t nl = layers_.size();
    const long N = long(n);
    std::vector<MatR> act(nl);  // act[0] (n, F) inputs; act[l] (n, H_l)
    act[0] = MatR::Zero(N, long(F_));
    for (size_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < D_; ++t) {
        int64_t col;
        float val;
        if (feature(t, x[i * size_t(D_) + size_t(mk.order[size_t(t)])], &col, &val)) act[0](long(i), long(col)) = val;
      }
    MatR z;
    for (size_t l = 0; l < nl; ++l) {
      const Layer& ly = layers_[l];
      const MaskLayer& ml = mk.layers[l];
      CMapR W(eff + ly.w, long(ly.out), long(ly.in));
      MatR pre(N, long(ly.out));
      for (int64_t r0 = 0; r0 < ly.out; r0 += kGroupRows) {
        const int64_t r1 = std::min(ly.out, r0 + kGroupRows), p = ml.prefix[size_t(r1 - 1)];
        if (p == 0) pre.middleCols(long(r0), long(r1 - r0)).setZero();
        else pre.middleCols(long(r0), long(r1 - r0)).noalias() =
                 act[l].leftCols(long(p)) * W.block(long(r0), 0, long(r1 - r0), long(p)).transpose();
      }
      add_bias(l, eff, y, n, 0, long(ly.out), pre);
      if (l + 1 < nl) act[l + 1] = pre.cwiseMax(0.0f);
      else z = std::move(pre);
    }
    // Outputs: sorted row (t, k) is position order[t], level k+1.
    const long O = long(D_ * Km1_);
    MatR dz;
    if (g) dz.resize(N, O);
    if (Km1_ == 1 && !known) {
      // Binary: act[0] holds the 0/1 targets in the same sorted layout as z.
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> lp(N, O);
      if (g) dz.resize(N, O);
      binary_log_probs(z.data(), act[0].data(), N * O, lp.data(), g ? dz.data() : nullptr);
      for (size_t i = 0; i < n; ++i) {
        double s = 0;
        for (long j = 0; j < O; ++j) s += lp(long(i), j);
        nll[i] = -s;
        if (g && w && w[i] != 1.0f) dz.row(long(i)) *= w[i];
      }
    } else {
    for (size_t i = 0; i < n; ++i) {
      double lp = 0;
      const float wi = w ? w[i] : 1.0f;
      for (int64_t t = 0; t < D_; ++t) {
        const int64_t d = mk.order[size_t(t)];
        if (known && !known[i * size_t(D_) + size_t(d)]) continue;
        const int32_t v = x[i * size_t(D_) + size_t(d)];
        lp += log_softmax_ref(z.data() + i * size_t(O) + size_t(t * Km1_), v, wi,
                              g ? dz.data() + i * size_t(O) + size_t(t * Km1_) : nullptr);
      }
      nll[i] = -lp;
    }
    }
    if (!g) return;
    // Backward, output layer first. dpre holds d loss / d pre-activation.
    MatR dpre = std::move(dz);
    for (size_t l = nl; l-- > 0;) {
      const Layer& ly = layers_[l];
      const MaskLayer& ml = mk.layers[l];
      CMapR W(eff + ly.w, long(ly.out), long(ly.in));
      MapR dW(g + ly.w, long(ly.out), long(ly.in));
      Eigen::Map<VecF> db(g + ly.b, long(ly.out));
      db += dpre.colwise().sum().transpose();
      if (L_ > 0)
        for (size_t i = 0; i < n; ++i)
          for (int64_t r = 0; r < ly.out; ++r) g[ly.u + size_t(r * L_ + y[i])] += dpre(long(i), long(r));
      MatR din;
      if (l > 0) din = MatR::Zero(N, long(ly.in));
      for (int64_t r0 = 0; r0 < ly.out; r0 += kGroupRows) {
        const int64_t r1 = std::min(ly.out, r0 + kGroupRows), p = ml.prefix[size_t(r1 - 1)];
        if (p == 0) continue;
        const auto dblk = dpre.middleCols(long(r0), long(r1 - r0));
        dW.block(long(r0), 0, long(r1 - r0), long(p)).noalias() += dblk.transpose() * act[l].leftCols(long(p));
        // Keep the staircase: entries past each row's own prefix get no gradient.
        for (int64_t r = r0; r < r1; ++r)
          std::fill(g + ly.w + size_t(r * ly.in + ml.prefix[size_t(r)]), g + ly.w + size_t(r * ly.in + p), 0.0f);
        if (l > 0) din.leftCols(long(p)).noalias() += dblk * W.block(long(r0), 0, long(r1 - r0), long(p));
      }
      if (l > 0) dpre = (act[l].array() > 0.0f).select(din, 0.0f);
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
};

}  // namespace

std::unique_ptr<Model> create_made(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<Made>(space, "made", model, train, false);
}

std::unique_ptr<Model> create_fvsbn(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<Made>(space, "fvsbn", model, train, true);
}

}  // namespace dgm
