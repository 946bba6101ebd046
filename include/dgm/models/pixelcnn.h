// pixelcnn.h — PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural
// Networks", sec. 3.5): masked convolutions in raster order with R,G,B channel
// masking (mask A on the first layer, B after), residual layers, a per-layer
// bias per label, and either a discretized logistic mixture (Salimans et al.
// 2017, PixelCNN++ eq. 2) or a K-way softmax per sub-pixel. See src/models/pixelcnn.cc.
//
// Images: shape [C, H, W] (or [H, W] = one channel, or [W] = one row), values
// in {0..K-1}, stored channel-major (d = c*H*W + r*W + x). The model's order is
// raster order with the channels of a pixel consecutive: t = (r*W + x)*C + c.
// log P(x | y) = sum_t log P(x_t | x_<t, y), exact (the logistic mixture's K
// bin probabilities telescope to 1); label -1 marginalises over y with the
// label-count prior. Sampling is ancestral with cached activations
// (Ramachandran et al. 2017): each sub-pixel costs every layer at its pixel
// only; temperature T draws each sub-pixel from P(v | x_<t, y)^(1/T),
// renormalised over the K levels.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dgm/model.h"

namespace dgm {

// Video [T, C, H, W] (a clip of T frames): the order is frame by frame, each
// frame in raster order as an image, conditioned on the frames before it by an
// unmasked first_kernel x first_kernel convolution of the "context_frames"
// frames before it (default all, T - 1; zero before the clip starts) with a
// bias per frame index, added to the first layer:
// log P(clip) = sum_f log P(frame_f | frames < f, y), exact. Sampling draws
// frame after frame; completion continues a clip from its first frames.
//
// Registry factory. Model keys: "channels" (hidden feature maps, 64), "layers"
// (residual masked-conv layers, 5), "kernel" (3), "first_kernel" (7),
// "output" ("dlm" | "softmax"), "mixtures" (logistics a sub-pixel, 10),
// "context_frames" (video only, 1..T-1, default T-1).
// Training keys: those of train/trainer.h (epochs, batch_size, patience, Adam).
std::unique_ptr<Model> create_pixelcnn(const Space& space, ConfigSection& model, ConfigSection& train);

// Hooks for tests (throw DataError when `m` is not a pixelcnn).
namespace pixelcnn_testing {
// The raw network outputs (H*W, C*P) of one sample, P outputs a sub-pixel,
// pixel-major: out[(r*W + x)*C*P + c*P + j].
std::vector<double> network_outputs(const Model& m, const std::vector<int32_t>& x, int32_t y);
// A copy of the model whose sample() and complete() use the plain sampler (a
// forward pass over the receptive rows for every sub-pixel) instead of the
// cached one: the same draws, bit for bit.
std::unique_ptr<Model> with_plain_sampler(const Model& m);
// Outputs a sub-pixel (P) and the model's order (D positions).
int64_t outputs_per_subpixel(const Model& m);
std::vector<int64_t> order(const Model& m);
// The summed NLL (nats) of the samples x (n, D) with labels y (n) evaluated in
// double precision at `params` (the model's flat parameter vector), and its
// gradient when grad is non-null.
double loss_grad_double(const Model& m, const std::vector<double>& params, const std::vector<int32_t>& x,
                        const std::vector<int32_t>& y, std::vector<double>* grad);
std::vector<double> parameters(const Model& m);
}  // namespace pixelcnn_testing

}  // namespace dgm
