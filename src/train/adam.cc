// adam.cc — Adam with L2 or decoupled (AdamW) weight decay, global-norm
// clipping and a caller-set learning rate (Kingma & Ba, 2015, Algorithm 1;
// Loshchilov & Hutter, 2019, Algorithm 2).
#include "dgm/train/adam.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "dgm/error.h"

namespace dgm {

AdamOptions read_adam_options(ConfigSection& t, const AdamOptions& def) {
  AdamOptions o;
  o.decoupled = t.get_choice("optimizer", def.decoupled ? "adamw" : "adam", {"adam", "adamw"}) == "adamw";
  o.learning_rate = t.get_double("learning_rate", def.learning_rate, 1e-12, 10.0);
  o.beta1 = t.get_double("beta1", def.beta1, 0.0, 0.999999);
  o.beta2 = t.get_double("beta2", def.beta2, 0.0, 0.99999999);
  o.epsilon = t.get_double("epsilon", def.epsilon, 1e-30, 1.0);
  o.lr_decay = t.get_double("lr_decay", def.lr_decay, 1e-6, 1.0);
  o.weight_decay = t.get_double("weight_decay", def.weight_decay, 0.0, 10.0);
  o.clip_norm = t.get_double("clip_norm", def.clip_norm, 0.0, 1e12);
  return o;
}

Adam::Adam(size_t n, const AdamOptions& opt) : opt_(opt), lr_(opt.learning_rate), m_(n, 0.0f), v_(n, 0.0f) {
  set_active({});
}

void Adam::set_active(const std::vector<std::pair<size_t, size_t>>& ranges) {
  active_ = ranges;
  build_work();
}

void Adam::set_decay(const std::vector<std::pair<size_t, size_t>>& ranges) {
  decay_ = ranges;
  build_work();
}

void Adam::build_work() {
  work_.clear();
  // Slices of at most kParamSlice within each active range, also cut where
  // decay starts or stops (each slice is decayed or not as a whole).
  auto add = [&](size_t b, size_t e, bool decay) {
    for (; b < e; b += kParamSlice) work_.push_back({b, std::min(e, b + kParamSlice), decay});
  };
  auto add_range = [&](size_t b, size_t e) {
    if (decay_.empty()) return add(b, e, true);
    size_t at = b;
    for (const auto& d : decay_) {
      const size_t db = std::max(d.first, b), de = std::min(d.second, e);
      if (db >= de) continue;
      if (at < db) add(at, db, false);
      add(db, de, true);
      at = de;
    }
    if (at < e) add(at, e, false);
  };
  if (active_.empty()) add_range(0, m_.size());
  for (const auto& r : active_) add_range(r.first, std::min(r.second, m_.size()));
}

void Adam::restore(int64_t steps, const std::vector<float>& m, const std::vector<float>& v) {
  if (m.size() != m_.size() || v.size() != v_.size() || steps < 0)
    throw FormatError("optimiser state of " + std::to_string(m.size()) + " parameters, expected " +
                      std::to_string(m_.size()));
  t_ = steps;
  m_.assign(m.begin(), m.end());
  v_.assign(v.begin(), v.end());
}

void Adam::set_epoch(int64_t epoch) { lr_ = opt_.learning_rate * std::pow(opt_.lr_decay, double(epoch - 1)); }

void Adam::advance(float& step, float& eps_hat) {
  ++t_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(opt_.beta2, double(t_));
  // Both bias corrections folded into the step size and epsilon (the textbook
  // form up to rounding): lr sqrt(bc2) / bc1 * m / (sqrt(v) + eps sqrt(bc2)).
  step = float(lr_ * std::sqrt(bc2) / bc1);
  eps_hat = float(opt_.epsilon * std::sqrt(bc2));
}

double Adam::step(float* params, const GradientSource& source, float scale, ThreadPool& pool) {
  if (opt_.clip_norm > 0) {
    if (gathered_.size() != m_.size()) gathered_.assign(m_.size(), 0.0f);
    pool.run(work_.size(), [&](size_t c) { source(work_[c].begin, work_[c].end, gathered_.data() + work_[c].begin); });
    return step(params, std::vector<float*>{gathered_.data()}, scale, pool);
  }
  const float wd_all = opt_.decoupled ? 0.0f : float(opt_.weight_decay);
  const float b1 = float(opt_.beta1), b2 = float(opt_.beta2);
  float step, eps_hat;
  advance(step, eps_hat);
  const float shrink_all = opt_.decoupled ? float(1.0 - lr_ * opt_.weight_decay) : 1.0f;
  pool.run(work_.size(), [&](size_t c) {
    const float wd = work_[c].decay ? wd_all : 0.0f;
    const float shrink = work_[c].decay ? shrink_all : 1.0f;
    // Blocks small enough to stay in L1 between the source's write and the update.
    constexpr size_t kBlock = 2048;
    alignas(64) float block[kBlock];
    for (size_t b = work_[c].begin; b < work_[c].end; b += kBlock) {
      const size_t e = std::min(work_[c].end, b + kBlock);
      source(b, e, block);
      const float* __restrict g0 = block - b;
      float* __restrict p = params;
      float* __restrict m = m_.data();
      float* __restrict v = v_.data();
      const float scale_k = scale, b1_k = b1, b2_k = b2, step_k = step, eps_k = eps_hat;
      // The statements of step() below, without storing g (clip is 1 here;
      // shrink is not 1 only with decoupled decay, where wd is 0, so g does
      // not depend on the order).
      if (shrink != 1.0f)
        for (size_t i = b; i < e; ++i) p[i] *= shrink;
      for (size_t i = b; i < e; ++i) {
        const float g = g0[i] * scale_k + wd * p[i];
        m[i] = b1_k * m[i] + (1.0f - b1_k) * g;
        v[i] = b2_k * v[i] + (1.0f - b2_k) * g * g;
        p[i] -= step_k * m[i] / (std::sqrt(v[i]) + eps_k);
      }
    }
  });
  return std::numeric_limits<double>::quiet_NaN();
}

double Adam::step(float* params, const std::vector<float*>& grads, float scale, ThreadPool& pool,
                  bool clear_grads) {
  const size_t chunks = work_.size();
  const size_t nc = grads.size();
  const float wd_all = opt_.decoupled ? 0.0f : float(opt_.weight_decay);
  // g_i = scale * sum_c grads[c][i] + wd * theta_i (L2), summed in a fixed order.
  auto grad_at = [&](size_t i, float wd) {
    float sum = grads[0][i];
    for (size_t c = 1; c < nc; ++c) {
      sum += grads[c][i];
      if (clear_grads) grads[c][i] = 0.0f;
    }
    return sum * scale + wd * params[i];
  };
  double norm = std::numeric_limits<double>::quiet_NaN();
  float clip = 1.0f;
  bool summed = false;
  if (opt_.clip_norm > 0) {
    // Pass 1: the summed gradient into grads[0] and its squared norm per slice.
    std::vector<double> sq(chunks, 0.0);
    pool.run(chunks, [&](size_t c) {
      const size_t b = work_[c].begin, e = work_[c].end;
      const float wd = work_[c].decay ? wd_all : 0.0f;
      double s = 0;
      for (size_t i = b; i < e; ++i) {
        const float g = grad_at(i, wd);
        grads[0][i] = g;
        s += double(g) * g;
      }
      sq[c] = s;
    });
    double norm2 = 0;
    for (double s : sq) norm2 += s;
    norm = std::sqrt(norm2);
    if (norm > opt_.clip_norm) clip = float(opt_.clip_norm / norm);
    summed = true;
  }
  const float b1 = float(opt_.beta1), b2 = float(opt_.beta2);
  float step, eps_hat;
  advance(step, eps_hat);
  // Decoupled decay: theta <- theta (1 - lr wd) before the Adam step, as torch.optim.AdamW.
  const float shrink_all = opt_.decoupled ? float(1.0 - lr_ * opt_.weight_decay) : 1.0f;
  pool.run(chunks, [&](size_t c) {
    const size_t b = work_[c].begin, e = work_[c].end;
    const float wd = work_[c].decay ? wd_all : 0.0f;
    const float shrink = work_[c].decay ? shrink_all : 1.0f;
    // Restrict-qualified locals let the compiler vectorise (the lambda's
    // captures alias as far as it knows).
    float* __restrict g0 = grads[0];
    float* __restrict p = params;
    float* __restrict m = m_.data();
    float* __restrict v = v_.data();
    if (!summed) {
      for (size_t k = 1; k < nc; ++k) {
        float* __restrict gk = grads[k];
        for (size_t i = b; i < e; ++i) g0[i] += gk[i];
        if (clear_grads) std::fill(gk + b, gk + e, 0.0f);
      }
      for (size_t i = b; i < e; ++i) g0[i] = g0[i] * scale + wd * p[i];
    }
    if (shrink != 1.0f)
      for (size_t i = b; i < e; ++i) p[i] *= shrink;
    // Scalars as locals too: read through the captures, GCC finds no vector type.
    const float clip_k = clip, b1_k = b1, b2_k = b2, step_k = step, eps_k = eps_hat;
    for (size_t i = b; i < e; ++i) {
      const float g = g0[i] * clip_k;
      m[i] = b1_k * m[i] + (1.0f - b1_k) * g;
      v[i] = b2_k * v[i] + (1.0f - b2_k) * g * g;
      p[i] -= step_k * m[i] / (std::sqrt(v[i]) + eps_k);
    }
    if (clear_grads) std::fill(g0 + b, g0 + e, 0.0f);
  });
  return norm;
}

}  // namespace dgm
