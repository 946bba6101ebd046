// wavenet.h — WaveNet (van den Oord et al. 2016, "WaveNet: A Generative Model
// for Raw Audio", sec. 2): a stack of dilated causal 1-D convolutions with
// gated units z = tanh(W_f * h + V_f y) . sigmoid(W_g * h + V_g y) (eq. 2,
// global conditioning on the label y, eq. 3), residual and parameterised skip
// connections (sec. 2.4), and a softmax over the K levels (sec. 2.2: 256
// mu-law levels for sound). See src/models/wavenet.cc.
//
// Symbols: N rows, D positions (a frame of F samples; any fixed shape is read
// in raster order), K levels, L labels, R residual channels, S skip channels,
// Q output hidden units, B dilated layers with dilations d_l = 2^(l mod cycle).
// P(x | y) = prod_t P(x_t | x_<t, y), exact; x_t sees x_{t-1} .. x_{t-RF} with
// the receptive field RF = 2 + sum_l d_l (the input layer reads x_{t-1} and
// x_{t-2}). Label -1 marginalises over y with the label-count prior.
// Sampling caches every layer's past activations (Paine et al. 2016, "Fast
// Wavenet Generation Algorithm"): one position of every layer a sample,
// instead of the plain sampler's forward pass over the receptive field; both
// draw exactly the same samples under a seed.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dgm/model.h"

namespace dgm {

// Registry factory. Model keys: "channels" (R, 32), "skip" (S, 64), "hidden"
// (Q, 64), "layers" (B, 10), "cycle" (dilations 1, 2, .., 2^(cycle-1), then
// again; 10), "sampler" ("cached" or "plain", for comparisons; "cached").
// Training keys: those of train/trainer.h (epochs, batch_size, patience, Adam).
std::unique_ptr<Model> create_wavenet(const Space& space, ConfigSection& model, ConfigSection& train);

// Hooks for tests (DataError when `m` is not a wavenet).
namespace wavenet_testing {
// The same model drawing with the plain (recomputing) sampler.
std::unique_ptr<Model> with_plain_sampler(const Model& m);
// Positions x_t sees before it (RF).
int64_t receptive_field(const Model& m);
// The summed NLL (nats) of samples x (n, D) with labels y (n, each >= 0 or
// -1 read as 0) at `params` in double precision, and its gradient.
double loss_grad_double(const Model& m, const std::vector<double>& params, const std::vector<int32_t>& x,
                        const std::vector<int32_t>& y, std::vector<double>* grad);
std::vector<double> parameters(const Model& m);
}  // namespace wavenet_testing

}  // namespace dgm
