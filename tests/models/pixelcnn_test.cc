// pixelcnn_test.cc — PixelCNN beyond the contract suite: the masks (no output
// depends on its own or a later sub-pixel, RGB channel order included), the
// hand-written gradient against central finite differences in double, exact
// normalisation at 256 levels (the logistic mixture's open edge bins), and
// learning a structured distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/models/autoregressive.h"
#include "dgm/models/pixelcnn.h"
#include "models/test_util.h"

namespace dgm {
namespace {

using testing_util::enumerate;
using testing_util::make_data;

std::unique_ptr<Model> make_fitted(const Space& space, const json& model_extra, int epochs = 1, size_t n = 64,
                                   double learning_rate = 0.02) {
  json model = {{"type", "pixelcnn"}, {"channels", 6}, {"layers", 2}, {"kernel", 3}, {"first_kernel", 3}, {"mixtures", 2}};
  for (auto it = model_extra.begin(); it != model_extra.end(); ++it) model[it.key()] = it.value();
  const json train = {{"epochs", epochs}, {"batch_size", 16}, {"learning_rate", learning_rate}};
  auto m = create_model(space, model, train);
  const Dataset data = make_data(space, n, 3);
  ThreadPool pool(2);
  Rng rng(11);
  m->fit(data, nullptr, {&pool, &rng, nullptr, nullptr});
  return m;
}

// Perturbing sub-pixel order[t] changes no output of sub-pixels order[0..t],
// and changes some later one (checked on a barely trained net, whose ReLUs
// are about half active).
void check_masks(const Model& m) {
  const Space& s = m.space();
  const std::vector<int64_t> order = pixelcnn_testing::order(m);
  const int64_t D = s.dims(), P = pixelcnn_testing::outputs_per_subpixel(m);
  const int64_t C = s.shape().size() == 3 ? s.shape()[0] : 1, HW = D / C;
  Rng rng(4);
  std::vector<int32_t> x(static_cast<size_t>(D));
  for (auto& v : x) v = int32_t(rng.below(uint64_t(s.levels())));
  const int32_t y = s.has_labels() ? 1 : -1;
  const std::vector<double> base = pixelcnn_testing::network_outputs(m, x, y);
  ASSERT_EQ(int64_t(base.size()), D * P);
  auto at = [&](const std::vector<double>& out, int64_t d, int64_t j) {
    const int64_t c = d / HW, q = d % HW;
    return out[size_t((q * C + c) * P + j)];
  };
  for (int64_t t = 0; t < D; ++t) {
    std::vector<int32_t> z = x;
    const size_t d = size_t(order[size_t(t)]);
    z[d] = int32_t((z[d] + 1 + int32_t(s.levels()) / 2) % int32_t(s.levels()));
    const std::vector<double> pert = pixelcnn_testing::network_outputs(m, z, y);
    for (int64_t u = 0; u <= t; ++u)
      for (int64_t j = 0; j < P; ++j)
        ASSERT_EQ(at(pert, order[size_t(u)], j), at(base, order[size_t(u)], j))
            << s.describe() << ": output of sub-pixel #" << u << " depends on sub-pixel #" << t;
    if (t + 1 < D) {
      bool changed = false;
      for (int64_t u = t + 1; u < D; ++u)
        for (int64_t j = 0; j < P; ++j) changed |= at(pert, order[size_t(u)], j) != at(base, order[size_t(u)], j);
      EXPECT_TRUE(changed) << s.describe() << ": no sub-pixel after #" << t << " depends on it";
    }
  }
}

TEST(PixelCnn, OrderIsRasterWithChannelsOfAPixelConsecutive) {
  auto m = make_fitted(Space::tensor({3, 2, 2}, 4), json::object());
  const std::vector<int64_t> expect = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11};
  EXPECT_EQ(pixelcnn_testing::order(*m), expect);
}

TEST(PixelCnn, MasksGrayscale) {
  check_masks(*make_fitted(Space::tensor({1, 4, 5}, 8, 3), {{"channels", 16}}, 1, 64, 1e-6));
}

TEST(PixelCnn, MasksRgbChannelOrder) {
  check_masks(*make_fitted(Space::tensor({3, 3, 4}, 8), {{"channels", 24}}, 1, 64, 1e-6));
  check_masks(*make_fitted(Space::tensor({3, 3, 3}, 5, 2), {{"channels", 24}, {"output", "softmax"}, {"kernel", 5}}, 1, 64, 1e-6));
}

// Conditionals via the base class agree with the full log-likelihood.
TEST(PixelCnn, ConditionalsSumToLogProb) {
  auto m = make_fitted(Space::tensor({3, 2, 3}, 16, 2), json::object());
  const auto& ar = dynamic_cast<const AutoregressiveModel&>(*m);
  const Dataset data = make_data(m->space(), 3, 9);
  ThreadPool pool(1);
  const std::vector<double> lp = m->log_prob(data, pool);
  for (size_t i = 0; i < data.size(); ++i) {
    std::vector<int32_t> x(static_cast<size_t>(data.dims()));
    data.get(i, x.data());
    double s = 0;
    for (double v : ar.conditional_log_probs(x, data.label(i), 0)) s += v;
    EXPECT_NEAR(s, lp[i], 1e-4 * std::abs(lp[i]));
  }
}

void check_gradient(const Model& m, size_t n) {
  const Dataset data = make_data(m.space(), n, 5);
  std::vector<int32_t> x(n * size_t(data.dims())), y(n);
  for (size_t i = 0; i < n; ++i) {
    data.get(i, x.data() + i * size_t(data.dims()));
    y[i] = data.label(i);
  }
  // Jitter every parameter so no ReLU input sits exactly at its kink (an
  // untouched bias of a unit that sees only zero padding is exactly 0).
  std::vector<double> p = pixelcnn_testing::parameters(m), grad;
  Rng jitter(8);
  for (double& v : p) v += 0.05 * (2 * jitter.uniform() - 1);
  pixelcnn_testing::loss_grad_double(m, p, x, y, &grad);
  ASSERT_EQ(grad.size(), p.size());
  double max_err = 0, max_g = 0;
  size_t nonzero = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    const double keep = p[k], eps = 1e-6;
    p[k] = keep + eps;
    const double up = pixelcnn_testing::loss_grad_double(m, p, x, y, nullptr);
    p[k] = keep - eps;
    const double down = pixelcnn_testing::loss_grad_double(m, p, x, y, nullptr);
    p[k] = keep;
    const double fd = (up - down) / (2 * eps);
    if (grad[k] != 0) ++nonzero;
    max_g = std::max(max_g, std::abs(fd));
    const double err = std::abs(fd - grad[k]) / std::max(1.0, std::abs(fd));
    max_err = std::max(max_err, err);
    // Masked weights never act: their fd and their gradient are both 0.
    EXPECT_LT(err, 1e-5) << m.space().describe() << " parameter " << k << ": analytic " << grad[k] << " fd " << fd;
  }
  EXPECT_GT(nonzero, p.size() / 4);
  EXPECT_GT(max_g, 1e-3);
}

TEST(PixelCnn, GradientMatchesFiniteDifferencesDlm) {
  check_gradient(*make_fitted(Space::tensor({1, 3, 3}, 6, 2), {{"channels", 4}}), 4);
}

TEST(PixelCnn, GradientMatchesFiniteDifferencesRgbSoftmax) {
  check_gradient(*make_fitted(Space::tensor({3, 2, 2}, 4, 2), {{"channels", 6}, {"output", "softmax"}}), 3);
}

TEST(PixelCnn, GradientMatchesFiniteDifferencesRgbDlm256) {
  check_gradient(*make_fitted(Space::tensor({3, 2, 2}, 256), {{"channels", 3}, {"layers", 1}, {"mixtures", 3}}), 2);
}

// The cached sampler (one pixel of every layer a sub-pixel) draws exactly
// what the plain one (a forward pass over the receptive rows a sub-pixel)
// draws under the same seed: grayscale and RGB, logistic mixture and softmax,
// labels given or drawn, a temperature, and completion of a known prefix; and
// the same whatever the number of threads.
TEST(PixelCnn, CachedSamplerDrawsWhatThePlainOneDraws) {
  struct Case {
    Space space;
    json extra;
    SampleOptions opts;
  };
  SampleOptions hot;
  hot.temperature = 0.7;
  SampleOptions label2;
  label2.label = 2;
  const std::vector<Case> cases = {
      {Space::tensor({1, 5, 6}, 256, 3), {{"kernel", 3}, {"first_kernel", 5}}, {}},
      {Space::tensor({1, 5, 6}, 256, 3), {{"kernel", 3}, {"first_kernel", 5}}, label2},
      {Space::tensor({3, 4, 3}, 8), {{"output", "softmax"}, {"channels", 9}}, hot},
      {Space::tensor({3, 4, 5}, 256), {{"channels", 9}, {"layers", 3}}, hot},
  };
  for (const Case& c : cases) {
    auto m = make_fitted(c.space, c.extra, 1, 48);
    auto plain = pixelcnn_testing::with_plain_sampler(*m);
    ThreadPool one(1), three(3);
    SampleOptions o1 = c.opts, o3 = c.opts;
    o1.pool = &one;
    o3.pool = &three;
    Rng a(21), b(21), d(21);
    const Dataset cached = m->sample(19, a, o1), slow = plain->sample(19, b, o1), par = m->sample(19, d, o3);
    EXPECT_EQ(cached.raw(), slow.raw()) << c.space.describe();
    EXPECT_EQ(cached.labels(), slow.labels()) << c.space.describe();
    EXPECT_EQ(cached.raw(), par.raw()) << c.space.describe() << ": 1 and 3 threads differ";
    // Completion: the first half of every image in raster order is known.
    const int64_t D = c.space.dims(), C = c.space.shape()[0], HW = D / C;
    std::vector<uint8_t> known(size_t(19 * D), 0);
    for (int64_t i = 0; i < 19; ++i)
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t q = 0; q < HW / 2; ++q) known[size_t(i * D + ch * HW + q)] = 1;
    Rng e(5), f(5);
    const Dataset done = m->complete(cached, known, e, o3), done_plain = plain->complete(cached, known, f, o1);
    EXPECT_EQ(done.raw(), done_plain.raw()) << c.space.describe();
    for (int64_t i = 0; i < 19; ++i)
      for (int64_t q = 0; q < HW / 2; ++q) EXPECT_EQ(done.at(size_t(i), q), cached.at(size_t(i), q));
  }
}

// Exact normalisation at 256 levels: two sub-pixels, all 65536 points.
TEST(PixelCnn, SumsToOneAt256Levels) {
  ThreadPool pool(2);
  for (const char* out : {"dlm", "softmax"}) {
    auto m = make_fitted(Space::tensor({1, 1, 2}, 256, 2), {{"output", out}});
    for (int32_t y : {0, -1}) {
      const std::vector<double> lp = m->log_prob(enumerate(m->space(), y), pool);
      double s = 0;
      for (double v : lp) s += std::exp(v);
      EXPECT_NEAR(s, 1.0, 1e-9) << out << " label " << y;
    }
  }
  auto rgb = make_fitted(Space::tensor({3, 1, 1}, 32), json::object());
  const std::vector<double> lp = rgb->log_prob(enumerate(rgb->space()), pool);
  double s = 0;
  for (double v : lp) s += std::exp(v);
  EXPECT_NEAR(s, 1.0, 1e-9);
}

// Images whose pixels all equal one value drawn per image: an autoregressive
// model learns that every pixel after the first copies its predecessor.
TEST(PixelCnn, LearnsConstantImages) {
  const Space space = Space::tensor({1, 4, 4}, 16);
  Rng rng(2);
  Dataset train(space), test(space);
  for (int i = 0; i < 600; ++i) {
    const int32_t v = int32_t(rng.below(16));
    (i < 500 ? train : test).push_back(std::vector<int32_t>(16, v), -1);
  }
  auto m = create_model(space, {{"type", "pixelcnn"}, {"channels", 8}, {"layers", 1}, {"first_kernel", 3}, {"mixtures", 2}},
                        {{"epochs", 40}, {"batch_size", 16}, {"learning_rate", 0.01}});
  ThreadPool pool(2);
  const double nll = testing_util::fit_then_test_nll(*m, train, test, pool);
  // Uniform: 16 * log 16 = 44.4 nats, and so is the best model of independent
  // pixels (each pixel's marginal is uniform); the truth: log 16 = 2.77 nats.
  // Where 40 epochs of Adam end varies with the float arithmetic (seen 2.8 to
  // 15.8 nats across seeds and -march settings), so the bar is set at less
  // than half of 44.4: only a model that learned the pixels' dependence gets under it.
  EXPECT_LT(nll, 20.0);
}

// Labeled 8-bit RGB images end to end: CIFAR-10 binary batches and PNG label
// folders written by io's writers, read back exactly, and a pixelcnn trained
// on the CIFAR split scores both sources alike.
TEST(PixelCnn, CifarBatchesAndPngFoldersEndToEnd) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("dgm_pixelcnn_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const Space space = Space::tensor({3, 6, 5}, 256, 10);
  const Dataset all = make_data(space, 60, 21);
  write_dataset(all.slice(0, 50), (dir / "data_batch_1.bin").string(), "cifar");
  write_dataset(all.slice(50, 60), (dir / "test_batch.bin").string(), "cifar");
  write_dataset(all.slice(50, 60), (dir / "png").string(), "image");
  const DataSplits s = load_data({{"train", (dir / "data_batch_1.bin").string()},
                                  {"test", (dir / "test_batch.bin").string()},
                                  {"format", "cifar"}, {"validation_count", 10}, {"validation_split", "tail"}},
                                 space, 1);
  ASSERT_EQ(s.train.size(), 40u);
  ASSERT_EQ(s.validation.size(), 10u);
  EXPECT_EQ(s.train.raw(), all.slice(0, 40).raw());
  EXPECT_EQ(s.test.labels(), all.slice(50, 60).labels());
  const Dataset png = read_dataset({{"path", (dir / "png").string()}, {"format", "image"}}, space);
  ASSERT_EQ(png.size(), 10u);
  auto m = create_model(space, {{"type", "pixelcnn"}, {"channels", 6}, {"layers", 1}, {"first_kernel", 3}},
                        {{"epochs", 2}, {"batch_size", 8}});
  ThreadPool pool(2);
  Rng rng(3);
  m->fit(s.train, &s.validation, {&pool, &rng, nullptr, nullptr});
  const std::vector<double> a = m->log_prob(s.test, pool);
  // PNG folders come in label order, then by file name (the sample index).
  std::vector<double> b_by_label = m->log_prob(png, pool);
  std::vector<double> sorted_a = a, sorted_b = b_by_label;
  std::sort(sorted_a.begin(), sorted_a.end());
  std::sort(sorted_b.begin(), sorted_b.end());
  EXPECT_EQ(sorted_a, sorted_b);
  for (double v : a) EXPECT_TRUE(std::isfinite(v));
  fs::remove_all(dir);
}

TEST(PixelCnn, RejectsHigherRankShapesAndEvenKernels) {
  EXPECT_THROW(create_model(Space::tensor({2, 2, 2, 2, 2}, 4), {{"type", "pixelcnn"}}, json::object()), ConfigError);  // [T,C,H,W] is video
  EXPECT_THROW(create_model(Space::tensor({1, 4, 4}, 4), {{"type", "pixelcnn"}, {"kernel", 4}}, json::object()), ConfigError);
}

}  // namespace
}  // namespace dgm
