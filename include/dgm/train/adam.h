// adam.h — the Adam optimiser (Kingma & Ba, 2015) over one flat float32
// parameter buffer, with L2 weight decay added to the gradient (as
// torch.optim.Adam does), gradient clipping by global norm, and a per-epoch
// multiplicative learning-rate decay applied by the caller through set_epoch().
//
//   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   theta <- theta - lr_t * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dgm/config.h"
#include "dgm/thread_pool.h"

namespace dgm {

struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double lr_decay = 1.0;      // learning rate of epoch e (1-based) = learning_rate * lr_decay^(e-1)
  double weight_decay = 0.0;  // L2 coefficient added to the gradient
  double clip_norm = 0.0;     // clip the minibatch gradient to this global L2 norm; 0 = off
};

// Reads learning_rate, beta1, beta2, epsilon, lr_decay, weight_decay and
// clip_norm from a "train" section (defaults from `def`).
AdamOptions read_adam_options(ConfigSection& train, const AdamOptions& def = {});

class Adam {
 public:
  Adam(size_t num_params, const AdamOptions& opt);

  // Learning rate for the given 1-based epoch.
  void set_epoch(int64_t epoch);
  double learning_rate() const { return lr_; }

  // One update of params (n) with gradient grad (n, the mean over the minibatch;
  // modified in place by decay and clipping). Parallel over fixed slices of
  // the buffer, so results do not depend on the thread count. Returns the
  // global gradient norm before clipping.
  double step(float* params, float* grad, ThreadPool& pool);

  int64_t steps() const { return t_; }

 private:
  AdamOptions opt_;
  double lr_;
  int64_t t_ = 0;
  std::vector<float> m_, v_;  // (n) first and second moments
};

// Fixed slice size for elementwise passes over parameter buffers.
constexpr size_t kParamSlice = size_t(1) << 15;

}  // namespace dgm
