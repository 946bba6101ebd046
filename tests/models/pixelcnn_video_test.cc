// pixelcnn_video_test.cc — PixelCNN on video spaces [T, C, H, W]: frames in
// order, each conditioned on the frames before it. The order is frame-major;
// a position's conditional depends on earlier frames and on the earlier
// pixels of its own frame only; probabilities sum to 1; the gradient matches
// finite differences; the cached sampler draws what the plain one draws,
// also when continuing a clip from its first frames; and a model learns that
// a frame repeats the one before it.
#include <gtest/gtest.h>

#include <cmath>

#include "dgm/model.h"
#include "dgm/models/autoregressive.h"
#include "dgm/models/pixelcnn.h"
#include "models/test_util.h"

namespace dgm {
namespace {

using testing_util::enumerate;
using testing_util::make_data;

std::unique_ptr<Model> make_fitted(const Space& space, const json& extra, double learning_rate = 0.02, int epochs = 1) {
  json model = {{"type", "pixelcnn"}, {"channels", 6}, {"layers", 1}, {"kernel", 3}, {"first_kernel", 3}, {"mixtures", 2}};
  for (auto it = extra.begin(); it != extra.end(); ++it) model[it.key()] = it.value();
  auto m = create_model(space, model, {{"epochs", epochs}, {"batch_size", 16}, {"learning_rate", learning_rate}});
  ThreadPool pool(2);
  Rng rng(11);
  m->fit(make_data(space, 48, 3), nullptr, {&pool, &rng, nullptr, nullptr});
  return m;
}

TEST(PixelCnnVideo, OrderIsFrameByFrame) {
  auto m = make_fitted(Space::tensor({2, 2, 1, 2}, 4), json::object());
  // Frame 0: pixel 0 (channels 0, 1), pixel 1; then frame 1.
  EXPECT_EQ(pixelcnn_testing::order(*m), (std::vector<int64_t>{0, 2, 1, 3, 4, 6, 5, 7}));
}

// Perturbing position order[t] leaves the conditionals of order[0..t]
// unchanged and changes some later one, within its frame and in the next.
TEST(PixelCnnVideo, EachFrameSeesOnlyTheFramesBeforeIt) {
  const Space space = Space::tensor({3, 1, 3, 3}, 6, 2);
  auto m = make_fitted(space, {{"channels", 12}}, 1e-4);
  const auto& ar = dynamic_cast<const AutoregressiveModel&>(*m);
  const std::vector<int64_t> order = pixelcnn_testing::order(*m);
  const int64_t D = space.dims();
  Rng rng(4);
  std::vector<int32_t> x(static_cast<size_t>(D));
  for (auto& v : x) v = int32_t(rng.below(6));
  const std::vector<double> base = ar.conditional_log_probs(x, 1, 0);
  for (int64_t t = 0; t < D; ++t) {
    std::vector<int32_t> z = x;
    const size_t d = size_t(order[size_t(t)]);
    z[d] = (z[d] + 3) % 6;
    const std::vector<double> pert = ar.conditional_log_probs(z, 1, 0);
    for (int64_t u = 0; u < t; ++u)
      ASSERT_EQ(pert[size_t(order[size_t(u)])], base[size_t(order[size_t(u)])])
          << "position #" << u << " depends on the later position #" << t;
    // A pixel of frame f reaches every pixel of frame f + 1 within the context kernel.
    if (d < 18) {
      bool next_frame = false;
      for (int64_t e = (int64_t(d) / 9 + 1) * 9; e < (int64_t(d) / 9 + 2) * 9; ++e)
        next_frame |= pert[size_t(e)] != base[size_t(e)];
      EXPECT_TRUE(next_frame) << "no position of the next frame depends on position " << d;
    }
  }
}

TEST(PixelCnnVideo, SumsToOne) {
  ThreadPool pool(2);
  for (const json& extra : {json::object(), json{{"output", "softmax"}, {"context_frames", 1}}}) {
    auto m = make_fitted(Space::tensor({3, 1, 1, 2}, 3, 2), extra);
    for (int32_t y : {0, -1}) {
      double s = 0;
      for (double v : m->log_prob(enumerate(m->space(), y), pool)) s += std::exp(v);
      EXPECT_NEAR(s, 1.0, 1e-9) << extra.dump() << " label " << y;
    }
  }
}

TEST(PixelCnnVideo, GradientMatchesFiniteDifferences) {
  const Space space = Space::tensor({2, 1, 2, 3}, 5, 2);
  auto m = make_fitted(space, {{"channels", 4}}, 1e-4);
  const size_t n = 3;
  const Dataset data = make_data(space, n, 5);
  std::vector<int32_t> x(n * size_t(space.dims())), y(n);
  for (size_t i = 0; i < n; ++i) {
    data.get(i, x.data() + i * size_t(space.dims()));
    y[i] = data.label(i);
  }
  std::vector<double> p = pixelcnn_testing::parameters(*m), grad;
  Rng jitter(8);
  for (double& v : p) v += 0.05 * (2 * jitter.uniform() - 1);
  pixelcnn_testing::loss_grad_double(*m, p, x, y, &grad);
  size_t nonzero = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    const double keep = p[k], eps = 1e-6;
    p[k] = keep + eps;
    const double up = pixelcnn_testing::loss_grad_double(*m, p, x, y, nullptr);
    p[k] = keep - eps;
    const double down = pixelcnn_testing::loss_grad_double(*m, p, x, y, nullptr);
    p[k] = keep;
    const double fd = (up - down) / (2 * eps);
    nonzero += grad[k] != 0;
    EXPECT_LT(std::abs(fd - grad[k]) / std::max(1.0, std::abs(fd)), 1e-5) << "parameter " << k << ": analytic "
                                                                          << grad[k] << " fd " << fd;
  }
  EXPECT_GT(nonzero, p.size() / 4);
}

TEST(PixelCnnVideo, CachedSamplerDrawsWhatThePlainOneDraws) {
  SampleOptions hot;
  hot.temperature = 0.7;
  for (const Space& space : {Space::tensor({3, 1, 4, 5}, 256, 3), Space::tensor({2, 3, 3, 4}, 8)}) {
    auto m = make_fitted(space, {{"channels", 9}, {"layers", 2}});
    auto plain = pixelcnn_testing::with_plain_sampler(*m);
    ThreadPool one(1), three(3);
    SampleOptions o1 = hot, o3 = hot;
    o1.pool = &one;
    o3.pool = &three;
    Rng a(21), b(21), d(21);
    const Dataset cached = m->sample(11, a, o1), slow = plain->sample(11, b, o1), par = m->sample(11, d, o3);
    EXPECT_EQ(cached.raw(), slow.raw()) << space.describe();
    EXPECT_EQ(cached.labels(), slow.labels()) << space.describe();
    EXPECT_EQ(cached.raw(), par.raw()) << space.describe();
    // Continuing clips from their first frame (what `dgm sample --given clip.gif` does).
    const int64_t D = space.dims(), frame = D / space.shape()[0];
    std::vector<uint8_t> known(size_t(11 * D), 0);
    for (int64_t i = 0; i < 11; ++i)
      for (int64_t k = 0; k < frame; ++k) known[size_t(i * D + k)] = 1;
    Rng e(5), f(5);
    const Dataset done = m->complete(cached, known, e, o3), done_plain = plain->complete(cached, known, f, o1);
    EXPECT_EQ(done.raw(), done_plain.raw()) << space.describe();
    for (int64_t i = 0; i < 11; ++i)
      for (int64_t k = 0; k < frame; ++k) EXPECT_EQ(done.at(size_t(i), k), cached.at(size_t(i), k));
  }
}

// Clips whose frames all repeat a random first frame: after the first frame,
// every pixel copies the one at its place in the frame before.
TEST(PixelCnnVideo, LearnsThatFramesRepeat) {
  const Space space = Space::tensor({4, 1, 3, 3}, 2);
  Rng rng(2);
  Dataset train(space), test(space);
  for (int i = 0; i < 700; ++i) {
    std::vector<int32_t> f(9), x;
    for (auto& v : f) v = int32_t(rng.below(2));
    for (int t = 0; t < 4; ++t) x.insert(x.end(), f.begin(), f.end());
    (i < 600 ? train : test).push_back(x, -1);
  }
  auto m = create_model(space, {{"type", "pixelcnn"}, {"channels", 8}, {"layers", 1}, {"first_kernel", 3}, {"output", "softmax"}},
                        {{"epochs", 30}, {"batch_size", 16}, {"learning_rate", 0.01}});
  ThreadPool pool(2);
  const double nll = testing_util::fit_then_test_nll(*m, train, test, pool);
  // Independent frames: 4 * 9 log 2 = 25 nats; the truth: 9 log 2 = 6.2.
  EXPECT_LT(nll, 9.0);
}

}  // namespace
}  // namespace dgm
