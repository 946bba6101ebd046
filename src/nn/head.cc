// head.cc — softmax and discretized-logistic-mixture heads (head.h). Eigen's
// vectorised exp/log run only on 64-byte-aligned buffers or fixed-size
// packets: on an unaligned map Eigen peels a scalar head whose rounding
// differs, and a sub-pixel's probability would depend on where its outputs lie.
#include "nn/head.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "nn/eigen.h"

#include "nn/simd_math.h"
#include "nn/workspace.h"

namespace dgm::nn {

namespace {

using ArrA = Eigen::Map<Eigen::ArrayXd, Eigen::Aligned64>;
constexpr int kLanes = 8;
using Pack = Eigen::Array<double, kLanes, 1>;

// Eigen 3.4 evaluates select() coefficient by coefficient: every costly term
// is computed as a whole packet before it, and select() only picks lanes.

// log(1 + x), accurate for small x (x >= 0 here).
inline Pack log1p_pack(const Pack& x) {
  const Pack u = x + 1.0;
  const Pack r = u.log() * x / (u - 1.0);
  return (u == Pack::Ones()).select(x, r);
}

// e^x - 1, accurate for small |x| (Kahan's form; x <= 0 here).
inline Pack expm1_pack(const Pack& x) {
  const Pack u = x.exp();
  const Pack um1 = u - 1.0;
  const Pack r = um1 * x / u.log();
  return (u == Pack::Ones()).select(x, (um1 == -Pack::Ones()).select(-Pack::Ones(), r));
}

// sigma(u) from e = e^-|u|: 1 / (1 + e) for u >= 0, e / (1 + e) otherwise.
inline Pack sigmoid_pack(const Pack& u, const Pack& e) {
  const Pack inv = 1.0 / (1.0 + e);
  const Pack alt = e * inv;
  return (u >= 0.0).select(inv, alt);
}

}  // namespace

void bernoulli_log_prob(const float* z, const float* t, int64_t n, double* lp, float* dz) {
  // log sigmoid(s) = -softplus(-s) = -(max(-s, 0) + log(1 + e^-|s|)), s = +-z;
  // e^-|s| = e^-|z| also gives sigmoid(z) for the gradient.
  int64_t j0 = 0;
#if defined(__AVX512F__)
  const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
  const __m512d sign = _mm512_set1_pd(-0.0);
  for (; j0 < n; j0 += kLanes) {
    const int64_t nl = std::min<int64_t>(kLanes, n - j0);
    const __mmask8 m = __mmask8((1u << nl) - 1u);
    const __m512d zd = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, z + j0));
    const __m512d td = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, t + j0));
    const __m512d s = _mm512_mul_pd(_mm512_sub_pd(_mm512_add_pd(td, td), one), zd);  // (2t - 1) z
    const __m512d e = simd::exp_pd(_mm512_or_pd(_mm512_andnot_pd(sign, zd), sign));  // e^-|z|
    const __m512d sp = _mm512_add_pd(_mm512_max_pd(_mm512_sub_pd(zero, s), zero), simd::log1p_pd(e));
    simd::store(lp + j0, m, _mm512_sub_pd(zero, sp));
    if (dz) {
      const __m512d inv = _mm512_div_pd(one, _mm512_add_pd(one, e));
      const __mmask8 pos = _mm512_cmp_pd_mask(zd, zero, _CMP_GE_OQ);
      const __m512d sig = _mm512_mask_blend_pd(pos, _mm512_mul_pd(e, inv), inv);
      simd::store(dz + j0, m, _mm512_cvtpd_ps(_mm512_sub_pd(sig, td)));
    }
  }
#elif defined(__AVX2__) && defined(__FMA__)
  // The same operations, 4 lanes at a time (the last ones masked, so that a
  // value never depends on where its lane lies).
  const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd(), sign = _mm256_set1_pd(-0.0);
  // Whole groups of kU x 4 lanes with the kU vectors' exp and log1p chains
  // interleaved (exp_pd4_n, log1p_pd4_n: one vector's chain of 30 dependent
  // fused multiply-adds left the FMA units mostly idle), then the rest 4 at
  // a time; each lane's operations are the same either way.
  constexpr int kU = 4;
  for (; j0 + 4 * kU <= n; j0 += 4 * kU) {
    __m256d zd[kU], td[kU], a[kU], e[kU], l[kU];
    #pragma GCC unroll 8
    for (int u = 0; u < kU; ++u) {
      zd[u] = _mm256_cvtps_pd(_mm_loadu_ps(z + j0 + 4 * u));
      td[u] = _mm256_cvtps_pd(_mm_loadu_ps(t + j0 + 4 * u));
      a[u] = _mm256_or_pd(_mm256_andnot_pd(sign, zd[u]), sign);
    }
    simd::exp_pd4_n<kU>(a, e);
    #pragma GCC unroll 8
    for (int u = 0; u < kU; ++u)  // max(-s, 0), -s = 0 - (2t - 1) z in one rounding (exact: 2t - 1 is +-1)
      a[u] = _mm256_max_pd(_mm256_fnmadd_pd(_mm256_sub_pd(_mm256_add_pd(td[u], td[u]), one), zd[u], zero), zero);
    simd::log1p_pd4_n<kU>(e, l, a);  // sp = log1p(e) + max(-s, 0)
    #pragma GCC unroll 8
    for (int u = 0; u < kU; ++u) {
      _mm256_storeu_pd(lp + j0 + 4 * u, _mm256_sub_pd(zero, l[u]));
      if (dz) {
        const __m256d inv = _mm256_div_pd(one, _mm256_add_pd(one, e[u]));
        const __m256d sig = _mm256_blendv_pd(_mm256_mul_pd(e[u], inv), inv, _mm256_cmp_pd(zd[u], zero, _CMP_GE_OQ));
        _mm_storeu_ps(dz + j0 + 4 * u, _mm256_cvtpd_ps(_mm256_sub_pd(sig, td[u])));
      }
    }
  }
  for (; j0 < n; j0 += 4) {
    const int nl = int(std::min<int64_t>(4, n - j0));
    const __m128i m = _mm_cmpgt_epi32(_mm_set1_epi32(nl), _mm_setr_epi32(0, 1, 2, 3));
    const __m256i m2 = _mm256_cvtepi32_epi64(m);
    const __m256d zd = _mm256_cvtps_pd(_mm_maskload_ps(z + j0, m)), td = _mm256_cvtps_pd(_mm_maskload_ps(t + j0, m));
    const __m256d e = simd::exp_pd4(_mm256_or_pd(_mm256_andnot_pd(sign, zd), sign));
    const __m256d ms = _mm256_max_pd(_mm256_fnmadd_pd(_mm256_sub_pd(_mm256_add_pd(td, td), one), zd, zero), zero);
    __m256d sp;
    simd::log1p_pd4_n<1>(&e, &sp, &ms);
    _mm256_maskstore_pd(lp + j0, m2, _mm256_sub_pd(zero, sp));
    if (dz) {
      const __m256d inv = _mm256_div_pd(one, _mm256_add_pd(one, e));
      const __m256d sig = _mm256_blendv_pd(_mm256_mul_pd(e, inv), inv, _mm256_cmp_pd(zd, zero, _CMP_GE_OQ));
      _mm_maskstore_ps(dz + j0, m, _mm256_cvtpd_ps(_mm256_sub_pd(sig, td)));
    }
  }
#endif
  for (; j0 < n; ++j0) {
    const double zd = double(z[j0]), td = double(t[j0]), s = (2 * td - 1) * zd, e = std::exp(-std::fabs(zd));
    lp[j0] = -(std::max(-s, 0.0) + std::log1p(e));
    if (dz) dz[j0] = float((zd >= 0 ? 1 / (1 + e) : e / (1 + e)) - td);
  }
}

template <typename T>
double softmax_log_prob(const T* z, int64_t K, int32_t v, double w, T* dz) {
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  double* e = ws.take<double>(size_t(K));
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < K; ++k) m = std::max(m, double(z[k]));
  ArrA E(e, K);
  for (int64_t k = 0; k < K; ++k) e[k] = double(z[k]) - m;
  E = E.exp();
  const double lse = m + std::log(E.sum());
  if (dz) {
    const double scale = w / std::exp(lse - m);
    for (int64_t k = 0; k < K; ++k) dz[k] = T(e[k] * scale);
    dz[v] -= T(w);
  }
  return double(z[v]) - lse;
}

template <typename T>
int32_t softmax_sample(const T* z, int64_t K, double temperature, Rng& rng) {
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  double* e = ws.take<double>(size_t(K));
  const double inv_t = 1.0 / temperature;
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < K; ++k) m = std::max(m, double(z[k]) * inv_t);
  for (int64_t k = 0; k < K; ++k) e[k] = double(z[k]) * inv_t - m;
  ArrA E(e, K);
  E = E.exp();
  return int32_t(rng.categorical(e, size_t(K), E.sum()));
}

template <typename T>
void DlmHead::log_prob(int64_t S, const T* o, int64_t stride, const int32_t* v, double* lp, const double* w,
                       T* d_o) const {
  const double h = 1.0 / double(K - 1);
  const int64_t Mi = M;
  // Per component j, one packet (lanes = sub-pixels) of each input and of what
  // the gradient needs, in the thread's workspace.
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  double* store = ws.take<double>(size_t(10 * Mi * kLanes));
  auto packs = [&](int q) {
    return [base = store + q * Mi * kLanes](int64_t j) { return Eigen::Map<Pack, Eigen::Aligned64>(base + j * kLanes); };
  };
  auto logit = packs(0), mu = packs(1), ls = packs(2), lt = packs(3), lpi = packs(4), da = packs(5), db = packs(6),
       aa = packs(7), bb = packs(8), inv_s = packs(9);
  for (int64_t s0 = 0; s0 < S; s0 += kLanes) {
    const int64_t nl = std::min<int64_t>(kLanes, S - s0);
    Pack c, is0, isK, wl;
    for (int l = 0; l < kLanes; ++l) {
      const int64_t s = s0 + std::min<int64_t>(l, nl - 1);  // idle lanes repeat the last sub-pixel
      const T* os = o + s * stride;
      for (int64_t j = 0; j < Mi; ++j) {
        logit(j)[l] = double(os[j]);
        mu(j)[l] = double(os[Mi + j]);
        ls(j)[l] = double(os[2 * Mi + j]);
      }
      c[l] = 2.0 * double(v[s]) * h - 1.0;
      is0[l] = v[s] == 0 ? 1.0 : 0.0;
      isK[l] = v[s] == K - 1 ? 1.0 : 0.0;
      wl[l] = w ? w[s] : 1.0;
    }
    Pack mx = logit(0);
    for (int64_t j = 1; j < Mi; ++j) mx = mx.max(logit(j));
    Pack se = Pack::Zero();
    for (int64_t j = 0; j < Mi; ++j) se += (logit(j) - mx).exp();
    const Pack lse = mx + se.log();
    const auto first = is0 > 0.5, last = isK > 0.5;
    Pack tmax = Pack::Constant(-std::numeric_limits<double>::infinity());
    for (int64_t j = 0; j < Mi; ++j) {
      const int64_t jj = j;
      lpi(jj) = logit(jj) - lse;
      inv_s(jj) = (-ls(jj).max(kMinLogScale)).exp();
      const Pack a = (c + h - mu(jj)) * inv_s(jj), b = (c - h - mu(jj)) * inv_s(jj);
      // softplus(-a), sigmoid(-a), softplus(b), sigmoid(b) from e^-|a|, e^-|b|.
      const Pack ea = (-a.abs()).exp(), eb = (-b.abs()).exp();
      const Pack sp_na = (-a).max(0.0) + log1p_pack(ea), sp_b = b.max(0.0) + log1p_pack(eb);
      const Pack na = -a;
      const Pack sig_na = sigmoid_pack(na, ea), sig_b = sigmoid_pack(b, eb);
      // sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^(b-a)): every factor stable.
      const Pack em = -expm1_pack(b - a);  // 1 - e^-(a-b), in (0, 1]
      const Pack mid = -sp_na - sp_b + em.log();
      const Pack L = first.select(-sp_na, last.select(-sp_b, mid));
      lt(jj) = lpi(jj) + L;
      tmax = tmax.max(lt(jj));
      if (d_o) {
        const Pack r = (1.0 - em) / em;  // 1 / (e^(a-b) - 1)
        da(jj) = first.select(sig_na, last.select(Pack::Zero(), sig_na + r));
        db(jj) = first.select(Pack::Zero(), last.select(-sig_b, -sig_b - r));
        aa(jj) = a;
        bb(jj) = b;
      }
    }
    Pack z = Pack::Zero();
    for (int64_t j = 0; j < Mi; ++j) z += (lt(j) - tmax).exp();
    const Pack lpv = tmax + z.log();
    for (int l = 0; l < nl; ++l) lp[s0 + l] = lpv[l];
    if (!d_o) continue;
    for (int64_t j = 0; j < Mi; ++j) {
      const int64_t jj = j;
      const Pack post = (lt(jj) - lpv).exp(), pi = lpi(jj).exp();
      const Pack g_logit = wl * (pi - post);
      const Pack g_mu = wl * post * (da(jj) + db(jj)) * inv_s(jj);
      const Pack g_scale = wl * post * (da(jj) * aa(jj) + db(jj) * bb(jj));
      const Pack g_ls = (ls(jj) > kMinLogScale).select(g_scale, 0.0);
      for (int l = 0; l < nl; ++l) {
        T* ds = d_o + (s0 + l) * stride;
        ds[j] = T(g_logit[l]);
        ds[Mi + j] = T(g_mu[l]);
        ds[2 * Mi + j] = T(g_ls[l]);
      }
    }
  }
}

namespace {

// One sub-pixel's mixture: weights pi_j (and their sum, 1 within rounding),
// means and inverse scales.
struct Mixture {
  int64_t M = 0;
  double total = 0;
  const double *pi = nullptr, *mu = nullptr, *inv_s = nullptr;
};

template <typename T>
Mixture prepare(const DlmHead& hd, const T* o, double* store) {
  Mixture mx;
  mx.M = hd.M;
  double* pi = store;
  double* mu = store + hd.M;
  double* inv_s = store + 2 * hd.M;
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < hd.M; ++j) m = std::max(m, double(o[j]));
  double se = 0;
  for (int64_t j = 0; j < hd.M; ++j) se += std::exp(double(o[j]) - m);
  for (int64_t j = 0; j < hd.M; ++j) {
    pi[j] = std::exp(double(o[j]) - m) / se;
    mx.total += pi[j];
    mu[j] = double(o[hd.M + j]);
    inv_s[j] = std::exp(-std::max(double(o[2 * hd.M + j]), DlmHead::kMinLogScale));
  }
  mx.pi = pi, mx.mu = mu, mx.inv_s = inv_s;
  return mx;
}

// G[k] = sum_j pi_j sigma((e_v - mu_j) / s_j) at the bin edges v = v0 + k step,
// k < count, e_v = (2v + 1) h - 1 (the edge between levels v and v + 1); G
// has room for count rounded up to a packet.
void mixture_cdf(const Mixture& mx, double h, int64_t v0, int64_t step, int64_t count, double* G) {
  const int64_t padded = (count + kLanes - 1) / kLanes * kLanes;
  std::fill(G, G + padded, 0.0);
  for (int64_t e0 = 0; e0 < padded; e0 += kLanes) {
    Pack edge;
    for (int l = 0; l < kLanes; ++l) edge[l] = double(2 * (v0 + (e0 + l) * step) + 1) * h - 1.0;
    Eigen::Map<Pack, Eigen::Aligned64> g(G + e0);
    for (int64_t j = 0; j < mx.M; ++j) g += mx.pi[j] / (1.0 + (-(edge - mx.mu[j]) * mx.inv_s[j]).exp());
  }
}

// Bin weights from CDF values: w[k] = G[k] - G[k-1] over count + 1 bins, with
// G[-1] = lo and G[count] = hi, G clamped (in place) to be nondecreasing in
// [lo, hi] so rounding never makes a weight negative.
void bin_weights(double* G, int64_t count, double lo, double hi, double* w) {
  double prev = lo;
  for (int64_t k = 0; k < count; ++k) {
    G[k] = std::min(std::max(G[k], prev), hi);
    w[k] = G[k] - prev;
    prev = G[k];
  }
  w[count] = hi - prev;
}

}  // namespace

template <typename T>
void DlmHead::level_probs(const T* o, double* p) const {
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  const Mixture mx = prepare(*this, o, ws.take<double>(size_t(3 * M)));
  double* G = ws.take<double>(size_t(K + kLanes));
  mixture_cdf(mx, 1.0 / double(K - 1), 0, 1, K - 1, G);
  bin_weights(G, K - 1, 0.0, mx.total, p);
}

template <typename T>
int32_t DlmHead::sample(const T* o, double temperature, Rng& rng) const {
  Workspace& ws = thread_workspace();
  Workspace::Frame frame(ws);
  if (temperature != 1.0) {
    // P(v)^(1/T) needs every level.
    double* p = ws.take<double>(size_t(K));
    level_probs(o, p);
    const double inv_t = 1.0 / temperature;
    double total = 0;
    for (int64_t v = 0; v < K; ++v) total += (p[v] = p[v] > 0 ? std::exp(std::log(p[v]) * inv_t) : 0.0);
    return int32_t(rng.categorical(p, size_t(K), total));
  }
  // At temperature 1 the mixture is sampled as it is defined: a component j
  // from pi (THE categorical draw), a logistic value y = mu_j + s_j logit(u)
  // from one more uniform, and the bin y falls in (the first and last bins
  // open), so P(v) = sum_j pi_j P(y_j in bin v) exactly (Salimans et al. 2017).
  const Mixture mx = prepare(*this, o, ws.take<double>(size_t(3 * M)));
  const size_t j = rng.categorical(mx.pi, size_t(M), mx.total);
  const double u = rng.uniform();
  const double y = mx.mu[j] + (std::log(u) - std::log1p(-u)) / mx.inv_s[j];
  // Bin v is centred at c_v = 2 v h - 1 with half-width h = 1 / (K - 1).
  const double t = std::floor((y + 1.0) * 0.5 * double(K - 1) + 0.5);
  return int32_t(std::clamp(t, 0.0, double(K - 1)));
}

#define DGM_NN_HEAD(T)                                                                                        \
  template double softmax_log_prob<T>(const T*, int64_t, int32_t, double, T*);                                \
  template int32_t softmax_sample<T>(const T*, int64_t, double, Rng&);                  \
  template void DlmHead::log_prob<T>(int64_t, const T*, int64_t, const int32_t*, double*, const double*, T*) \
      const;                                                                                                  \
  template void DlmHead::level_probs<T>(const T*, double*) const;                                             \
  template int32_t DlmHead::sample<T>(const T*, double, Rng&) const;
DGM_NN_HEAD(float)
DGM_NN_HEAD(double)
#undef DGM_NN_HEAD

}  // namespace dgm::nn
