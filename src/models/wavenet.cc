// wavenet.cc — WaveNet (van den Oord et al. 2016) on the shared kernels of
// src/nn: the input layer reads x_{t-1} and x_{t-2} (a causal convolution of
// width 2 over one-hot levels, written as two embedding lookups), then B
// dilated causal convolutions of width 2 (taps t - d and t, nn/conv.h) into
// gated units a = tanh(f) * sigmoid(g) with a label bias per layer (global
// conditioning), a residual 1x1 convolution h <- h + W_r a and a skip 1x1
// convolution s <- s + W_s a; then relu(s) -> 1x1 -> relu -> 1x1 -> K logits
// and a softmax (nn/head.h) a position. Every buffer is a zero-margined grid
// (one row of D positions a sample) in the thread's workspace. The network is
// templated on the scalar (float for training, double for the gradient check)
// with a hand-written backward pass.
//
// Sampling: the cached sampler (Paine et al. 2016) keeps, for every layer, its
// inputs of the last max(d) + 1 positions in a ring laid out twice over (a
// value at slot s and s + Wr), so that the tap t - d is always at a fixed
// offset and the shared convolution computes one position of every layer a
// sample; the plain sampler runs the whole network over the receptive field
// before each position. The convolution kernels sum every output in the same
// order however many positions they compute, so both give the same logits,
// bit for bit, and draw the same samples.
#include "dgm/models/wavenet.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "nn/eigen.h"

#include "dgm/error.h"
#include "dgm/models/autoregressive.h"
#include "dgm/train/params.h"
#include "nn/conv.h"
#include "nn/fd_check.h"
#include "nn/head.h"
#include "nn/workspace.h"

namespace dgm {
namespace {

constexpr size_t kNone = std::numeric_limits<size_t>::max();

// One convolution over a row of positions: out (t, fout) = b + q[y] + sum over
// the taps' columns of in (t + tap, fin) * W (taps*fin, fout).
struct Conv {
  int64_t fin = 0, fout = 0;
  nn::Taps taps;
  size_t w = 0, b = 0, q = kNone;  // parameter offsets: w (J, fout), b (fout), q (L, fout) or none
  int64_t J() const { return int64_t(taps.size()) * fin; }
};

struct Arch {
  int64_t D = 1, K = 2, L = 0, R = 32, S = 64, Q = 64, B = 10;
  std::vector<int64_t> dil;  // (B)
  size_t emb = 0, emb_b = 0; // emb (2, K, R): x_{t-1}, x_{t-2}; emb_b (R)
  std::vector<Conv> dconv, res, skip;  // (B) each; res[B-1] is unused (none)
  Conv out1, out2;
  int64_t margin = 1;                  // left and right margins of every grid: max d
  int64_t receptive() const {
    int64_t s = 2;
    for (int64_t d : dil) s += d;
    return s;
  }
};

Conv make_conv(ParamStore& ps, const std::string& name, int64_t fin, int64_t fout, nn::Taps taps, int64_t labels) {
  Conv c;
  c.fin = fin;
  c.fout = fout;
  c.taps = std::move(taps);
  c.w = ps.add(name + ".w", {uint64_t(c.J()), uint64_t(fout)});
  c.b = ps.add(name + ".b", {uint64_t(fout)});
  if (labels > 0) c.q = ps.add(name + ".q", {uint64_t(labels), uint64_t(fout)});
  return c;
}

template <typename T>
using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;

// The gated units of one position: a = tanh(f) * sigmoid(g) from z = (f, g),
// R values each, by Eigen's vectorised tanh and logistic (the same function
// at every position, so the cached and plain samplers agree bit for bit).
template <typename T>
void gate_units(const T* z, T* a, int64_t R) {
  Eigen::Map<const Arr<T>> f(z, long(R)), g(z + R, long(R));
  Eigen::Map<Arr<T>>(a, long(R)) = f.tanh() * g.logistic();
}

// The network on n rows of W positions, every grid with the arch's margins in
// the caller's thread workspace (the caller holds the Frame). Column c of a
// grid is the position t0 + c (full and windowed passes); the cached sampler
// uses a ring of W = 2 Wr columns and passes the position explicitly.
// Grids: h[l] (R) the residual stream into layer l (h[0] from the input
// layer); z[l] (2R) the gate pre-activations (f, then g); act[l] (R) the gated
// units; sk[2] (S) the running skip sum (alternating); sa (S) relu of the
// final sum; o1 / a1 (Q) the hidden output layer and its relu; out (K) logits.
template <typename T>
struct Net {
  const Arch& a;
  const T* p;
  int64_t n, W;
  const int32_t* ylabel;
  nn::Grid g;  // F set per use
  std::vector<T*> h, z, act;
  T *sk[2] = {nullptr, nullptr}, *sa = nullptr, *o1 = nullptr, *a1 = nullptr, *out = nullptr;
  struct Prep {
    const T* w = nullptr;
    T *wt = nullptr, *init = nullptr;
    int64_t *col = nullptr, *colt = nullptr;
  };
  // Per convolution, in the order: dconv[0..B), res[0..B), skip[0..B), out1, out2.
  std::vector<Prep> prep;

  Net(const Arch& arch, const T* params, int64_t n_, int64_t W_, const int32_t* y, bool backward)
      : a(arch), p(params), n(n_), W(W_), ylabel(y) {
    g.n = n, g.H = 1, g.W = W, g.F = a.R;
    g.left = g.right = a.margin;
    const int64_t B = a.B;
    h.resize(size_t(B + 1));
    z.resize(size_t(B));
    act.resize(size_t(B));
    for (int64_t l = 0; l <= B; ++l) h[size_t(l)] = grid(a.R);
    for (int64_t l = 0; l < B; ++l) z[size_t(l)] = grid(2 * a.R), act[size_t(l)] = grid(a.R);
    sk[0] = grid(a.S), sk[1] = grid(a.S), sa = grid(a.S);
    o1 = grid(a.Q), a1 = grid(a.Q), out = grid(a.K);
    prep.resize(size_t(3 * B + 2));
    for (size_t k = 0; k < prep.size(); ++k) {
      const Conv* c = conv_at(k);
      if (c) prepare(*c, prep[k], backward);
    }
  }

  const Conv* conv_at(size_t k) const {
    const size_t B = size_t(a.B);
    if (k < B) return &a.dconv[k];
    if (k < 2 * B) return k - B + 1 < B ? &a.res[k - B] : nullptr;  // the last layer has no residual output
    if (k < 3 * B) return &a.skip[k - 2 * B];
    return k == 3 * B ? &a.out1 : &a.out2;
  }

  nn::Grid grid_of(int64_t F) const { return g.with_channels(F); }
  T* grid(int64_t F) const {
    const nn::Grid gg = grid_of(F);
    T* d = nn::thread_workspace().take<T>(gg.size());
    nn::zero_margins(gg, d);
    return d;
  }

  void prepare(const Conv& c, Prep& pr, bool backward) {
    nn::Workspace& ws = nn::thread_workspace();
    const int64_t J = c.J();
    pr.w = p + c.w;
    pr.col = ws.take<int64_t>(size_t(J));
    nn::column_offsets(c.taps, grid_of(c.fin), pr.col);
    pr.init = ws.take<T>(size_t(n * c.fout));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < c.fout; ++o)
        pr.init[i * c.fout + o] =
            p[c.b + size_t(o)] + (c.q != kNone ? p[c.q + size_t(ylabel[i]) * size_t(c.fout) + size_t(o)] : T(0));
    if (backward) {
      pr.wt = ws.take<T>(size_t(J * c.fout));
      nn::transpose_columns(int64_t(c.taps.size()), c.fin, c.fout, pr.w, pr.wt);
      pr.colt = ws.take<int64_t>(size_t(int64_t(c.taps.size()) * c.fout));
      nn::column_offsets(nn::negate(c.taps), grid_of(c.fout), pr.colt);
    }
  }

  void conv(size_t k, const T* in, T* res, int64_t c0, int64_t c1, const T* add, T* relu) const {
    const Conv& c = *conv_at(k);
    nn::Epilogue<T> ep;
    ep.init = prep[k].init;
    ep.add = add;
    ep.relu = relu;
    nn::conv_forward<T>(c.J(), prep[k].col, prep[k].w, grid_of(c.fin), in, grid_of(c.fout), res, {0, n, 0, 1, c0, c1},
                        ep);
  }

  // Column c of every layer, for the position t (x: (n, D) rows, read at t-1 and t-2).
  void forward_column(const int32_t* x, int64_t c, int64_t t) { forward(x, c, c + 1, t); }
  // Columns [c0, c1) = positions t0, t0 + 1, ...
  void forward(const int32_t* x, int64_t c0, int64_t c1, int64_t t0) {
    const int64_t R = a.R, B = a.B, D = a.D;
    const nn::Grid gR = grid_of(R), g2 = grid_of(2 * R);
    // The input layer: b + E0[x_{t-1}] + E1[x_{t-2}].
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t t = t0 + (c - c0);
        T* hp = h[0] + gR.at(i, 0, c);
        for (int64_t r = 0; r < R; ++r) hp[r] = p[a.emb_b + size_t(r)];
        if (t >= 1) {
          const T* e = p + a.emb + size_t(x[i * D + t - 1] * R);
          for (int64_t r = 0; r < R; ++r) hp[r] += e[r];
        }
        if (t >= 2) {
          const T* e = p + a.emb + size_t((a.K + x[i * D + t - 2]) * R);
          for (int64_t r = 0; r < R; ++r) hp[r] += e[r];
        }
      }
    for (int64_t l = 0; l < B; ++l) {
      conv(size_t(l), h[size_t(l)], z[size_t(l)], c0, c1, nullptr, nullptr);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = c0; c < c1; ++c) gate(z[size_t(l)] + g2.at(i, 0, c), act[size_t(l)] + gR.at(i, 0, c));
      if (l + 1 < B) conv(size_t(B + l), act[size_t(l)], h[size_t(l + 1)], c0, c1, h[size_t(l)], nullptr);
      conv(size_t(2 * B + l), act[size_t(l)], sk[l % 2], c0, c1, l > 0 ? sk[(l + 1) % 2] : nullptr,
           l + 1 == B ? sa : nullptr);
    }
    conv(size_t(3 * B), sa, o1, c0, c1, nullptr, a1);
    conv(size_t(3 * B + 1), a1, out, c0, c1, nullptr, nullptr);
  }

  void gate(const T* zp, T* ap) const { gate_units(zp, ap, a.R); }
  const T* skip_sum() const { return sk[(a.B - 1) % 2]; }
  const T* logits(int64_t i, int64_t c) const { return out + grid_of(a.K).at(i, 0, c); }

  // Adds the gradient of convolution k's parameters given its input and the
  // gradient of its output over every column.
  void conv_grads(size_t k, const T* in, const T* dres, T* gr) const {
    const Conv& c = *conv_at(k);
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    const int64_t J = c.J(), fo = c.fout;
    const nn::Region all{0, n, 0, 1, 0, W};
    T* dw = ws.take_zero<T>(size_t(J * fo));
    nn::conv_backward_weights<T>(J, prep[k].col, grid_of(c.fin), in, grid_of(fo), dres, all, dw);
    for (int64_t e = 0; e < J * fo; ++e) gr[c.w + size_t(e)] += dw[e];
    T* s = ws.take<T>(size_t(n * fo));
    nn::sum_pixels(grid_of(fo), dres, all, s);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < fo; ++o) {
        gr[c.b + size_t(o)] += s[i * fo + o];
        if (c.q != kNone) gr[c.q + size_t(ylabel[i]) * size_t(fo) + size_t(o)] += s[i * fo + o];
      }
  }

  // din = conv_k^T(dres), zeroed where gate <= 0 (null: no gate), plus add (null: nothing).
  void adjoint(size_t k, const T* dres, const T* gate, const T* add, T* din) const {
    const Conv& c = *conv_at(k);
    nn::Epilogue<T> ep;
    ep.gate = gate;
    ep.add = add;
    nn::conv_forward<T>(int64_t(c.taps.size()) * c.fout, prep[k].colt, prep[k].wt, grid_of(c.fout), dres,
                        grid_of(c.fin), din, {0, n, 0, 1, 0, W}, ep);
  }

  // Given dout (the logits' gradient, laid out as out), adds the parameter gradient to gr.
  void backward(const int32_t* x, const T* dout, T* gr) const {
    const int64_t R = a.R, B = a.B, D = a.D;
    const nn::Grid gR = grid_of(R), g2 = grid_of(2 * R);
    T* do1 = grid(a.Q);
    T* dsk = grid(a.S);
    T* dh = grid(R);
    T* dh2 = grid(R);
    T* da = grid(R);
    T* da2 = grid(R);
    T* dz = grid(2 * R);
    conv_grads(size_t(3 * B + 1), a1, dout, gr);
    adjoint(size_t(3 * B + 1), dout, o1, nullptr, do1);
    conv_grads(size_t(3 * B), sa, do1, gr);
    adjoint(size_t(3 * B), do1, skip_sum(), nullptr, dsk);
    // dh (into layer B, unused) is zero.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < W; ++c) std::fill(dh + gR.at(i, 0, c), dh + gR.at(i, 0, c) + R, T(0));
    for (int64_t l = B - 1; l >= 0; --l) {
      const T* a_l = act[size_t(l)];
      // d act = W_s^T dskip (+ W_r^T dh[l+1]).
      conv_grads(size_t(2 * B + l), a_l, dsk, gr);
      if (l + 1 < B) {
        conv_grads(size_t(B + l), a_l, dh, gr);
        adjoint(size_t(B + l), dh, nullptr, nullptr, da2);
        adjoint(size_t(2 * B + l), dsk, nullptr, da2, da);
      } else {
        adjoint(size_t(2 * B + l), dsk, nullptr, nullptr, da);
      }
      // Through the gate: a = tanh(f) sigmoid(g).
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < W; ++c) {
          const long r = long(R);
          Eigen::Map<const Arr<T>> f(z[size_t(l)] + g2.at(i, 0, c), r), gg(z[size_t(l)] + g2.at(i, 0, c) + R, r),
              dap(da + gR.at(i, 0, c), r);
          Eigen::Map<Arr<T>> df(dz + g2.at(i, 0, c), r), dg(dz + g2.at(i, 0, c) + R, r);
          const Arr<T> tf = f.tanh(), sg = gg.logistic();
          df = dap * (T(1) - tf * tf) * sg;
          dg = dap * tf * sg * (T(1) - sg);
        }
      conv_grads(size_t(l), h[size_t(l)], dz, gr);
      // dh[l] = dh[l+1] (the residual path) + W_d^T dz.
      adjoint(size_t(l), dz, nullptr, dh, dh2);
      std::swap(dh, dh2);
    }
    // The input layer's embeddings.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < W; ++c) {
        const T* d = dh + gR.at(i, 0, c);
        for (int64_t r = 0; r < R; ++r) gr[a.emb_b + size_t(r)] += d[r];
        if (c >= 1) {
          T* e = gr + a.emb + size_t(x[i * D + c - 1] * R);
          for (int64_t r = 0; r < R; ++r) e[r] += d[r];
        }
        if (c >= 2) {
          T* e = gr + a.emb + size_t((a.K + x[i * D + c - 2]) * R);
          for (int64_t r = 0; r < R; ++r) e[r] += d[r];
        }
      }
  }
};

// Sum of -log P over the known positions (all when known is null) of n full
// rows; nll[i] per row; adds sum_i w[i] d nll[i] / d params to g when non-null.
template <typename T>
void nll_and_grad(const Arch& a, const T* p, const int32_t* x, const int32_t* y, const float* w, size_t n,
                  const uint8_t* known, double* nll, T* g) {
  nn::Workspace& ws = nn::thread_workspace();
  nn::Workspace::Frame frame(ws);
  const int64_t D = a.D, K = a.K;
  Net<T> net(a, p, int64_t(n), D, y, g != nullptr);
  net.forward(x, 0, D, 0);
  T* dout = g ? net.grid(K) : nullptr;
  const nn::Grid gK = net.grid_of(K);
  for (int64_t i = 0; i < int64_t(n); ++i) {
    const double wi = w ? double(w[i]) : 1.0;
    double s = 0;
    for (int64_t t = 0; t < D; ++t) {
      const bool counts = !known || known[i * D + t];
      // An unknown position's term is left out of the sum (and its gradient).
      T* d = g && counts ? dout + gK.at(i, 0, t) : nullptr;
      const double lp = nn::softmax_log_prob<T>(net.logits(i, t), K, x[i * D + t], wi, d);
      if (counts) s -= lp;
    }
    nll[i] = s;
  }
  if (g) net.backward(x, dout, g);
}

class WaveNet : public AutoregressiveModel {
 public:
  WaveNet(const Space& space, ConfigSection& m, ConfigSection& t)
      : AutoregressiveModel(space, "wavenet", m, t, default_train()) {
    a_.D = D_;
    a_.K = K_;
    a_.L = L_;
    a_.R = m.get_int("channels", 32, 1, 1024);
    a_.S = m.get_int("skip", 64, 1, 4096);
    a_.Q = m.get_int("hidden", 64, 1, 4096);
    a_.B = m.get_int("layers", 10, 1, 64);
    cycle_ = m.get_int("cycle", 10, 1, 20);
    a_.margin = 1;
    for (int64_t l = 0; l < a_.B; ++l) {
      a_.dil.push_back(int64_t(1) << (l % cycle_));
      a_.margin = std::max(a_.margin, a_.dil.back());
    }
    const int64_t R = a_.R;
    a_.emb = params_.add("in.emb", {2, uint64_t(K_), uint64_t(R)});
    a_.emb_b = params_.add("in.b", {uint64_t(R)});
    for (int64_t l = 0; l < a_.B; ++l) {
      const std::string s = std::to_string(l);
      a_.dconv.push_back(make_conv(params_, "dil" + s, R, 2 * R, {{0, -int(a_.dil[size_t(l)])}, {0, 0}}, L_));
      if (l + 1 < a_.B) a_.res.push_back(make_conv(params_, "res" + s, R, R, {{0, 0}}, 0));
      else a_.res.push_back(Conv());
      a_.skip.push_back(make_conv(params_, "skip" + s, R, a_.S, {{0, 0}}, 0));
    }
    a_.out1 = make_conv(params_, "out1", a_.S, a_.Q, {{0, 0}}, 0);
    a_.out2 = make_conv(params_, "out2", a_.Q, K_, {{0, 0}}, 0);
    params_.allocate();
  }

  static TrainOptions default_train() {
    TrainOptions o;
    o.batch_size = 16;
    o.adam.learning_rate = 2e-3;
    return o;
  }

  // A chunk holds every layer's activations of its rows for the backward pass:
  // about 8192 positions, a model constant (never the thread count).
  size_t chunk_rows() const override { return size_t(std::clamp<int64_t>(8192 / D_, 1, 32)); }
  const Arch& arch() const { return a_; }
  void use_plain_sampler() { plain_ = true; }

  void loss_grad_rows(const int32_t* x, const int32_t* y, const float* w, size_t n, float* grad,
                      double* nll) const override {
    nll_and_grad<float>(a_, params_.data(), x, y, w, n, nullptr, nll, grad);
  }

 protected:
  size_t score_chunk_rows() const override { return size_t(std::clamp<int64_t>(16384 / D_, 1, 64)); }
  size_t sample_chunk_rows() const override { return 8; }

  void init_parameters(Rng& rng) override {
    float* p = params_.data();
    std::fill(p, p + params_.size(), 0.0f);
    auto uniform = [&](size_t at, size_t count, double bound) {
      for (size_t e = 0; e < count; ++e) p[at + e] = float((2.0 * rng.uniform() - 1.0) * bound);
    };
    // Fan-in scaled uniform weights; residual and skip branches start small,
    // the logits near uniform.
    uniform(a_.emb, size_t(2 * K_ * a_.R), std::sqrt(3.0 / 2.0));
    for (int64_t l = 0; l < a_.B; ++l) {
      const Conv& d = a_.dconv[size_t(l)];
      uniform(d.w, size_t(d.J() * d.fout), std::sqrt(3.0 / double(d.J())));
      if (l + 1 < a_.B) uniform(a_.res[size_t(l)].w, size_t(a_.R * a_.R), 0.5 * std::sqrt(3.0 / double(a_.R)));
      uniform(a_.skip[size_t(l)].w, size_t(a_.R * a_.S), 0.5 * std::sqrt(3.0 / double(a_.R)));
    }
    uniform(a_.out1.w, size_t(a_.S * a_.Q), std::sqrt(3.0 / double(a_.S)));
    uniform(a_.out2.w, size_t(a_.Q * K_), 0.1 * std::sqrt(3.0 / double(a_.Q)));
  }

  void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int, const uint8_t* known, double* out,
                     const Derived*) const override {
    std::vector<double> nll(n);
    nll_and_grad<float>(a_, params_.data(), x, y, nullptr, n, known, nll.data(), nullptr);
    for (size_t i = 0; i < n; ++i) out[i] = -nll[i];
  }

  void sample_rows(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, int, double temperature,
                   Rng& rng) const override {
    if (plain_) sample_plain(x, known, y, n, temperature, rng);
    else sample_cached(x, known, y, n, temperature, rng);
  }

  // One position of every layer a step; every layer's last Wr = max(d) + 1
  // inputs are kept in a ring of 2 Wr columns (position t at columns t mod Wr
  // and t mod Wr + Wr), so that the tap t - d of column (t mod Wr) + Wr is the
  // value of position t - d, and positions before 0 read the ring's zeros.
  void sample_cached(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, double temperature, Rng& rng) const {
    const int64_t D = D_, N = int64_t(n), Wr = a_.margin + 1, R = a_.R;
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    Net<float> net(a_, params_.data(), N, 2 * Wr, y, false);
    const nn::Grid gR = net.grid_of(R);
    for (int64_t l = 0; l <= a_.B; ++l)
      for (int64_t i = 0; i < N; ++i) std::fill(net.h[size_t(l)] + gR.at(i, 0, 0), net.h[size_t(l)] + gR.at(i, 0, 2 * Wr), 0.0f);
    for (int64_t t = 0; t < D; ++t) {
      const int64_t c = t % Wr + Wr;
      net.forward_column(x, c, t);
      for (int64_t l = 0; l < a_.B; ++l)
        for (int64_t i = 0; i < N; ++i)
          std::copy(net.h[size_t(l)] + gR.at(i, 0, c), net.h[size_t(l)] + gR.at(i, 0, c) + R,
                    net.h[size_t(l)] + gR.at(i, 0, c - Wr));
      for (int64_t i = 0; i < N; ++i)
        if (!known || !known[i * D + t]) x[i * D + t] = nn::softmax_sample<float>(net.logits(i, c), K_, temperature, rng);
    }
  }

  // The plain sampler (what the cached one must equal draw for draw): before
  // each position t, the whole network over positions [t - RF + 2, t], all
  // that position t's output depends on.
  void sample_plain(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, double temperature, Rng& rng) const {
    const int64_t D = D_, N = int64_t(n), span = a_.receptive() - 2;
    for (int64_t t = 0; t < D; ++t) {
      bool any = false;
      for (int64_t i = 0; i < N && !any; ++i) any = !known || !known[i * D + t];
      if (!any) continue;
      const int64_t t0 = std::max<int64_t>(0, t - span), W = t - t0 + 1;
      nn::Workspace& ws = nn::thread_workspace();
      nn::Workspace::Frame frame(ws);
      Net<float> net(a_, params_.data(), N, W, y, false);
      net.forward(x, 0, W, t0);
      for (int64_t i = 0; i < N; ++i)
        if (!known || !known[i * D + t]) x[i * D + t] = nn::softmax_sample<float>(net.logits(i, W - 1), K_, temperature, rng);
    }
  }

  void describe_extra(json& j) const override {
    j.erase("input");
    j["channels"] = a_.R;
    j["skip"] = a_.S;
    j["hidden"] = a_.Q;
    j["layers"] = a_.B;
    j["cycle"] = cycle_;
    j["receptive_field"] = a_.receptive();
  }

 private:
  Arch a_;
  int64_t cycle_ = 10;
  bool plain_ = false;
};

const WaveNet& as_wavenet(const Model& m) {
  const auto* p = dynamic_cast<const WaveNet*>(&m);
  if (!p) throw DataError("model of kind '" + m.kind() + "' is not a wavenet");
  return *p;
}

}  // namespace

std::unique_ptr<Model> create_wavenet(const Space& space, ConfigSection& model, ConfigSection& train) {
  return std::make_unique<WaveNet>(space, model, train);
}

namespace wavenet_testing {

std::unique_ptr<Model> with_plain_sampler(const Model& m) {
  auto plain = std::make_unique<WaveNet>(as_wavenet(m));
  plain->use_plain_sampler();
  return plain;
}

int64_t receptive_field(const Model& m) { return as_wavenet(m).arch().receptive(); }

double loss_grad_double(const Model& m, const std::vector<double>& params, const std::vector<int32_t>& x,
                        const std::vector<int32_t>& y, std::vector<double>* grad) {
  const WaveNet& wn = as_wavenet(m);
  return nn::summed_nll_and_grad(params.size(), y, grad, [&](const int32_t* yy, size_t n, double* nll, double* g) {
    nll_and_grad<double>(wn.arch(), params.data(), x.data(), yy, nullptr, n, nullptr, nll, g);
  });
}

std::vector<double> parameters(const Model& m) {
  const ParamStore& ps = as_wavenet(m).param_store();
  return std::vector<double>(ps.data(), ps.data() + ps.size());
}

}  // namespace wavenet_testing
}  // namespace dgm
