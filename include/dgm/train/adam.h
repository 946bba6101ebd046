// adam.h — the Adam optimiser (Kingma & Ba, 2015) over one flat float32
// parameter buffer, with weight decay either added to the gradient as L2 (as
// torch.optim.Adam does) or decoupled from it (AdamW, Loshchilov & Hutter
// 2019, as torch.optim.AdamW does), gradient clipping by global norm, and a
// learning rate set by the caller (set_epoch() for the per-epoch decay,
// set_learning_rate() for schedules).
//
//   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   theta <- theta (1 - lr_t wd [decoupled]) - lr_t * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "dgm/config.h"
#include "dgm/thread_pool.h"
#include "dgm/train/params.h"

namespace dgm {

struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double lr_decay = 1.0;      // learning rate of epoch e (1-based) = learning_rate * lr_decay^(e-1)
  double weight_decay = 0.0;  // L2 coefficient added to the gradient, or the decoupled rate (adamw)
  bool decoupled = false;     // "optimizer": "adamw" (decoupled weight decay) instead of "adam"
  double clip_norm = 0.0;     // clip the minibatch gradient to this global L2 norm; 0 = off
};

// Reads optimizer ("adam" or "adamw"), learning_rate, beta1, beta2, epsilon,
// lr_decay, weight_decay and clip_norm from a "train" section (defaults from `def`).
AdamOptions read_adam_options(ConfigSection& train, const AdamOptions& def = {});

class Adam {
 public:
  Adam(size_t num_params, const AdamOptions& opt);

  // Restricts updates (and gradient reads, decay, norm, clearing) to these
  // sorted, disjoint [begin, end) ranges; empty = the whole buffer.
  void set_active(const std::vector<std::pair<size_t, size_t>>& ranges);
  // Restricts weight decay to these sorted, disjoint ranges (e.g. weight
  // matrices, not gains and biases); empty = every parameter. Call after set_active().
  void set_decay(const std::vector<std::pair<size_t, size_t>>& ranges);

  // Learning rate for the given 1-based epoch.
  void set_epoch(int64_t epoch);
  void set_learning_rate(double lr) { lr_ = lr; }
  double learning_rate() const { return lr_; }

  // One update of params (n) with the gradient g = scale * sum_c grads[c]
  // (each (n); e.g. per-chunk gradient sums, added in order c = 0, 1, ...).
  // Decay and clipping apply to g. Parallel over fixed slices of the buffer,
  // so results do not depend on the thread count. Fused into one pass over
  // memory unless clipping needs the global norm first; grads[0] may be
  // overwritten. Returns the global norm of g before clipping, or NaN when
  // clipping is off (not computed). With clear_grads every grads[c] is left
  // zeroed (cheaper than clearing them in a separate pass).
  double step(float* params, const std::vector<float*>& grads, float scale, ThreadPool& pool,
              bool clear_grads = false);
  double step(float* params, float* grad, ThreadPool& pool) { return step(params, std::vector<float*>{grad}, 1.0f, pool); }

  // The same update with the gradient produced a block at a time: source(b,
  // e, out) writes the unscaled gradient of parameters [b, e) (within the
  // active ranges) to out, and each block is consumed at once, so the whole
  // gradient is never stored (one pass over the parameters and moments).
  // With clipping, which needs the global norm first, the gradient is
  // gathered into a buffer of the optimiser's and stepped from there. The
  // same floats as step() on the gathered gradient.
  using GradientSource = std::function<void(size_t begin, size_t end, float* out)>;
  double step(float* params, const GradientSource& source, float scale, ThreadPool& pool);

  int64_t steps() const { return t_; }

  // The state beyond the options (step count and moments), to save and
  // restore exactly (checkpoints). restore() throws FormatError on a size mismatch.
  const FloatBuffer& first_moment() const { return m_; }
  const FloatBuffer& second_moment() const { return v_; }
  void restore(int64_t steps, const std::vector<float>& m, const std::vector<float>& v);

 private:
  AdamOptions opt_;
  double lr_;
  int64_t t_ = 0;
  FloatBuffer m_, v_;  // (n) first and second moments
  struct Slice {
    size_t begin, end;
    bool decay;
  };
  void build_work();
  // The bias-corrected step size and epsilon for the next step (t_ + 1), t_ advanced.
  void advance(float& step, float& eps_hat);
  std::vector<float> gathered_;  // (n) step(source) with clipping: the gradient, gathered
  std::vector<std::pair<size_t, size_t>> active_, decay_;
  std::vector<Slice> work_;  // ranges of at most kParamSlice, the parallel work items
};

// Fixed slice size for elementwise passes over parameter buffers.
constexpr size_t kParamSlice = size_t(1) << 15;

}  // namespace dgm
