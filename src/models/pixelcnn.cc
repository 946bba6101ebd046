// pixelcnn.cc — PixelCNN (van den Oord et al. 2016, sec. 3.5) on the shared
// kernels of src/nn: masked convolutions over only the taps the mask allows
// (rows above and pixels to the left, plus the centre with channel masking:
// mask A connects input group g to output groups > g, mask B to groups >= g),
// without im2col (nn/conv.h), residual layers h <- h + conv_B(relu(h)), two
// 1x1 masked layers, and per sub-pixel a discretized logistic mixture
// (Salimans et al. 2017, eq. 2; exact CDF differences with open edges at 0 and
// K-1, in double) or a K-way softmax (nn/head.h). Labels add a learned bias
// per layer and label. Every buffer lives in the thread's workspace (no
// allocation per call). The network is templated on the scalar (float for
// training, double for the gradient check) with a hand-written backward pass.
// Sampling caches activations (Ramachandran et al. 2017, "Fast Generation for
// Convolutional Autoregressive Models"), one pixel of every layer a sub-pixel.
#include "dgm/models/pixelcnn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "dgm/error.h"
#include "dgm/models/autoregressive.h"
#include "dgm/train/params.h"
#include "nn/conv.h"
#include "nn/fd_check.h"
#include "nn/head.h"
#include "nn/workspace.h"

namespace dgm {
namespace {

// One masked convolution: out (pixel, fout) = b + q[y] + sum over the taps'
// columns of in (pixel + tap, fin) * W (T*fin, fout).
struct Layer {
  int64_t fin = 0, fout = 0;
  nn::Taps taps;              // (dy, dx) with dy < 0, or dy = 0 and dx <= 0
  size_t w = 0, b = 0, q = 0; // parameter offsets: w (T*fin, fout), b (fout), q (L, fout)
  std::vector<float> mask;    // (T*fin, fout): 1 where the connection exists
  int64_t J() const { return int64_t(taps.size()) * fin; }
};

struct Arch {
  int64_t C = 1, H = 1, W = 1, K = 2, L = 0, F = 64, R = 5, M = 10, P = 30;
  // Video [T, C, H, W]: frames in order, each frame an image conditioned on
  // the KC frames before it through `ctx`, an unmasked first_kernel x
  // first_kernel convolution of those frames (zero before the clip's start)
  // with a bias per frame index, added to layer 0. Images: T = 1, KC = 0.
  int64_t T = 1, KC = 0;
  Layer ctx;  // fin = KC * C, fout = F; q: (T, F) the frame-index bias
  bool dlm = true;
  int64_t up = 0;             // rows above a pixel that can reach it (the receptive field's height - 1)
  std::vector<Layer> layers;  // [0] mask A input, [1..R] residual, [R+1] 1x1 hidden, [R+2] 1x1 output
  nn::Margins margins;        // of every hidden grid: the taps of layers >= 1, forward and backward
  nn::Margins in_margins;     // of the input grids (in0, cin): layer 0's taps and ctx's
  nn::DlmHead head() const { return nn::DlmHead{K, M}; }
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

// The network on n images of H rows (x (n, C*H*W) channel-major, y (n) labels;
// for video, frame (n) and clip (n) the frame index and clip of each image),
// every buffer a grid (margins zeroed where taps read them) in the caller's
// thread workspace (the caller holds the Frame). Grids: in0 (C) inputs scaled to [-1, 1]; h[r] (F)
// the residual stream and a[r] = relu(h[r]), r = 0..R; o1 / a1 (F) the hidden
// 1x1 layer; out (C*P, no margins) the outputs, pixel-major.
template <typename T>
struct Net {
  const Arch& a;
  const T* p;  // parameters
  int64_t n, H;
  const int32_t* ylabel;  // (n) labels, in [0, L) on a labeled space
  const int32_t *frame_of = nullptr, *clip_of = nullptr;  // (n) each, video only
  nn::Grid g, g0, gout;  // hidden geometry (F = a.F), inputs' (F = C; cin: KC * C), outputs
  T *in0 = nullptr, *o1 = nullptr, *a1 = nullptr, *out = nullptr;
  T *cin = nullptr, *cout = nullptr;  // video: the context frames (KC*C), ctx's output (F)
  std::vector<T*> h, act;  // (R+1) each
  // Per layer: masked weights, their adjoint, column offsets, per-image start values.
  struct Prep {
    T *w = nullptr, *wt = nullptr, *init = nullptr;
    int64_t *col = nullptr, *colt = nullptr;
  };
  std::vector<Prep> prep;
  Prep ctxp;  // video: the context layer

  Net(const Arch& arch, const T* params, int64_t n_, int64_t H_, const int32_t* y, bool backward,
      const int32_t* frame_ = nullptr, const int32_t* clip_ = nullptr)
      : a(arch), p(params), n(n_), H(H_), ylabel(y), frame_of(frame_), clip_of(clip_) {
    nn::Workspace& ws = nn::thread_workspace();
    g.n = n, g.H = H, g.W = a.W, g.F = a.F;
    g.top = a.margins.top, g.bottom = a.margins.bottom, g.left = a.margins.left, g.right = a.margins.right;
    g0 = g.with_channels(a.C);
    g0.top = a.in_margins.top, g0.bottom = a.in_margins.bottom, g0.left = a.in_margins.left, g0.right = a.in_margins.right;
    gout.n = n, gout.H = H, gout.W = a.W, gout.F = a.C * a.P;
    in0 = grid(g0, true);
    h.resize(size_t(a.R + 1));
    act.resize(size_t(a.R + 1));
    // h[r] is read at its own pixels only (a residual, a gate); act[r] through
    // layer r + 1's taps (the 1x1 hidden layer's for r = R).
    for (int64_t r = 0; r <= a.R; ++r) h[size_t(r)] = grid(g, false), act[size_t(r)] = grid(g, r < a.R);
    o1 = grid(g, false);
    a1 = grid(g, false);
    out = ws.take<T>(gout.size());
    if (a.KC > 0) {
      cin = grid(g0.with_channels(a.KC * a.C), true);
      cout = grid(g, false);
      const Layer& ly = a.ctx;
      ctxp.w = ws.take<T>(size_t(ly.J() * ly.fout));
      std::copy(p + ly.w, p + ly.w + ly.J() * ly.fout, ctxp.w);
      ctxp.col = ws.take<int64_t>(size_t(ly.J()));
      nn::column_offsets(ly.taps, g0.with_channels(ly.fin), ctxp.col);
      ctxp.init = ws.take<T>(size_t(n * ly.fout));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t o = 0; o < ly.fout; ++o) ctxp.init[i * ly.fout + o] = p[ly.q + size_t(frame_of[i]) * size_t(ly.fout) + size_t(o)];
    }
    prep.resize(a.layers.size());
    for (size_t l = 0; l < a.layers.size(); ++l) {
      const Layer& ly = a.layers[l];
      Prep& pr = prep[l];
      const int64_t J = ly.J(), T_ = int64_t(ly.taps.size());
      // Masked weights never act, whatever is stored.
      pr.w = ws.take<T>(size_t(J * ly.fout));
      for (int64_t e = 0; e < J * ly.fout; ++e) pr.w[e] = p[ly.w + size_t(e)] * T(ly.mask[size_t(e)]);
      pr.col = ws.take<int64_t>(size_t(J));
      nn::column_offsets(ly.taps, in_grid(l), pr.col);
      pr.init = ws.take<T>(size_t(n * ly.fout));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t o = 0; o < ly.fout; ++o)
          pr.init[i * ly.fout + o] = p[ly.b + size_t(o)] + (a.L > 0 ? p[ly.q + size_t(y[i]) * size_t(ly.fout) + size_t(o)] : T(0));
      if (backward && l > 0) {
        pr.wt = ws.take<T>(size_t(J * ly.fout));
        nn::transpose_columns(T_, ly.fin, ly.fout, pr.w, pr.wt);
        pr.colt = ws.take<int64_t>(size_t(T_ * ly.fout));
        nn::column_offsets(nn::negate(ly.taps), out_grid(l), pr.colt);
      }
    }
  }

  // A grid of the workspace, its margins zeroed when it is read through taps
  // other than (0, 0) (the interior is written before it is read; nothing
  // reads the margins of the others).
  T* grid(const nn::Grid& gg, bool tapped) const {
    T* d = nn::thread_workspace().take<T>(gg.size());
    if (tapped) nn::zero_margins(gg, d);
    return d;
  }
  nn::Grid in_grid(size_t l) const { return l == 0 ? g0 : g; }
  nn::Grid out_grid(size_t l) const { return l + 1 == a.layers.size() ? gout : g; }

  void conv(size_t l, const T* in, T* res, const nn::Region& rg, const T* add, T* relu) const {
    const Layer& ly = a.layers[l];
    nn::Epilogue<T> ep;
    ep.init = prep[l].init;
    ep.add = add;
    ep.relu = relu;
    // Inputs: a ReLU's outputs, zero together over neighbouring pixels (a
    // region of one pixel an image, as in cached sampling, gains nothing).
    ep.skip_zero_inputs = l > 0 && rg.pixels() > rg.i1 - rg.i0;
    nn::conv_forward<T>(ly.J(), prep[l].col, prep[l].w, in_grid(l), in, out_grid(l), res, rg, ep);
  }

  // in0 over the rows of `rg` from x (n, C*H*W).
  void set_inputs(const int32_t* x, const nn::Region& rg) {
    const int64_t C = a.C, HW = H * a.W, D = C * HW;
    const T scale = T(2.0 / double(a.K - 1));
    const nn::Grid& gi = g0;
    for (int64_t i = rg.i0; i < rg.i1; ++i)
      for (int64_t r = rg.r0; r < rg.r1; ++r)
        for (int64_t c = rg.c0; c < rg.c1; ++c)
          for (int64_t ch = 0; ch < C; ++ch)
            in0[gi.at(i, r, c) + ch] = T(x[i * D + ch * HW + r * a.W + c]) * scale - T(1);
  }

  // Video: cin of images [i0, i1) from the clips' earlier frames in x_img
  // (clips * T images of H_full rows, frame-major: image f * clips + c),
  // rows r0 - top .. r0 + H + bottom of the full frames in this net's rows
  // 0 - top .. H + bottom (real rows where the frame has them, else zero),
  // so that a window of rows computes what the whole frame computes there.
  void set_context(const int32_t* x_img, int64_t clips, int64_t H_full, int64_t r0, int64_t i0, int64_t i1) {
    const int64_t C = a.C, W = a.W, HWf = H_full * W, D = C * HWf;
    const T scale = T(2.0 / double(a.K - 1));
    const nn::Grid gc = g0.with_channels(a.KC * C);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t r = -gc.top; r < H + gc.bottom; ++r) {
        const int64_t rf = r0 + r;
        for (int64_t c = -gc.left; c < W + gc.right; ++c) {
          T* dst = cin + gc.at(i, r, c);
          for (int64_t k = 0; k < a.KC; ++k) {
            const int64_t f = frame_of[i] - 1 - k;
            const bool real = f >= 0 && rf >= 0 && rf < H_full && c >= 0 && c < W;
            for (int64_t ch = 0; ch < C; ++ch)
              dst[k * C + ch] = real ? T(x_img[(f * clips + clip_of[i]) * D + ch * HWf + rf * W + c]) * scale - T(1) : T(0);
          }
        }
      }
  }

  // Every layer over the region (inputs set there and at every earlier pixel),
  // about kForwardPixels pixels at a time (one 28x28 image; 2048 and 4096
  // measured slower): all layers over them while their grids are in cache,
  // instead of each layer streaming the whole batch's grids through memory. Each value is computed as any other split computes it
  // (nn/conv.h), so the split changes no bit; regions of a pixel an image
  // (cached sampling) stay in one piece.
  void forward(const nn::Region& rg) {
    const int64_t per_image = (rg.r1 - rg.r0) * (rg.c1 - rg.c0);
    const int64_t chunk = std::max<int64_t>(1, kForwardPixels / std::max<int64_t>(1, per_image));
    for (int64_t i0 = rg.i0; i0 < rg.i1; i0 += chunk)
      forward_part({i0, std::min(rg.i1, i0 + chunk), rg.r0, rg.r1, rg.c0, rg.c1});
  }
  static constexpr int64_t kForwardPixels = 1024;

  void forward_part(const nn::Region& rg) {
    const int64_t R = a.R;
    if (a.KC > 0) {
      nn::Epilogue<T> ep;
      ep.init = ctxp.init;
      nn::conv_forward<T>(a.ctx.J(), ctxp.col, ctxp.w, g0.with_channels(a.ctx.fin), cin, g, cout, rg, ep);
    }
    conv(0, in0, h[0], rg, cout, act[0]);
    for (int64_t r = 1; r <= R; ++r) conv(size_t(r), act[size_t(r - 1)], h[size_t(r)], rg, h[size_t(r - 1)], act[size_t(r)]);
    conv(size_t(R + 1), act[size_t(R)], o1, rg, nullptr, a1);
    conv(size_t(R + 2), a1, out, rg, nullptr, nullptr);
  }

  // Outputs of sub-pixel (image i, channel c, pixel q).
  const T* outputs(int64_t i, int64_t c, int64_t q) const { return out + (i * H * a.W + q) * a.C * a.P + c * a.P; }

  // Adds the gradient of layer l's parameters given its input `in` and the
  // gradient dres of its output (both over every pixel).
  void layer_grads(size_t l, const T* in, const T* dres, T* gr) const {
    const Layer& ly = a.layers[l];
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    const int64_t J = ly.J(), fo = ly.fout;
    T* dw = ws.take_zero<T>(size_t(J * fo));
    // Inputs of layers >= 1: a ReLU's outputs, often zero.
    nn::conv_backward_weights<T>(J, prep[l].col, in_grid(l), in, out_grid(l), dres, nn::Region::all(g), dw, nullptr,
                                 l > 0);
    // Masked entries get no gradient: their weights never act.
    for (int64_t e = 0; e < J * fo; ++e) gr[ly.w + size_t(e)] += dw[e] * T(ly.mask[size_t(e)]);
    T* s = ws.take<T>(size_t(n * fo));
    nn::sum_pixels(out_grid(l), dres, nn::Region::all(g), s);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < fo; ++o) gr[ly.b + size_t(o)] += s[i * fo + o];
    if (a.L > 0)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t o = 0; o < fo; ++o) gr[ly.q + size_t(ylabel[i]) * size_t(fo) + size_t(o)] += s[i * fo + o];
  }

  // d in = conv_l^T(dres), zeroed where gate <= 0, plus add (null: nothing).
  void layer_adjoint(size_t l, const T* dres, const T* gate, const T* add, T* din) const {
    const Layer& ly = a.layers[l];
    nn::Epilogue<T> ep;
    ep.gate = gate;
    ep.add = add;
    ep.skip_zero_inputs = true;  // dres: gradients gated by a ReLU, often zero
    nn::conv_forward<T>(int64_t(ly.taps.size()) * ly.fout, prep[l].colt, prep[l].wt, out_grid(l), dres, in_grid(l), din,
                        nn::Region::all(g), ep);
  }

  // Given dout (outputs' gradient, laid out as out), adds the parameter gradient to gr.
  void backward(const T* dout, T* gr) const {
    const int64_t R = a.R;
    T* d1 = grid(g, false);  // read through the 1x1 hidden layer's adjoint
    T* dh = grid(g, true);
    T* dh2 = grid(g, true);
    layer_grads(size_t(R + 2), a1, dout, gr);
    layer_adjoint(size_t(R + 2), dout, o1, nullptr, d1);  // d o1
    layer_grads(size_t(R + 1), act[size_t(R)], d1, gr);
    layer_adjoint(size_t(R + 1), d1, h[size_t(R)], nullptr, dh);  // d h[R]
    for (int64_t r = R; r >= 1; --r) {
      // h[r] = h[r-1] + conv_r(relu(h[r-1])).
      layer_grads(size_t(r), act[size_t(r - 1)], dh, gr);
      layer_adjoint(size_t(r), dh, h[size_t(r - 1)], dh, dh2);
      std::swap(dh, dh2);
    }
    layer_grads(0, in0, dh, gr);
    if (a.KC > 0) {
      // The context layer: its weights and frame-index biases.
      const Layer& ly = a.ctx;
      nn::Workspace& ws = nn::thread_workspace();
      nn::Workspace::Frame frame(ws);
      const int64_t J = ly.J(), fo = ly.fout;
      T* dw = ws.take_zero<T>(size_t(J * fo));
      nn::conv_backward_weights<T>(J, ctxp.col, g0.with_channels(ly.fin), cin, g, dh, nn::Region::all(g), dw);
      for (int64_t e = 0; e < J * fo; ++e) gr[ly.w + size_t(e)] += dw[e];
      T* s = ws.take<T>(size_t(n * fo));
      nn::sum_pixels(g, dh, nn::Region::all(g), s);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t o = 0; o < fo; ++o) gr[ly.q + size_t(frame_of[i]) * size_t(fo) + size_t(o)] += s[i * fo + o];
    }
  }
};

// Sum of -log P over the known positions (all when known is null) of n
// images of H rows from the network's outputs; nll[i] per image; when dout is
// non-null, writes w[i] d nll[i] / d out into it (w null: 1).
template <typename T>
void head_loss(const Arch& a, const Net<T>& net, const int32_t* x, const uint8_t* known, const float* w, double* nll,
               T* dout) {
  const int64_t C = a.C, HW = net.H * a.W, D = C * HW, P = a.P, n = net.n;
  nn::Workspace& ws = nn::thread_workspace();
  nn::Workspace::Frame frame(ws);
  double* lp = ws.take<double>(size_t(HW));
  double* ws_w = ws.take<double>(size_t(HW));
  const nn::DlmHead head = a.head();
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    const double wi = w ? double(w[i]) : 1.0;
    std::fill(ws_w, ws_w + HW, wi);
    for (int64_t c = 0; c < C; ++c) {
      const int32_t* v = x + i * D + c * HW;
      const T* o = net.outputs(i, c, 0);
      T* d = dout ? dout + (o - net.out) : nullptr;
      if (a.dlm) {
        head.log_prob<T>(HW, o, C * P, v, lp, ws_w, d);
      } else {
        for (int64_t q = 0; q < HW; ++q)
          lp[q] = nn::softmax_log_prob<T>(o + q * C * P, a.K, v[q], wi, d ? d + q * C * P : nullptr);
      }
      for (int64_t q = 0; q < HW; ++q)
        if (!known || known[i * D + c * HW + q]) s -= lp[q];
    }
    nll[i] = s;
  }
}

// Sum of -log P over the known positions of n full images; nll[i] per image;
// adds sum_i w[i] d nll[i] / d params to g when g is non-null.
// Video: the clips' frames as images, frame-major (image f * n + i is frame f
// of clip i), with their labels, frame indices and clips.
struct VideoImages {
  std::vector<int32_t> x, y, frame, clip;
  std::vector<uint8_t> known;
  VideoImages(const Arch& a, const int32_t* xc, const int32_t* yc, size_t n, const uint8_t* kc) {
    const size_t T = size_t(a.T), F = size_t(a.C * a.H * a.W);
    x.resize(n * T * F);
    y.resize(n * T);
    frame.resize(n * T);
    clip.resize(n * T);
    if (kc) known.resize(n * T * F);
    for (size_t f = 0; f < T; ++f)
      for (size_t i = 0; i < n; ++i) {
        const size_t img = f * n + i;
        std::copy(xc + (i * T + f) * F, xc + (i * T + f + 1) * F, x.begin() + long(img * F));
        if (kc) std::copy(kc + (i * T + f) * F, kc + (i * T + f + 1) * F, known.begin() + long(img * F));
        y[img] = yc[i];
        frame[img] = int32_t(f);
        clip[img] = int32_t(i);
      }
  }
  // Back into clips: x_clips (n, T*F).
  void put_back(const Arch& a, size_t n, int32_t* xc) const {
    const size_t T = size_t(a.T), F = size_t(a.C * a.H * a.W);
    for (size_t f = 0; f < T; ++f)
      for (size_t i = 0; i < n; ++i) std::copy(x.begin() + long((f * n + i) * F), x.begin() + long((f * n + i + 1) * F), xc + (i * T + f) * F);
  }
};

template <typename T>
void nll_and_grad(const Arch& a, const T* p, const int32_t* x, const int32_t* y, const float* w, size_t n,
                  const uint8_t* known, double* nll, T* g) {
  nn::Workspace& ws = nn::thread_workspace();
  nn::Workspace::Frame frame(ws);
  if (a.T > 1) {
    // Video: every frame an image, conditioned on the frames before it.
    const VideoImages v(a, x, y, n, known);
    const size_t m = n * size_t(a.T);
    std::vector<float> wv;
    if (w)
      for (int64_t f = 0; f < a.T; ++f) wv.insert(wv.end(), w, w + n);
    std::vector<double> per(m);
    Net<T> net(a, p, int64_t(m), a.H, v.y.data(), g != nullptr, v.frame.data(), v.clip.data());
    const nn::Region all = nn::Region::all(net.g);
    net.set_inputs(v.x.data(), all);
    net.set_context(v.x.data(), int64_t(n), a.H, 0, 0, int64_t(m));
    net.forward(all);
    T* dout = g ? ws.take<T>(net.gout.size()) : nullptr;
    head_loss(a, net, v.x.data(), known ? v.known.data() : nullptr, w ? wv.data() : nullptr, per.data(), dout);
    for (size_t i = 0; i < n; ++i) {
      nll[i] = 0;
      for (int64_t f = 0; f < a.T; ++f) nll[i] += per[size_t(f) * n + i];
    }
    if (g) net.backward(dout, g);
    return;
  }
  Net<T> net(a, p, int64_t(n), a.H, y, g != nullptr);
  const nn::Region all = nn::Region::all(net.g);
  net.set_inputs(x, all);
  net.forward(all);
  T* dout = g ? ws.take<T>(net.gout.size()) : nullptr;
  head_loss(a, net, x, known, w, nll, dout);
  if (g) net.backward(dout, g);
}

class PixelCnn : public AutoregressiveModel {
 public:
  PixelCnn(const Space& space, ConfigSection& m, ConfigSection& t)
      : AutoregressiveModel(space, "pixelcnn", m, t, default_train()) {
    const auto& shape = space.shape();
    if (shape.size() > 4)
      throw ConfigError("model.type: 'pixelcnn' needs an image shape [C, H, W], [H, W] or [W], or a video [T, C, H, W]; got " +
                        space.describe());
    if (shape.size() == 4) a_.T = shape[0];
    a_.C = shape.size() >= 3 ? shape[shape.size() - 3] : 1;
    a_.H = shape.size() >= 2 ? shape[shape.size() - 2] : 1;
    a_.W = shape.back();
    if (a_.T > 1) a_.KC = m.get_int("context_frames", a_.T - 1, 1, a_.T - 1);
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
      // The inputs are read through layer 0's taps; hidden grids through the
      // later layers' taps, and through their adjoint's in the backward pass
      // (layer 0 has no adjoint: its 7x7 margins would widen every grid).
      if (j == 0) a_.in_margins = nn::margins_for(ly.taps);
      else a_.margins = nn::max_margins(a_.margins, nn::max_margins(nn::margins_for(ly.taps), nn::margins_for(nn::negate(ly.taps))));
    }
    if (a_.KC > 0) {
      // The context: every tap of a first_kernel square, no mask (earlier frames are known).
      Layer& ly = a_.ctx;
      ly.fin = a_.KC * C;
      ly.fout = F;
      const int h = int(k0 / 2);
      for (int dy = -h; dy <= h; ++dy)
        for (int dx = -h; dx <= h; ++dx) ly.taps.emplace_back(dy, dx);
      ly.mask.assign(size_t(ly.J() * ly.fout), 1.0f);
      ly.w = params_.add("ctx.w", {uint64_t(ly.J()), uint64_t(F)});
      ly.q = params_.add("ctx.q", {uint64_t(a_.T), uint64_t(F)});
      a_.in_margins = nn::max_margins(a_.in_margins, nn::margins_for(ly.taps));
    }
    params_.allocate();
    order_.resize(size_t(D_));
    const int64_t HW = a_.H * a_.W;
    for (int64_t f = 0; f < a_.T; ++f)
      for (int64_t q = 0; q < HW; ++q)
        for (int64_t c = 0; c < C; ++c) order_[size_t((f * HW + q) * C + c)] = f * C * HW + c * HW + q;
  }

  static TrainOptions default_train() {
    TrainOptions o;
    o.batch_size = 32;
    o.adam.learning_rate = 2e-3;
    return o;
  }

  size_t chunk_rows() const override { return 8; }
  const Arch& arch() const { return a_; }
  void use_plain_sampler() { plain_sampler_ = true; }

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
  // Tiles of the cached sampler are 8 images of one pixel.
  size_t sample_chunk_rows() const override { return 8; }

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
    if (a_.KC > 0) {
      const Layer& ly = a_.ctx;
      const double bound = std::sqrt(3.0 / double(ly.J()));
      for (size_t e = 0; e < size_t(ly.J() * ly.fout); ++e) p[ly.w + e] = float((2.0 * rng.uniform() - 1.0) * bound);
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

  void log_prob_rows(const int32_t* x, const int32_t* y, size_t n, int, const uint8_t* known, double* out,
                     const Derived*) const override {
    std::vector<double> nll(n);
    nll_and_grad<float>(a_, params_.data(), x, y, nullptr, n, known, nll.data(), nullptr);
    for (size_t i = 0; i < n; ++i) out[i] = -nll[i];
  }

  // Ancestral sampling in the model's order with cached activations
  // (Ramachandran et al. 2017): a layer's value at a pixel depends only on the
  // layer below at that pixel and earlier ones in raster order, so once the
  // inputs before a pixel are drawn its values are final. Each sub-pixel then
  // costs one pixel of every layer (for the chunk's images at once) and a draw
  // from the head; with channel masking a pixel's layers are recomputed for each
  // of its C channels (group c of a layer sees input channels < c only).
  void sample_rows(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, int, double temperature,
                   Rng& rng) const override {
    if (a_.T > 1) {
      sample_video(x, known, y, n, temperature, rng);
      return;
    }
    if (plain_sampler_) {
      sample_rows_plain(x, known, y, n, temperature, rng);
      return;
    }
    const int64_t C = a_.C, W = a_.W, HW = a_.H * W, D = D_, N = int64_t(n);
    nn::Workspace& ws = nn::thread_workspace();
    nn::Workspace::Frame frame(ws);
    Net<float> net(a_, params_.data(), N, a_.H, y, false);
    net.set_inputs(x, nn::Region::all(net.g));
    for (int64_t q = 0; q < HW; ++q) {
      const nn::Region px = nn::Region::pixel(0, N, q / W, q % W);
      for (int64_t c = 0; c < C; ++c) {
        const int64_t d = c * HW + q;
        bool any = false;
        for (int64_t i = 0; i < N && !any; ++i) any = !known || !known[i * D + d];
        // The last channel's pass leaves the pixel's final values for later pixels.
        if (!any && c + 1 < C) continue;
        net.forward(px);
        if (!any) continue;
        for (int64_t i = 0; i < N; ++i) {
          if (known && known[i * D + d]) continue;
          x[i * D + d] = draw(net.outputs(i, c, q), temperature, rng);
          net.set_inputs(x, {i, i + 1, q / W, q / W + 1, q % W, q % W + 1});
        }
      }
    }
  }

  int32_t draw(const float* o, double temperature, Rng& rng) const {
    return a_.dlm ? a_.head().sample<float>(o, temperature, rng) : nn::softmax_sample<float>(o, K_, temperature, rng);
  }

  // The plain sampler (what the cached one must equal draw for draw): for
  // every sub-pixel, a forward pass over the a.up rows above it and its own.
  void sample_rows_plain(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, double temperature,
                         Rng& rng) const {
    const int64_t C = a_.C, W = a_.W, HW = a_.H * W, D = D_, N = int64_t(n);
    for (int64_t t = 0; t < D; ++t) {
      const int64_t d = order_[size_t(t)], c = d / HW, q = d % HW, r = q / W, col = q % W;
      bool any = false;
      for (int64_t i = 0; i < N && !any; ++i) any = !known || !known[i * D + d];
      if (!any) continue;
      const int64_t r0 = std::max<int64_t>(0, r - a_.up), Hw = r - r0 + 1, Dw = C * Hw * W;
      nn::Workspace& ws = nn::thread_workspace();
      nn::Workspace::Frame frame(ws);
      int32_t* xw = ws.take<int32_t>(size_t(N * Dw));
      for (int64_t i = 0; i < N; ++i)
        for (int64_t cc = 0; cc < C; ++cc)
          std::copy(x + i * D + cc * HW + r0 * W, x + i * D + cc * HW + (r + 1) * W, xw + i * Dw + cc * Hw * W);
      Net<float> net(a_, params_.data(), N, Hw, y, false);
      const nn::Region all = nn::Region::all(net.g);
      net.set_inputs(xw, all);
      net.forward(all);
      for (int64_t i = 0; i < N; ++i)
        if (!known || !known[i * D + d]) x[i * D + d] = draw(net.outputs(i, c, (r - r0) * W + col), temperature, rng);
    }
  }

  // Video: frame after frame, each sampled as an image (cached or plain, as
  // above) given the frames before it; a frame whose pixels are all known
  // (the start of a clip given with --given) is only context.
  void sample_video(int32_t* x, const uint8_t* known, const int32_t* y, size_t n, double temperature, Rng& rng) const {
    const int64_t C = a_.C, W = a_.W, HW = a_.H * W, Df = C * HW, N = int64_t(n);
    VideoImages v(a_, x, y, n, known);
    const uint8_t* kn = known ? v.known.data() : nullptr;
    auto unknown = [&](int64_t img, int64_t d) { return !kn || !kn[img * Df + d]; };
    nn::Workspace& ws = nn::thread_workspace();
    for (int64_t f = 0; f < a_.T; ++f) {
      const int64_t i0 = f * N, i1 = i0 + N;
      bool any_frame = false;
      for (int64_t i = i0; i < i1 && !any_frame; ++i)
        for (int64_t d = 0; d < Df && !any_frame; ++d) any_frame = unknown(i, d);
      if (!any_frame) continue;
      if (!plain_sampler_) {
        nn::Workspace::Frame frame(ws);
        Net<float> net(a_, params_.data(), N, a_.H, v.y.data() + i0, false, v.frame.data() + i0, v.clip.data() + i0);
        const int32_t* xf = v.x.data() + i0 * Df;
        net.set_inputs(xf, nn::Region::all(net.g));
        net.set_context(v.x.data(), N, a_.H, 0, 0, N);
        for (int64_t q = 0; q < HW; ++q) {
          const nn::Region px = nn::Region::pixel(0, N, q / W, q % W);
          for (int64_t c = 0; c < C; ++c) {
            const int64_t d = c * HW + q;
            bool any = false;
            for (int64_t i = i0; i < i1 && !any; ++i) any = unknown(i, d);
            if (!any && c + 1 < C) continue;
            net.forward(px);
            if (!any) continue;
            for (int64_t i = 0; i < N; ++i) {
              if (!unknown(i0 + i, d)) continue;
              v.x[size_t((i0 + i) * Df + d)] = draw(net.outputs(i, c, q), temperature, rng);
              net.set_inputs(xf, {i, i + 1, q / W, q / W + 1, q % W, q % W + 1});
            }
          }
        }
        continue;
      }
      for (int64_t t = 0; t < Df; ++t) {
        const int64_t d = order_[size_t(t)], c = d / HW, q = d % HW, r = q / W, col = q % W;
        bool any = false;
        for (int64_t i = i0; i < i1 && !any; ++i) any = unknown(i, d);
        if (!any) continue;
        const int64_t r0 = std::max<int64_t>(0, r - a_.up), Hw = r - r0 + 1, Dw = C * Hw * W;
        nn::Workspace::Frame frame(ws);
        int32_t* xw = ws.take<int32_t>(size_t(N * Dw));
        for (int64_t i = 0; i < N; ++i)
          for (int64_t cc = 0; cc < C; ++cc) {
            const int32_t* src = v.x.data() + (i0 + i) * Df + cc * HW;
            std::copy(src + r0 * W, src + (r + 1) * W, xw + i * Dw + cc * Hw * W);
          }
        Net<float> net(a_, params_.data(), N, Hw, v.y.data() + i0, false, v.frame.data() + i0, v.clip.data() + i0);
        const nn::Region all = nn::Region::all(net.g);
        net.set_inputs(xw, all);
        net.set_context(v.x.data(), N, a_.H, r0, 0, N);
        net.forward(all);
        for (int64_t i = 0; i < N; ++i)
          if (unknown(i0 + i, d)) v.x[size_t((i0 + i) * Df + d)] = draw(net.outputs(i, c, (r - r0) * W + col), temperature, rng);
      }
    }
    v.put_back(a_, n, x);
  }

  void describe_extra(json& j) const override {
    j.erase("input");
    if (a_.T > 1) {
      j["frames"] = a_.T;
      j["context_frames"] = a_.KC;
    }
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
  bool plain_sampler_ = false;  // pixelcnn_testing::sample_plain
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
  nn::Workspace& ws = nn::thread_workspace();
  nn::Workspace::Frame frame(ws);
  Net<float> net(a, pc.param_store().data(), 1, a.H, &yy, false);
  const nn::Region all = nn::Region::all(net.g);
  net.set_inputs(x.data(), all);
  net.forward(all);
  return std::vector<double>(net.out, net.out + net.gout.size());
}

std::unique_ptr<Model> with_plain_sampler(const Model& m) {
  auto plain = std::make_unique<PixelCnn>(as_pixelcnn(m));
  plain->use_plain_sampler();
  return plain;
}

int64_t outputs_per_subpixel(const Model& m) { return as_pixelcnn(m).arch().P; }

std::vector<int64_t> order(const Model& m) { return as_pixelcnn(m).ordering(0); }

double loss_grad_double(const Model& m, const std::vector<double>& params, const std::vector<int32_t>& x,
                        const std::vector<int32_t>& y, std::vector<double>* grad) {
  const PixelCnn& pc = as_pixelcnn(m);
  return nn::summed_nll_and_grad(params.size(), y, grad, [&](const int32_t* yy, size_t n, double* nll, double* g) {
    nll_and_grad<double>(pc.arch(), params.data(), x.data(), yy, nullptr, n, nullptr, nll, g);
  });
}

std::vector<double> parameters(const Model& m) {
  const ParamStore& ps = as_pixelcnn(m).param_store();
  return std::vector<double>(ps.data(), ps.data() + ps.size());
}

}  // namespace pixelcnn_testing
}  // namespace dgm
