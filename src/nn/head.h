// head.h — the output heads of the neural models, as exact log-probabilities
// in double from float (or double) network outputs, with their gradients, and
// vectorised draws through THE categorical draw (Rng::categorical):
//   - a K-way softmax over logits;
//   - the discretized logistic mixture over K levels (Salimans et al. 2017,
//     PixelCNN++ eq. 2): P(v) = sum_m pi_m [sigma((c_v + h - mu_m) / s_m) -
//     sigma((c_v - h - mu_m) / s_m)], bins of half-width h = 1 / (K - 1)
//     centred at c_v = 2 v h - 1, the first bin open to -inf and the last to
//     +inf, so the K probabilities telescope to 1.
// Log-probabilities are evaluated in double with stable forms (softplus,
// log(1 - e^-g)), so the K probabilities of a position sum to 1 to double
// precision; the mixture is vectorised over sub-pixels (8 a packet). A draw at
// temperature 1 follows the mixture's definition (a component, a logistic
// value, its bin); at other temperatures every bin's probability comes from
// the mixture CDF at the K - 1 bin edges, vectorised over edges.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dgm/rng.h"

namespace dgm::nn {

// Binary positions: lp[j] = log P(t_j | z_j) = log sigmoid((2 t_j - 1) z_j) for
// n logits z and targets t in {0, 1}, in double (P(0) + P(1) = 1 to double
// precision); when dz is non-null, dz[j] = sigmoid(z_j) - t_j, the gradient of
// -log P. Vectorised, and every value independent of its neighbours.
void bernoulli_log_prob(const float* z, const float* t, int64_t n, double* lp, float* dz);

// log softmax(z)_v from K logits; when dz is non-null, dz = w (softmax(z) -
// onehot(v)), the gradient of -w log P(v).
template <typename T>
double softmax_log_prob(const T* z, int64_t K, int32_t v, double w, T* dz);

// A level drawn from softmax(z / temperature).
template <typename T>
int32_t softmax_sample(const T* z, int64_t K, double temperature, Rng& rng);

// The discretized logistic mixture with M components over K >= 2 levels.
// A sub-pixel's outputs o: M mixture logits, M means (the levels mapped to
// [-1, 1]), M log-scales (clamped below at kMinLogScale).
struct DlmHead {
  int64_t K = 256, M = 10;
  static constexpr double kMinLogScale = -7.0;

  int64_t outputs() const { return 3 * M; }
  // lp[s] = log P(v[s]) for S sub-pixels whose outputs start at o + s * stride.
  // When d_o is non-null, writes w[s] * d(-log P(v[s])) / d o at d_o + s * stride
  // (w null: weight 1).
  template <typename T>
  void log_prob(int64_t S, const T* o, int64_t stride, const int32_t* v, double* lp, const double* w, T* d_o) const;
  // p[v] = P(v) for every level of one sub-pixel (K values, summing to 1 within
  // rounding): for sampling.
  template <typename T>
  void level_probs(const T* o, double* p) const;
  // A level drawn from P(v)^(1/temperature), renormalised (two uniforms at
  // temperature 1, one otherwise).
  template <typename T>
  int32_t sample(const T* o, double temperature, Rng& rng) const;
};

}  // namespace dgm::nn
