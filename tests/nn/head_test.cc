// head_test.cc — the output heads: exact normalisation over the K levels, the
// gradient against central differences, the sampler's level probabilities
// against exp(log P), draws through Rng::categorical, and no dependence of a
// sub-pixel's log-probability on its place in the vectorised batch.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "dgm/logmath.h"
#include "dgm/rng.h"
#include "nn/head.h"
#include "nn/simd_math.h"

namespace dgm::nn {
namespace {

std::vector<double> random_outputs(const DlmHead& h, Rng& rng, int64_t S) {
  std::vector<double> o(size_t(S * h.outputs()));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t j = 0; j < h.M; ++j) {
      o[size_t(s * h.outputs() + j)] = 2 * rng.uniform() - 1;
      o[size_t(s * h.outputs() + h.M + j)] = 2.4 * rng.uniform() - 1.2;
      o[size_t(s * h.outputs() + 2 * h.M + j)] = -8 + 7 * rng.uniform();  // some below the clamp
    }
  return o;
}

TEST(DlmHead, LevelsSumToOneAndMatchTheSampler) {
  for (int64_t K : {2, 3, 16, 256}) {
    DlmHead h{K, 5};
    Rng rng{uint64_t(K)};
    const int64_t S = 11;
    const std::vector<double> o = random_outputs(h, rng, S);
    std::vector<double> lp(static_cast<size_t>(K)), probs(static_cast<size_t>(K));
    std::vector<int32_t> v(static_cast<size_t>(K));
    for (int64_t s = 0; s < S; ++s) {
      // All K levels of sub-pixel s, as K copies of it in one batch.
      std::vector<double> rep;
      for (int64_t k = 0; k < K; ++k) {
        rep.insert(rep.end(), o.begin() + s * h.outputs(), o.begin() + (s + 1) * h.outputs());
        v[size_t(k)] = int32_t(k);
      }
      h.log_prob<double>(K, rep.data(), h.outputs(), v.data(), lp.data(), nullptr, nullptr);
      EXPECT_NEAR(log_sum_exp(lp.data(), size_t(K)), 0.0, 1e-12) << "K " << K;
      h.level_probs<double>(o.data() + s * h.outputs(), probs.data());
      for (int64_t k = 0; k < K; ++k) EXPECT_NEAR(probs[size_t(k)], std::exp(lp[size_t(k)]), 1e-13);
    }
  }
}

TEST(DlmHead, GradientMatchesCentralDifferences) {
  DlmHead h{256, 4};
  Rng rng(2);
  const int64_t S = 13, P = h.outputs();
  std::vector<double> o = random_outputs(h, rng, S);
  std::vector<int32_t> v(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s) v[size_t(s)] = s < 3 ? int32_t(s == 0 ? 0 : s == 1 ? 255 : 254) : int32_t(rng.below(256));
  std::vector<double> w(static_cast<size_t>(S));
  for (auto& e : w) e = 0.5 + rng.uniform();
  std::vector<double> lp(static_cast<size_t>(S)), grad(o.size());
  h.log_prob<double>(S, o.data(), P, v.data(), lp.data(), w.data(), grad.data());
  auto loss = [&](const std::vector<double>& oo) {
    std::vector<double> l(static_cast<size_t>(S));
    h.log_prob<double>(S, oo.data(), P, v.data(), l.data(), nullptr, nullptr);
    double t = 0;
    for (int64_t s = 0; s < S; ++s) t -= w[size_t(s)] * l[size_t(s)];
    return t;
  };
  for (size_t e = 0; e < o.size(); ++e) {
    const bool clamped = int64_t(e % size_t(P)) >= 2 * h.M && o[e] < DlmHead::kMinLogScale + 1e-4;
    std::vector<double> a = o, b = o;
    a[e] += 1e-6;
    b[e] -= 1e-6;
    const double fd = (loss(a) - loss(b)) / 2e-6;
    EXPECT_NEAR(grad[e], clamped ? 0.0 : fd, 1e-6 * (1 + std::fabs(fd))) << "output " << e;
  }
}

TEST(DlmHead, ResultDoesNotDependOnThePlaceInTheBatch) {
  DlmHead h{256, 5};
  Rng rng(7);
  const int64_t S = 19, P = h.outputs();
  const std::vector<float> base = [&] {
    std::vector<double> d = random_outputs(h, rng, S);
    return std::vector<float>(d.begin(), d.end());
  }();
  std::vector<int32_t> v(static_cast<size_t>(S));
  for (auto& e : v) e = int32_t(rng.below(256));
  std::vector<double> lp(static_cast<size_t>(S));
  h.log_prob<float>(S, base.data(), P, v.data(), lp.data(), nullptr, nullptr);
  for (int64_t s = 0; s < S; ++s) {
    double one;
    h.log_prob<float>(1, base.data() + s * P, P, &v[size_t(s)], &one, nullptr, nullptr);
    EXPECT_EQ(one, lp[size_t(s)]) << s;
  }
}

// The vectorised binary head against libm: log P(1) and log P(0) to 2e-15
// relative (and exp(both) sums to 1), the gradient sigmoid(z) - t, and the
// same value whatever a logit's place in the batch (tails included).
TEST(BernoulliHead, MatchesLibmAndSumsToOne) {
  Rng rng(3);
  const int64_t n = 1003;
  std::vector<float> z(static_cast<size_t>(n)), one(static_cast<size_t>(n), 1.0f), zero(static_cast<size_t>(n), 0.0f);
  for (int64_t j = 0; j < n; ++j) z[size_t(j)] = float(j < 10 ? (j - 5) * 15.0 : 60 * rng.uniform() - 30);
  std::vector<double> l1(static_cast<size_t>(n)), l0(static_cast<size_t>(n));
  std::vector<float> dz(static_cast<size_t>(n));
  bernoulli_log_prob(z.data(), one.data(), n, l1.data(), dz.data());
  bernoulli_log_prob(z.data(), zero.data(), n, l0.data(), nullptr);
  for (int64_t j = 0; j < n; ++j) {
    const double x = double(z[size_t(j)]);
    const double want1 = x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
    const double want0 = -x >= 0 ? -std::log1p(std::exp(x)) : -x - std::log1p(std::exp(-x));
    EXPECT_NEAR(l1[size_t(j)], want1, 2e-15 * std::max(1.0, std::fabs(want1))) << x;
    EXPECT_NEAR(l0[size_t(j)], want0, 2e-15 * std::max(1.0, std::fabs(want0))) << x;
    EXPECT_NEAR(std::exp(l1[size_t(j)]) + std::exp(l0[size_t(j)]), 1.0, 1e-15);
    EXPECT_NEAR(dz[size_t(j)], 1 / (1 + std::exp(-x)) - 1, 1e-7);
    double single;
    bernoulli_log_prob(&z[size_t(j)], &one[size_t(j)], 1, &single, nullptr);
    EXPECT_EQ(single, l1[size_t(j)]);
  }
}

// The double exp and log1p packets of simd_math.h that the binary head runs
// on (AVX-512, or 4 lanes under AVX2) against libm, over the whole range:
// within 2 ulp where e^x is a normal double, within 2 of the smallest
// subnormal below it (vscalefpd, or two exponent factors under AVX2), 0 far
// below and inf above 709.8.
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
void exp_log1p(const double* x, double* e, double* l) {
#if defined(__AVX512F__)
  _mm512_storeu_pd(e, simd::exp_pd(_mm512_loadu_pd(x)));
  _mm512_storeu_pd(l, simd::log1p_pd(_mm512_loadu_pd(x + 8)));
#else
  _mm256_storeu_pd(e, simd::exp_pd4(_mm256_loadu_pd(x)));
  _mm256_storeu_pd(l, simd::log1p_pd4(_mm256_loadu_pd(x + 8)));
#endif
}

TEST(BernoulliHead, ExpAndLog1pPacketsMatchLibm) {
  Rng rng(9);
  const double tiny = std::numeric_limits<double>::denorm_min(), inf = std::numeric_limits<double>::infinity();
  for (int trial = 0; trial < 40000; ++trial) {
    // 16 doubles: 8 exp arguments (only the first 4 are checked), then 8 of log1p.
    double x[16], e[8], l[8];
    for (int k = 0; k < 4; ++k) {
      const double fixed[] = {0.0, -0.0, -708.0, -708.5, -720.0, -745.0, -745.2, -800.0, -3000.0, 709.7, 709.8, 1e4};
      x[k] = trial < 3 ? fixed[(trial * 4 + k) % 12] : 1600 * rng.uniform() - 900;
      x[4 + k] = x[k];
    }
    for (int k = 8; k < 16; ++k) x[k] = k == 8 && trial < 2 ? (trial ? 1e-300 : 0.0) : std::ldexp(rng.uniform(), -int(rng.below(60)));
    exp_log1p(x, e, l);
    for (int k = 0; k < 4; ++k) {
      const double want = std::exp(x[k]);
      if (want == inf) EXPECT_EQ(e[k], inf) << x[k];
      else if (want >= std::numeric_limits<double>::min()) EXPECT_NEAR(e[k], want, 4.5e-16 * want) << x[k];
      else EXPECT_NEAR(e[k], want, 2 * tiny) << x[k];
    }
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(l[k], std::log1p(x[8 + k]), 4.5e-16 * std::log1p(x[8 + k])) << x[8 + k];
  }
}
#endif

TEST(SoftmaxHead, NormalisedGradientAndDraws) {
  const int64_t K = 37;
  Rng rng(4);
  std::vector<float> z(static_cast<size_t>(K));
  for (auto& e : z) e = float(4 * rng.uniform() - 2);
  std::vector<double> lp(static_cast<size_t>(K));
  for (int64_t v = 0; v < K; ++v) lp[size_t(v)] = softmax_log_prob<float>(z.data(), K, int32_t(v), 1.0, nullptr);
  EXPECT_NEAR(log_sum_exp(lp.data(), size_t(K)), 0.0, 1e-13);
  std::vector<float> dz(static_cast<size_t>(K));
  softmax_log_prob<float>(z.data(), K, 3, 2.0, dz.data());
  for (int64_t k = 0; k < K; ++k)
    EXPECT_NEAR(dz[size_t(k)], 2.0 * (std::exp(lp[size_t(k)]) - (k == 3)), 1e-6);
  // Draw frequencies at temperature 1 and 0.5 (P^2 renormalised).
  for (double T : {1.0, 0.5}) {
    std::vector<double> want(static_cast<size_t>(K));
    double tot = 0;
    for (int64_t k = 0; k < K; ++k) tot += (want[size_t(k)] = std::exp(lp[size_t(k)] / T));
    std::vector<int64_t> count(static_cast<size_t>(K), 0);
    const int64_t n = 200000;
    for (int64_t i = 0; i < n; ++i) ++count[size_t(softmax_sample<float>(z.data(), K, T, rng))];
    for (int64_t k = 0; k < K; ++k) {
      const double p = want[size_t(k)] / tot;
      EXPECT_NEAR(double(count[size_t(k)]) / double(n), p, 5 * std::sqrt(p * (1 - p) / double(n)) + 1e-4);
    }
  }
}

// At temperature 1 a component, a logistic value and its bin; otherwise
// P(v)^(1/T) over every level. Frequencies within 5 standard errors.
TEST(DlmHead, DrawsFollowTheLevelProbabilities) {
  for (int64_t K : {8, 256})
    for (double T : {1.0, 0.6}) {
      DlmHead h{K, 3};
      Rng rng{uint64_t(K)};
      const std::vector<double> o = random_outputs(h, rng, 1);
      std::vector<double> p(static_cast<size_t>(K));
      h.level_probs<double>(o.data(), p.data());
      double tot = 0;
      for (auto& q : p) tot += (q = std::pow(q, 1 / T));
      for (auto& q : p) q /= tot;
      std::vector<int64_t> count(static_cast<size_t>(K), 0);
      const int64_t n = 60000;
      for (int64_t i = 0; i < n; ++i) ++count[size_t(h.sample<double>(o.data(), T, rng))];
      for (int64_t k = 0; k < K; ++k)
        EXPECT_NEAR(double(count[size_t(k)]) / double(n), p[size_t(k)], 5 * std::sqrt(p[size_t(k)] / double(n)) + 1e-4)
            << "K " << K << " T " << T << " level " << k;
    }
}

}  // namespace
}  // namespace dgm::nn
