// pixelcnn.cc — PixelCNN (van den Oord et al. 2016, sec. 3.5) on Eigen:
// masked convolutions as im2col over only the taps the mask allows (rows above
// and pixels to the left, plus the centre with channel masking: mask A
// connects input group g to output groups > g, mask B to groups >= g), residual
// layers h <- h + conv_B(relu(h)), two 1x1 masked layers, and per sub-pixel a
// discretized logistic mixture (Salimans et al. 2017, eq. 2; exact CDF
// differences with open edges at 0 and K-1, evaluated stably in double) or a
// K-way softmax. Labels add a learned bias per layer and label. The network
// math is templated on the scalar (float for training, double for the
// gradient check) with a hand-written backward pass.
#include "dgm/models/pixelcnn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

// GCC 12 flags Eigen's AVX-512 kernels as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>

#include "dgm/error.h"
#include "dgm/models/autoregressive.h"
#include "dgm/train/params.h"

namespace dgm {
namespace {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr double kMinLogScale = -7.0;  // PixelCNN++ clamps log s from below

// Per-thread im2col buffers (64-byte aligned, grown, never shrunk): a fresh
// multi-megabyte matrix a layer costs page faults comparable to its product.
template <typename T>
T* scratch(int slot, size_t n) {
  thread_local std::vector<T, Aligned64<T>> buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// One masked convolution: output (rows, fout) = im2col(input) (rows, T*fin) * W (T*fin, fout) + b + q[y].
struct Layer {
  int64_t fin = 0, fout = 0;
  std::vector<std::pair<int, int>> taps;  // (dy, dx) with dy < 0, or dy = 0 and dx <= 0
  size_t w = 0, b = 0, q = 0;             // parameter offsets: w (T*fin, fout), b (fout), q (L, fout)
  std::vector<float> mask;                // (T*fin, fout): 1 where the connection exists
  bool identity_cols() const { return taps.size() == 1 && taps[0].first == 0 && taps[0].second == 0; }
};

struct Arch {
  int64_t C = 1, H = 1, W = 1, K = 2, L = 0, F = 64, R = 5, M = 10, P = 30;
  bool dlm = true;
  int64_t up = 0;             // rows above a pixel that can reach it (the receptive field's height - 1)
  std::vector<Layer> layers;  // [0] mask A input, [1..R] residual, [R+1] 1x1 hidden, [R+2] 1x1 output
};

// Builds a masked layer; gin / gout give the channel group of each input / output feature.
Layer make_layer(int64_t k, bool mask_a, const std::vector<int64_t>& gin, const std::vector<int64_t>& gout) {
  Layer ly;
  ly.fin = int64_t(gin.size());
  ly.fout = int64_t(gout.size());
  const int h = int(k / 2);
  bool centre_used = false;
  for (int64_t i : gin)
    for (int64_t o : gout) centre_used |= mask_a ? i < o : i <= o;
  for (int dy = -h; dy <= 0; ++dy)
    for (int dx = -h; dx <= h; ++dx) {
      if (dy == 0 && dx > 0) break;
      if (dy == 0 && dx == 0 && !centre_used) continue;
      ly.taps.emplace_back(dy, dx);
    }
  const size_t T = ly.taps.size();
  ly.mask.assign(T * size_t(ly.fin * ly.fout), 1.0f);
  for (size_t t = 0; t < T; ++t) {
    if (ly.taps[t] != std::make_pair(0, 0)) continue;
    for (int64_t i = 0; i < ly.fin; ++i)
      for (int64_t o = 0; o < ly.fout; ++o) {
        const bool ok = mask_a ? gin[size_t(i)] < gout[size_t(o)] : gin[size_t(i)] <= gout[size_t(o)];
        ly.mask[(t * size_t(ly.fin) + size_t(i)) * size_t(ly.fout) + size_t(o)] = ok ? 1.0f : 0.0f;
      }
  }
  return ly;
}

// col (n*H*W, T*fin) from in (n*H*W, fin); zero outside the image.
template <typename T>
void im2col(const Layer& ly, const T* in, int64_t n, int64_t H, int64_t W, T* col) {
  const int64_t fin = ly.fin, nt = int64_t(ly.taps.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c) {
        T* dst = col + ((i * H + r) * W + c) * nt * fin;
        for (int64_t t = 0; t < nt; ++t, dst += fin) {
          const int64_t rr = r + ly.taps[size_t(t)].first, cc = c + ly.taps[size_t(t)].second;
          if (rr < 0 || cc < 0 || cc >= W) {
            std::fill(dst, dst + fin, T(0));
          } else {
            const T* src = in + ((i * H + rr) * W + cc) * fin;
            std::copy(src, src + fin, dst);
          }
        }
      }
}

// din (n*H*W, fin) = the adjoint of im2col applied to dcol.
template <typename T>
void col2im(const Layer& ly, const T* dcol, int64_t n, int64_t H, int64_t W, T* din) {
  const int64_t fin = ly.fin, nt = int64_t(ly.taps.size());
  std::fill(din, din + n * H * W * fin, T(0));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c) {
        const T* src = dcol + ((i * H + r) * W + c) * nt * fin;
        for (int64_t t = 0; t < nt; ++t, src += fin) {
          const int64_t rr = r + ly.taps[size_t(t)].first, cc = c + ly.taps[size_t(t)].second;
          if (rr < 0 || cc < 0 || cc >= W) continue;
          T* dst = din + ((i * H + rr) * W + cc) * fin;
          for (int64_t f = 0; f < fin; ++f) dst[f] += src[f];
        }
      }
}

double softplus(double u) { return std::max(u, 0.0) + std::log1p(std::exp(-std::abs(u))); }
double sigmoid(double u) { return u >= 0 ? 1.0 / (1.0 + std::exp(-u)) : std::exp(u) / (1.0 + std::exp(u)); }

// log P(v) of one sub-pixel from its P network outputs o. When d_o is non-null,
// writes w * d(-log P(v)) / d o into it (P values).
template <typename T>
double head_log_prob(const Arch& a, const T* o, int32_t v, double w, T* d_o) {
  if (!a.dlm) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < a.K; ++k) m = std::max(m, double(o[k]));
    double s = 0;
    for (int64_t k = 0; k < a.K; ++k) s += std::exp(double(o[k]) - m);
    const double lse = m + std::log(s);
    if (d_o) {
      for (int64_t k = 0; k < a.K; ++k) d_o[k] = T(w * std::exp(double(o[k]) - lse));
      d_o[v] -= T(w);
    }
    return double(o[v]) - lse;
  }
  // P(v) = sum_m pi_m [sigma((c_v + h - mu_m)/s_m) - sigma((c_v - h - mu_m)/s_m)] over
  // bins of half-width h = 1/(K-1) centred at c_v = 2v/(K-1) - 1 in [-1, 1]; the first
  // bin extends to -inf and the last to +inf, so the K probabilities sum to 1.
  const int64_t M = a.M;
  double lt[64], da[64], db[64], aa[64], bb[64], lpi[64];
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < M; ++j) m = std::max(m, double(o[j]));
  double s = 0;
  for (int64_t j = 0; j < M; ++j) s += std::exp(double(o[j]) - m);
  const double lse_pi = m + std::log(s);
  const double h = 1.0 / double(a.K - 1), c = 2.0 * double(v) * h - 1.0;
  double tmax = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < M; ++j) {
    lpi[j] = double(o[j]) - lse_pi;
    const double mu = double(o[M + j]), ls = std::max(double(o[2 * M + j]), kMinLogScale);
    const double inv_s = std::exp(-ls);
    double L;
    aa[j] = (c + h - mu) * inv_s;
    bb[j] = (c - h - mu) * inv_s;
    if (v == 0) {
      L = -softplus(-aa[j]);
      da[j] = sigmoid(-aa[j]);
      db[j] = 0;
    } else if (v == a.K - 1) {
      L = -softplus(bb[j]);
      da[j] = 0;
      db[j] = -sigmoid(bb[j]);
    } else {
      // sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^(b-a)), every factor stable.
      const double gap = aa[j] - bb[j];
      L = -softplus(-aa[j]) - softplus(bb[j]) + std::log(-std::expm1(-gap));
      const double r = 1.0 / std::expm1(gap);
      da[j] = sigmoid(-aa[j]) + r;
      db[j] = -sigmoid(bb[j]) - r;
    }
    lt[j] = lpi[j] + L;
    tmax = std::max(tmax, lt[j]);
  }
  double z = 0;
  for (int64_t j = 0; j < M; ++j) z += std::exp(lt[j] - tmax);
  const double lp = tmax + std::log(z);
  if (d_o) {
    for (int64_t j = 0; j < M; ++j) {
      const double post = std::exp(lt[j] - lp), pi = std::exp(lpi[j]);
      const double inv_s = std::exp(-std::max(double(o[2 * M + j]), kMinLogScale));
      d_o[j] = T(w * (pi - post));
      // dL/dmu = -(da + db) / s; dL/dlog s = -(da a + db b); the loss is -log P.
      d_o[M + j] = T(w * post * (da[j] + db[j]) * inv_s);
      d_o[2 * M + j] = double(o[2 * M + j]) > kMinLogScale ? T(w * post * (da[j] * aa[j] + db[j] * bb[j])) : T(0);
    }
  }
  return lp;
}

// The network on n images of H rows (x (n, C*H*W) channel-major, y (n)).
template <typename T>
struct Net {
  const Arch& a;
  const T* p;  // parameters
  int64_t n, H;
  Mat<T> in0;             // (n*H*W, C) inputs scaled to [-1, 1]
  std::vector<Mat<T>> h;  // (R+1) of (n*H*W, F): h[0] = layer 0, h[r] after residual r
  Mat<T> o1, out;         // (n*H*W, F) hidden 1x1, (n*H*W, C*P) outputs

  Net(const Arch& arch, const T* params, int64_t n_, int64_t H_) : a(arch), p(params), n(n_), H(H_) {}

  int64_t rows() const { return n * H * a.W; }

  // W (T*fin, fout) times the mask: masked weights never act, whatever is stored.
  Mat<T> masked_weights(const Layer& ly) const {
    const long TF = long(ly.taps.size()) * long(ly.fin);
    Eigen::Map<const Mat<T>> Wm(p + ly.w, TF, long(ly.fout));
    Eigen::Map<const Mat<float>> mk(ly.mask.data(), TF, long(ly.fout));
    return Wm.cwiseProduct(mk.template cast<T>());
  }

  void conv(const Layer& ly, const Mat<T>& in, const int32_t* y, Mat<T>& res) const {
    const Mat<T> Wm = masked_weights(ly);
    if (ly.identity_cols()) {
      res.noalias() = in * Wm;
    } else {
      const long TF = long(ly.taps.size()) * long(ly.fin);
      Eigen::Map<Mat<T>> col(scratch<T>(0, size_t(rows()) * size_t(TF)), long(rows()), TF);
      im2col(ly, in.data(), n, H, a.W, col.data());
      res.noalias() = col * Wm;
    }
    Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> b(p + ly.b, long(ly.fout));
    res.rowwise() += b;
    if (a.L > 0) {
      const long hw = long(H * a.W);
      for (int64_t i = 0; i < n; ++i) {
        Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> q(p + ly.q + size_t(y[i]) * size_t(ly.fout), long(ly.fout));
        res.middleRows(long(i) * hw, hw).rowwise() += q;
      }
    }
  }

  void forward(const int32_t* x, const int32_t* y) {
    const int64_t C = a.C, HW = H * a.W, D = C * HW;
    in0.resize(rows(), long(C));
    const T scale = T(2.0 / double(a.K - 1));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t q = 0; q < HW; ++q) in0(long(i * HW + q), long(c)) = T(x[i * D + c * HW + q]) * scale - T(1);
    h.assign(size_t(a.R + 1), Mat<T>());
    conv(a.layers[0], in0, y, h[0]);
    Mat<T> t;
    for (int64_t r = 1; r <= a.R; ++r) {
      conv(a.layers[size_t(r)], h[size_t(r - 1)].cwiseMax(T(0)), y, t);
      h[size_t(r)] = h[size_t(r - 1)] + t;
    }
    conv(a.layers[size_t(a.R + 1)], h[size_t(a.R)].cwiseMax(T(0)), y, o1);
    conv(a.layers[size_t(a.R + 2)], o1.cwiseMax(T(0)), y, out);
  }

  // Outputs of sub-pixel (image i, channel c, pixel q).
  const T* outputs(int64_t i, int64_t c, int64_t q) const { return out.data() + (i * H * a.W + q) * a.C * a.P + c * a.P; }

  // Adds the parameter gradient of a layer given its input `in` (activated) and
  // dres; writes din when non-null.
  void conv_back(const Layer& ly, const Mat<T>& in, const int32_t* y, const Mat<T>& dres, T* g, Mat<T>* din) const {
    const long TF = long(ly.taps.size()) * long(ly.fin);
    Mat<T> gw;
    if (ly.identity_cols()) {
      gw.noalias() = in.transpose() * dres;
    } else {
      Eigen::Map<Mat<T>> col(scratch<T>(0, size_t(rows()) * size_t(TF)), long(rows()), TF);
      im2col(ly, in.data(), n, H, a.W, col.data());
      gw.noalias() = col.transpose() * dres;
    }
    Eigen::Map<const Mat<float>> mk(ly.mask.data(), TF, long(ly.fout));
    Eigen::Map<Mat<T>>(g + ly.w, TF, long(ly.fout)) += gw.cwiseProduct(mk.template cast<T>());
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(g + ly.b, long(ly.fout)) += dres.colwise().sum();
    if (a.L > 0) {
      const long hw = long(H * a.W);
      for (int64_t i = 0; i < n; ++i)
        Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(g + ly.q + size_t(y[i]) * size_t(ly.fout), long(ly.fout)) +=
            dres.middleRows(long(i) * hw, hw).colwise().sum();
    }
    if (!din) return;
    const Mat<T> Wm = masked_weights(ly);
    if (ly.identity_cols()) {
      din->noalias() = dres * Wm.transpose();
    } else {
      Eigen::Map<Mat<T>> dcol(scratch<T>(1, size_t(rows()) * size_t(TF)), long(rows()), TF);
      dcol.noalias() = dres * Wm.transpose();
      din->resize(rows(), long(ly.fin));
      col2im(ly, dcol.data(), n, H, a.W, din->data());
    }
  }

  // Given dout (n*H*W, C*P), adds the parameter gradient to g.
  void backward(const int32_t* y, const Mat<T>& dout, T* g) const {
    const int64_t R = a.R;
    Mat<T> da1, da, dt;
    conv_back(a.layers[size_t(R + 2)], o1.cwiseMax(T(0)), y, dout, g, &da1);
    const Mat<T> do1 = da1.cwiseProduct((o1.array() > T(0)).template cast<T>().matrix());
    conv_back(a.layers[size_t(R + 1)], h[size_t(R)].cwiseMax(T(0)), y, do1, g, &da);
    Mat<T> dh = da.cwiseProduct((h[size_t(R)].array() > T(0)).template cast<T>().matrix());
    for (int64_t r = R; r >= 1; --r) {
      // h[r] = h[r-1] + conv(relu(h[r-1])).
      conv_back(a.layers[size_t(r)], h[size_t(r - 1)].cwiseMax(T(0)), y, dh, g, &dt);
      dh += dt.cwiseProduct((h[size_t(r - 1)].array() > T(0)).template cast<T>().matrix());
    }
    conv_back(a.layers[0], in0, y, dh, g, nullptr);
  }
};

// Sum of -log P over the known positions of n full images; nll[i] per image;
// adds sum_i w[i] d nll[i] / d params to g when g is non-null.
template <typename T>
void nll_and_grad(const Arch& a, const T* p, const int32_t* x, const int32_t* y, const float* w, size_t n,
                  const uint8_t* known, double* nll, T* g) {
  Net<T> net(a, p, int64_t(n), a.H);
  net.forward(x, y);
  const int64_t HW = a.H * a.W, D = a.C * HW;
  Mat<T> dout;
  if (g) dout.setZero(net.out.rows(), net.out.cols());
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t c = 0; c < a.C; ++c)
      for (int64_t q = 0; q < HW; ++q) {
        const int64_t d = c * HW + q;
        if (known && !known[i * size_t(D) + size_t(d)]) continue;
        T* dd = g ? dout.data() + (int64_t(i) * HW + q) * a.C * a.P + c * a.P : nullptr;
        s -= head_log_prob<T>(a, net.outputs(int64_t(i), c, q), x[i * size_t(D) + size_t(d)], w ? double(w[i]) : 1.0, dd);
      }
    nll[i] = s;
  }
  if (g) net.backward(y, dout, g);
}

class PixelCnn : public AutoregressiveModel {
 public:
  PixelCnn(const Space& space, ConfigSection& m, ConfigSection& t)
      : AutoregressiveModel(space, "pixelcnn", m, t, default_train()) {
    const auto& shape = space.shape();
    if (shape.size() > 3)
      throw ConfigError("model.type: 'pixelcnn' needs an image shape [C, H, W], [H, W] or [W]; got " + space.describe());
    a_.C = shape.size() == 3 ? shape[0] : 1;
    a_.H = shape.size() >= 2 ? shape[shape.size() - 2] : 1;
    a_.W = shape.back();
    a_.K = K_;
    a_.L = L_;
    a_.F = m.get_int("channels", 64, 1, 4096);
    a_.R = m.get_int("layers", 5, 0, 100);
    const int64_t k = m.get_int("kernel", 3, 1, 15), k0 = m.get_int("first_kernel", 7, 1, 15);
    if (k % 2 == 0 || k0 % 2 == 0) throw ConfigError("model.kernel / model.first_kernel: kernel sizes must be odd");
    a_.dlm = m.get_choice("output", "dlm", {"dlm", "softmax"}) == "dlm";
    a_.M = m.get_int("mixtures", 10, 1, 64);
    a_.P = a_.dlm ? 3 * a_.M : K_;
    a_.up = k0 / 2 + a_.R * (k / 2);
    kernel_ = k;
    first_kernel_ = k0;
    const int64_t C = a_.C, F = a_.F;
    std::vector<int64_t> g_data(static_cast<size_t>(C)), g_hidden(static_cast<size_t>(F)), g_out(static_cast<size_t>(C * a_.P));
    for (int64_t c = 0; c < C; ++c) g_data[size_t(c)] = c;
    for (int64_t f = 0; f < F; ++f) g_hidden[size_t(f)] = f * C / F;
    for (int64_t o = 0; o < C * a_.P; ++o) g_out[size_t(o)] = o / a_.P;
    a_.layers.push_back(make_layer(k0, true, g_data, g_hidden));
    for (int64_t r = 0; r < a_.R; ++r) a_.layers.push_back(make_layer(k, false, g_hidden, g_hidden));
    a_.layers.push_back(make_layer(1, false, g_hidden, g_hidden));
    a_.layers.push_back(make_layer(1, false, g_hidden, g_out));
    for (size_t j = 0; j < a_.layers.size(); ++j) {
      Layer& ly = a_.layers[j];
      const std::string name = j == 0 ? "in" : j + 2 == a_.layers.size() ? "hidden" : j + 1 == a_.layers.size() ? "out"
                                                                                     : "res" + std::to_string(j);
      ly.w = params_.add(name + ".w", {uint64_t(ly.taps.size() * size_t(ly.fin)), uint64_t(ly.fout)});
      ly.b = params_.add(name + ".b", {uint64_t(ly.fout)});
      if (L_ > 0) ly.q = params_.add(name + ".q", {uint64_t(L_), uint64_t(ly.fout)});
    }
    params_.allocate();
    order_.resize(size_t(D_));
    const int64_t HW = a_.H * a_.W;
    for (int64_t q = 0; q < HW; ++q)
      for (int64_t c = 0; c < C; ++c) order_[size_t(q * C + c)] = c * HW + q;
  }

  static TrainOptions default_train() {
    TrainOptions o;
    o.batch_size = 32;
    o.adam.learning_rate = 2e-3;
    return o;
  }

  size_t chunk_rows() const override { return 8; }
  const Arch& arch() const { return a_; }

  void loss_grad_rows(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad,
                      double* nll) const override {
    nll_and_grad<float>(a_, params_.data(), x, y, w, n, nullptr, nll, grad);
  }

 protected:
  const std::vector<int64_t>& order(int variant) const override {
    (void)variant;
    return order_;
  }
  size_t score_chunk_rows() const override { return 16; }

  void init_parameters(Rng& rng) override {
    float* p = params_.data();
    std::fill(p, p + params_.size(), 0.0f);
    for (size_t j = 0; j < a_.layers.size(); ++j) {
      const Layer& ly = a_.layers[j];
      const size_t TF = ly.taps.size() * size_t(ly.fin);
      double fan_in = 0;  // mean number of inputs an output unit sees
      for (float v : ly.mask) fan_in += v;
      fan_in = std::max(1.0, fan_in / double(ly.fout));
      double bound = std::sqrt(3.0 / fan_in);
      if (j >= 1 && int64_t(j) <= a_.R) bound *= 0.5;  // residual branches start small
      if (j + 1 == a_.layers.size()) bound *= 0.1;    // near-uniform outputs at first
      for (size_t e = 0; e < TF * size_t(ly.fout); ++e)
        p[ly.w + e] = float((2.0 * rng.uniform() - 1.0) * bound) * ly.mask[e];
    }
    if (a_.dlm) {
      // Spread the logistic means over [-1, 1]; scales about one bin group wide.
      const Layer& ly = a_.layers.back();
      for (int64_t c = 0; c < a_.C; ++c)
        for (int64_t j = 0; j < a_.M; ++j) {
          p[ly.b + size_t(c * a_.P + a_.M + j)] = float(-1.0 + 2.0 * (double(j) + 0.5) / double(a_.M));
          p[ly.b + size_t(c * a_.P + 2 * a_.M + j)] = float(std::log(1.0 / double(a_.M)));
        }
    }
  }

  void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int, const uint8_t* known,
                     double* out) const override {
    std::vector<double> nll(n);
    nll_and_grad<float>(a_, params_.data(), x, y, nullptr, n, known, nll.data(), nullptr);
    for (size_t i = 0; i < n; ++i) out[i] = -nll[i];
  }

  // Ancestral sampling in the model's order: for each sub-pixel, one forward
  // pass over the rows that can reach it (a.up rows above and its own row).
  void sample_rows(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, int, double temperature,
                   Rng& rng) const override {
    const int64_t C = a_.C, W = a_.W, HW = a_.H * W, D = D_;
    std::vector<int32_t> xw;
    std::vector<double> lp(static_cast<size_t>(K_));
    for (int64_t t = 0; t < D; ++t) {
      const int64_t d = order_[size_t(t)], c = d / HW, q = d % HW, r = q / W, col = q % W;
      bool any = false;
      for (size_t i = 0; i < n && !any; ++i) any = !known || !known[i * size_t(D) + size_t(d)];
      if (!any) continue;
      const int64_t r0 = std::max<int64_t>(0, r - a_.up), Hw = r - r0 + 1, Dw = C * Hw * W;
      xw.assign(n * size_t(Dw), 0);
      for (size_t i = 0; i < n; ++i)
        for (int64_t cc = 0; cc < C; ++cc)
          std::copy(x + i * size_t(D) + size_t(cc * HW + r0 * W), x + i * size_t(D) + size_t(cc * HW + (r + 1) * W),
                    xw.begin() + long(i * size_t(Dw) + size_t(cc * Hw * W)));
      Net<float> net(a_, params_.data(), int64_t(n), Hw);
      net.forward(xw.data(), y);
      for (size_t i = 0; i < n; ++i) {
        if (known && known[i * size_t(D) + size_t(d)]) continue;
        const float* o = net.outputs(int64_t(i), c, (r - r0) * W + col);
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t v = 0; v < K_; ++v) {
          lp[size_t(v)] = head_log_prob<float>(a_, o, int32_t(v), 0.0, nullptr) / temperature;
          m = std::max(m, lp[size_t(v)]);
        }
        double total = 0;
        for (int64_t v = 0; v < K_; ++v) total += std::exp(lp[size_t(v)] - m);
        double u = rng.uniform() * total, cum = 0;
        int32_t pick = int32_t(K_ - 1);
        for (int64_t v = 0; v < K_; ++v) {
          cum += std::exp(lp[size_t(v)] - m);
          if (u < cum) {
            pick = int32_t(v);
            break;
          }
        }
        x[i * size_t(D) + size_t(d)] = pick;
      }
    }
  }

  void describe_extra(json& j) const override {
    j.erase("input");
    j["shape"] = {a_.C, a_.H, a_.W};
    j["channels"] = a_.F;
    j["layers"] = a_.R;
    j["kernel"] = kernel_;
    j["first_kernel"] = first_kernel_;
    j["output"] = a_.dlm ? "dlm" : "softmax";
    if (a_.dlm) j["mixtures"] = a_.M;
    j["receptive_rows_above"] = a_.up;
  }

 private:
  Arch a_;
  int64_t kernel_ = 3, first_kernel_ = 7;
  std::vector<int64_t> order_;  // (D) positions in raster order, channels of a pixel consecutive
};

const PixelCnn& as_pixelcnn(const Model& m) {
  const auto* p = dynamic_cast<const PixelCnn*>(&m);
  if (!p) throw DataError("model of kind '" + m.kind() + "' is not a pixelcnn");
  return *p;
}

}  // namespace

std::unique_ptr<Model> create_pixelcnn(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<PixelCnn>(space, model, train);
}

namespace pixelcnn_testing {

std::vector<double> network_outputs(const Model& m, const std::vector<int32_t>& x, int32_t y) {
  const PixelCnn& pc = as_pixelcnn(m);
  const Arch& a = pc.arch();
  const int32_t yy = std::max(0, y);
  Net<float> net(a, pc.param_store().data(), 1, a.H);
  net.forward(x.data(), &yy);
  return std::vector<double>(net.out.data(), net.out.data() + net.out.size());
}

int64_t outputs_per_subpixel(const Model& m) { return as_pixelcnn(m).arch().P; }

std::vector<int64_t> order(const Model& m) { return as_pixelcnn(m).ordering(0); }

double loss_grad_double(const Model& m, const std::vector<double>& params, const std::vector<int32_t>& x,
                        const std::vector<int32_t>& y, std::vector<double>* grad) {
  const PixelCnn& pc = as_pixelcnn(m);
  const size_t n = y.size();
  std::vector<double> nll(n);
  if (grad) grad->assign(params.size(), 0.0);
  std::vector<int32_t> yy(n);
  for (size_t i = 0; i < n; ++i) yy[i] = std::max(0, y[i]);
  nll_and_grad<double>(pc.arch(), params.data(), x.data(), yy.data(), nullptr, n, nullptr, nll.data(),
                       grad ? grad->data() : nullptr);
  double s = 0;
  for (double v : nll) s += v;
  return s;
}

std::vector<double> parameters(const Model& m) {
  const ParamStore& ps = as_pixelcnn(m).param_store();
  return std::vector<double>(ps.data(), ps.data() + ps.size());
}

}  // namespace pixelcnn_testing
}  // namespace dgm
