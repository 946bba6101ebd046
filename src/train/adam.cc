// adam.cc — Adam with L2 weight decay, global-norm clipping and per-epoch
// learning-rate decay (Kingma & Ba, 2015, Algorithm 1).
#include "dgm/train/adam.h"

#include <algorithm>
#include <cmath>

namespace dgm {

AdamOptions read_adam_options(ConfigSection& t, const AdamOptions& def) {
  AdamOptions o;
  o.learning_rate = t.get_double("learning_rate", def.learning_rate, 1e-12, 10.0);
  o.beta1 = t.get_double("beta1", def.beta1, 0.0, 0.999999);
  o.beta2 = t.get_double("beta2", def.beta2, 0.0, 0.99999999);
  o.epsilon = t.get_double("epsilon", def.epsilon, 1e-30, 1.0);
  o.lr_decay = t.get_double("lr_decay", def.lr_decay, 1e-6, 1.0);
  o.weight_decay = t.get_double("weight_decay", def.weight_decay, 0.0, 10.0);
  o.clip_norm = t.get_double("clip_norm", def.clip_norm, 0.0, 1e12);
  return o;
}

Adam::Adam(size_t n, const AdamOptions& opt) : opt_(opt), lr_(opt.learning_rate), m_(n, 0.0f), v_(n, 0.0f) {}

void Adam::set_epoch(int64_t epoch) { lr_ = opt_.learning_rate * std::pow(opt_.lr_decay, double(epoch - 1)); }

double Adam::step(float* params, float* grad, ThreadPool& pool) {
  const size_t n = m_.size();
  const size_t chunks = num_chunks(n, kParamSlice);
  const float wd = float(opt_.weight_decay);
  // Pass 1: weight decay and the squared norm, per slice, summed in slice order.
  std::vector<double> sq(chunks, 0.0);
  pool.run(chunks, [&](size_t c) {
    const size_t b = c * kParamSlice, e = std::min(n, b + kParamSlice);
    double s = 0;
    for (size_t i = b; i < e; ++i) {
      if (wd != 0.0f) grad[i] += wd * params[i];
      s += double(grad[i]) * grad[i];
    }
    sq[c] = s;
  });
  double norm2 = 0;
  for (double s : sq) norm2 += s;
  const double norm = std::sqrt(norm2);
  const float scale = (opt_.clip_norm > 0 && norm > opt_.clip_norm) ? float(opt_.clip_norm / norm) : 1.0f;
  ++t_;
  const float b1 = float(opt_.beta1), b2 = float(opt_.beta2);
  const double bc1 = 1.0 - std::pow(opt_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(opt_.beta2, double(t_));
  // Folds both bias corrections into the step size and epsilon (same as the
  // textbook form up to rounding): lr * sqrt(bc2) / bc1 * m / (sqrt(v) + eps sqrt(bc2)).
  const float step = float(lr_ * std::sqrt(bc2) / bc1);
  const float eps_hat = float(opt_.epsilon * std::sqrt(bc2));
  pool.run(chunks, [&](size_t c) {
    const size_t b = c * kParamSlice, e = std::min(n, b + kParamSlice);
    float* m = m_.data();
    float* v = v_.data();
    for (size_t i = b; i < e; ++i) {
      const float g = grad[i] * scale;
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      params[i] -= step * m[i] / (std::sqrt(v[i]) + eps_hat);
    }
  });
  return norm;
}

}  // namespace dgm
