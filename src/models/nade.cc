// nade.cc — NADE, the Neural Autoregressive Distribution Estimator (Larochelle
// & Murray, 2011): h_d = sigmoid(a_d), P(x_d | x_<d) = softmax(0, b_d + V_d h_d),
// with one shared input matrix and the running sum a_1 = c (+ U y),
// a_{d+1} = a_d + W[:, d] x_d, so all D conditionals cost O(D H) a sample.
//
// Batched over a chunk of n rows: A (n, H) advances position by position; the
// gradient (hand-written, eq. 3 of the paper generalised to softmax outputs)
// runs backwards over blocks of kBlock positions, recomputing each block's
// hidden states from a checkpoint of A so every sigmoid is evaluated once and
// memory stays O(n H D / kBlock).
#include <algorithm>
#include <cmath>
#include <memory>

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
using RowF = Eigen::Matrix<float, 1, Eigen::Dynamic>;

constexpr int64_t kBlock = 16;  // positions a checkpoint block

// h = sigmoid(a) over n floats, the hot loop of NADE (D*H sigmoids a sample).
// With AVX-512: Eigen 3.4's rational approximation of the logistic (odd/even
// polynomials p/q, exp below -9) with the division replaced by the hardware
// reciprocal estimate plus one Newton step (relative error ~1e-7); vdivps was
// the single most expensive instruction of training.
#if defined(__AVX512F__)
inline __m512 sigmoid16(__m512 x0) {
  const __m512 x = _mm512_min_ps(x0, _mm512_set1_ps(15.7243833541870117f));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(4.37031012579801e-11f), _mm512_set1_ps(1.15627324459942e-07f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(6.08574864600143e-05f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(8.51377133304701e-03f));
  p = _mm512_fmadd_ps(x2, p, _mm512_set1_ps(2.48287947061529e-01f));
  p = _mm512_mul_ps(x, p);
  __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(6.10247389755681e-13f), _mm512_set1_ps(5.76102136993427e-09f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(6.29106785017040e-06f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(1.70198817374094e-03f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(1.16817656904453e-01f));
  q = _mm512_fmadd_ps(x2, q, _mm512_set1_ps(9.93151921023180e-01f));
  __m512 r = _mm512_rcp14_ps(q);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(2.0f)));
  __m512 y = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  const __mmask16 small = _mm512_cmp_ps_mask(x0, _mm512_set1_ps(-9.0f), _CMP_LT_OQ);
  if (small) y = _mm512_mask_mov_ps(y, small, Eigen::internal::pexp(x0));
  return y;
}
#endif

void sigmoid(const float* a, float* h, long n) {
  long i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(h + i, sigmoid16(_mm512_loadu_ps(a + i)));
#endif
  for (; i < n; ++i) h[i] = 1.0f / (1.0f + std::exp(-a[i]));
}

// h = sigmoid(a) and returns dot(h, v) over n floats in one pass (the binary
// logit while h is still in registers); a fixed summation order.
float sigmoid_dot(const float* a, float* h, const float* v, long n) {
  long i = 0;
  float dot = 0.0f;
#if defined(__AVX512F__)
  __m512 acc = _mm512_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    const __m512 y = sigmoid16(_mm512_loadu_ps(a + i));
    _mm512_storeu_ps(h + i, y);
    acc = _mm512_fmadd_ps(y, _mm512_loadu_ps(v + i), acc);
  }
  dot = _mm512_reduce_add_ps(acc);
#endif
  for (; i < n; ++i) {
    h[i] = 1.0f / (1.0f + std::exp(-a[i]));
    dot += h[i] * v[i];
  }
  return dot;
}

class Nade : public AutoregressiveModel {
 public:
  Nade(const Space& space, ConfigSection& m, ConfigSection& t)
      : AutoregressiveModel(space, "nade", m, t, TrainOptions{}) {
    H_ = m.get_int("hidden", 500, 1, 1 << 20);
    w_ = params_.add("w", {uint64_t(F_), uint64_t(H_)});          // (F, H): row f = input weights of feature f
    c_ = params_.add("c", {uint64_t(H_)});                         // (H)
    v_ = params_.add("v", {uint64_t(D_ * Km1_), uint64_t(H_)});    // (D*(K-1), H)
    b_ = params_.add("b", {uint64_t(D_ * Km1_)});                  // (D*(K-1))
    if (L_ > 0) {
      u_ = params_.add("u", {uint64_t(L_), uint64_t(H_)});          // (L, H) label -> hidden
      q_ = params_.add("q", {uint64_t(L_), uint64_t(D_ * Km1_)});   // (L, D*(K-1)) label -> output bias
    }
    params_.allocate();
  }

  size_t chunk_rows() const override { return 25; }

 protected:
  void init_parameters(Rng& rng) override {
    float* p = params_.data();
    std::fill(p, p + params_.size(), 0.0f);
    auto fill = [&](size_t off, int64_t count, double bound) {
      for (int64_t i = 0; i < count; ++i) p[off + size_t(i)] = float((2.0 * rng.uniform() - 1.0) * bound);
    };
    fill(w_, F_ * H_, 1.0 / std::sqrt(double(F_)));
    fill(v_, D_ * Km1_ * H_, 1.0 / std::sqrt(double(H_)));
    if (L_ > 0) fill(u_, L_ * H_, 1.0 / std::sqrt(double(F_)));
  }

  void describe_extra(json& j) const override { j["hidden"] = H_; }

  // A = c + U[y].
  void init_state(const int32_t* y, size_t n, MatR& A) const {
    const float* p = params_.data();
    Eigen::Map<const RowF> c(p + c_, long(H_));
    A.resize(long(n), long(H_));
    for (size_t i = 0; i < n; ++i) {
      A.row(long(i)) = c;
      if (L_ > 0) A.row(long(i)) += Eigen::Map<const RowF>(p + u_ + size_t(y[i]) * size_t(H_), long(H_));
    }
  }

  // A += the input weights of x_d, for every row.
  void advance(const int32_t* x, size_t n, int64_t d, MatR& A) const {
    const float* p = params_.data();
    for (size_t i = 0; i < n; ++i) {
      int64_t col;
      float val;
      if (feature(d, x[i * size_t(D_) + size_t(d)], &col, &val))
        A.row(long(i)) += val * Eigen::Map<const RowF>(p + w_ + size_t(col) * size_t(H_), long(H_));
    }
  }

  // Z (n, K-1) = Hd V_d^T + b_d + Q[y, d].
  void logits(const float* Hd, const int32_t* y, size_t n, int64_t d, MatR& Z) const {
    const float* p = params_.data();
    CMapR Hm(Hd, long(n), long(H_));
    CMapR V(p + v_ + size_t(d * Km1_) * size_t(H_), long(Km1_), long(H_));
    Z.noalias() = Hm * V.transpose();
    for (size_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < Km1_; ++k) {
        float bias = p[b_ + size_t(d * Km1_ + k)];
        if (L_ > 0) bias += p[q_ + size_t(y[i]) * size_t(D_ * Km1_) + size_t(d * Km1_ + k)];
        Z(long(i), long(k)) += bias;
      }
  }

  // Hd (n, H) = sigmoid(A) and Z (n, K-1) its logits; for binary data the
  // dot product is fused into the sigmoid pass.
  void hidden_and_logits(const MatR& A, float* Hd, const int32_t* y, size_t n, int64_t d, MatR& Z) const {
    if (Km1_ != 1) {
      // Row by row, so that every sample's hidden units go through the same
      // (vector or scalar) sigmoid whatever its place in the batch: a sample's
      // probability must not depend on its neighbours.
      for (size_t i = 0; i < n; ++i) sigmoid(A.data() + i * size_t(H_), Hd + i * size_t(H_), long(H_));
      logits(Hd, y, n, d, Z);
      return;
    }
    const float* p = params_.data();
    Z.resize(long(n), 1);
    for (size_t i = 0; i < n; ++i) {
      float bias = p[b_ + size_t(d)];
      if (L_ > 0) bias += p[q_ + size_t(y[i]) * size_t(D_) + size_t(d)];
      Z(long(i), 0) = sigmoid_dot(A.data() + i * size_t(H_), Hd + i * size_t(H_), p + v_ + size_t(d) * size_t(H_), long(H_)) + bias;
    }
  }

  void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int, const uint8_t* known,
                     double* out) const override {
    MatR A, Hd, Z;
    FloatBuffer tcol(n);            // (n) binary targets of one position
    std::vector<double> lpcol(n);   // (n) their log-probabilities
    init_state(y, n, A);
    std::fill(out, out + n, 0.0);
    for (int64_t d = 0; d < D_; ++d) {
      Hd.resize(A.rows(), A.cols());
      hidden_and_logits(A, Hd.data(), y, n, d, Z);
      if (Km1_ == 1 && !known) {
        for (size_t i = 0; i < n; ++i) tcol[i] = float(x[i * size_t(D_) + size_t(d)]);
        binary_log_probs(Z.data(), tcol.data(), long(n), lpcol.data(), nullptr);
        for (size_t i = 0; i < n; ++i) out[i] += lpcol[i];
      } else {
        for (size_t i = 0; i < n; ++i)
          if (!known || known[i * size_t(D_) + size_t(d)])
            out[i] += log_softmax_ref(Z.data() + i * size_t(Km1_), x[i * size_t(D_) + size_t(d)], 0.0f, nullptr);
      }
      advance(x, n, d, A);
    }
  }

  void sample_rows(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, int, double temperature,
                   Rng& rng) const override {
    MatR A, Hd, Z;
    SampleScratch sc;
    init_state(y, n, A);
    for (int64_t d = 0; d < D_; ++d) {
      Hd.resize(A.rows(), A.cols());
      hidden_and_logits(A, Hd.data(), y, n, d, Z);
      for (size_t i = 0; i < n; ++i)
        if (!known || !known[i * size_t(D_) + size_t(d)])
          x[i * size_t(D_) + size_t(d)] = sample_ref(Z.data() + i * size_t(Km1_), temperature, rng, sc);
      advance(x, n, d, A);
    }
  }

  void loss_grad_rows(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad,
                      double* nll) const override {
    if (!grad) {
      log_prob_rows(x, y, n, 0, nullptr, nll);
      for (size_t i = 0; i < n; ++i) nll[i] = -nll[i];
      return;
    }
    const float* p = params_.data();
    const long N = long(n), H = long(H_);
    const int64_t blocks = (D_ + kBlock - 1) / kBlock;
    // Forward: only the running sums, checkpointed at each block start.
    MatR A;
    init_state(y, n, A);
    std::unique_ptr<float[]> ck(new float[size_t(blocks) * n * size_t(H_)]);  // (blocks, n, H), not zeroed
    for (int64_t d = 0; d < D_; ++d) {
      if (d % kBlock == 0) std::copy(A.data(), A.data() + n * size_t(H_), ck.get() + size_t(d / kBlock) * n * size_t(H_));
      advance(x, n, d, A);
    }
    std::fill(nll, nll + n, 0.0);
    MatR dA = MatR::Zero(N, H);  // d loss / d a_{d+1}, then a_d
    MatR Hs(long(kBlock) * N, H);  // (kBlock * n, H) hidden states of the block
    MatR Zs(long(kBlock) * N, long(Km1_));  // (kBlock * n, K-1) their logits
    MatR Z, dZ(N, long(Km1_));
    RowF dh(H);
    FloatBuffer tcol(n);            // (n) binary targets of one position
    std::vector<double> lpcol(n);   // (n) their log-probabilities
    for (int64_t k = blocks - 1; k >= 0; --k) {
      const int64_t d0 = k * kBlock, d1 = std::min(D_, d0 + kBlock);
      std::copy(ck.get() + size_t(k) * n * size_t(H_), ck.get() + size_t(k + 1) * n * size_t(H_), A.data());
      for (int64_t d = d0; d < d1; ++d) {
        hidden_and_logits(A, Hs.data() + size_t(d - d0) * n * size_t(H_), y, n, d, Z);
        Zs.middleRows(long(d - d0) * N, N) = Z;
        if (d + 1 < d1) advance(x, n, d, A);
      }
      for (int64_t d = d1 - 1; d >= d0; --d) {
        // Input weights of x_d feed a_{d+1}: dW[f] += val * dA_i.
        for (size_t i = 0; i < n; ++i) {
          int64_t col;
          float val;
          if (feature(d, x[i * size_t(D_) + size_t(d)], &col, &val))
            Eigen::Map<RowF>(grad + w_ + size_t(col) * size_t(H_), H) += val * dA.row(long(i));
        }
        const float* Hd = Hs.data() + size_t(d - d0) * n * size_t(H_);
        Z = Zs.middleRows(long(d - d0) * N, N);
        if (Km1_ == 1) {
          for (size_t i = 0; i < n; ++i) tcol[i] = float(x[i * size_t(D_) + size_t(d)]);
          binary_log_probs(Z.data(), tcol.data(), N, lpcol.data(), dZ.data());
          for (size_t i = 0; i < n; ++i) {
            nll[i] -= lpcol[i];
            dZ(long(i), 0) *= w[i];
          }
        } else {
          for (size_t i = 0; i < n; ++i)
            nll[i] -= log_softmax_ref(Z.data() + i * size_t(Km1_), x[i * size_t(D_) + size_t(d)], w[i],
                                      dZ.data() + i * size_t(Km1_));
        }
        CMapR V(p + v_ + size_t(d * Km1_) * size_t(H_), long(Km1_), H);
        MapR dV(grad + v_ + size_t(d * Km1_) * size_t(H_), long(Km1_), H);
        if (Km1_ == 1) {
          // Binary: dV_d += dz h_i; dA_i += dz V_d * h_i (1 - h_i). Eigen maps
          // keep these at the full vector width (GCC's loops used 256 bits).
          Eigen::Map<RowF> dv(grad + v_ + size_t(d) * size_t(H_), H);
          Eigen::Map<const RowF> vd(p + v_ + size_t(d) * size_t(H_), H);
          for (size_t i = 0; i < n; ++i) {
            const float dz = dZ(long(i), 0);
            grad[b_ + size_t(d)] += dz;
            if (L_ > 0) grad[q_ + size_t(y[i]) * size_t(D_) + size_t(d)] += dz;
            Eigen::Map<const RowF> hr(Hd + i * size_t(H_), H);
            dv += dz * hr;
            dA.row(long(i)).array() += (dz * vd.array()) * (hr.array() - hr.array().square());
          }
          continue;
        }
        for (size_t i = 0; i < n; ++i) {
          Eigen::Map<const RowF> hrow(Hd + i * size_t(H_), H);
          dh.setZero();
          for (int64_t kk = 0; kk < Km1_; ++kk) {
            const float dz = dZ(long(i), long(kk));
            grad[b_ + size_t(d * Km1_ + kk)] += dz;
            if (L_ > 0) grad[q_ + size_t(y[i]) * size_t(D_ * Km1_) + size_t(d * Km1_ + kk)] += dz;
            dh += dz * V.row(long(kk));
            dV.row(long(kk)) += dz * hrow;
          }
          dA.row(long(i)).array() += dh.array() * hrow.array() * (1.0f - hrow.array());
        }
      }
    }
    Eigen::Map<RowF>(grad + c_, H) += dA.colwise().sum();
    if (L_ > 0)
      for (size_t i = 0; i < n; ++i) Eigen::Map<RowF>(grad + u_ + size_t(y[i]) * size_t(H_), H) += dA.row(long(i));
  }

 private:
  int64_t H_;
  size_t w_ = 0, c_ = 0, v_ = 0, b_ = 0, u_ = 0, q_ = 0;  // block offsets in params_
};

}  // namespace

std::unique_ptr<Model> create_nade(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<Nade>(space, model, train);
}

}  // namespace dgm
