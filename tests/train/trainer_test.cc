// trainer_test.cc — the shared minibatch loop on a one-parameter model:
// validation every k minibatches (and at each epoch's end), reported per step,
// with early stopping counting evaluations and keeping the best parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dgm/train/trainer.h"

namespace dgm {
namespace {

// NLL of a row = (theta - target_row)^2 / 2; validation NLL = (theta - v)^2 / 2 a row.
class Quadratic : public Trainable {
 public:
  explicit Quadratic(float valid_target) : v_(valid_target) {}
  size_t num_params() const override { return 1; }
  float* params() override { return &theta_; }
  double loss_and_grad(const Dataset& data, const size_t* rows, size_t n, float* grad) const override {
    double loss = 0;
    for (size_t i = 0; i < n; ++i) {
      const float r = float(data.at(rows[i], 0)) - theta_;
      loss += 0.5 * r * r;
      grad[0] -= r;
    }
    return loss;
  }
  double total_nll(const DataView& x, ThreadPool&) const override {
    return double(x.size()) * 0.5 * double(theta_ - v_) * double(theta_ - v_);
  }
  float theta_ = 0;
  float v_;
};

struct Recorder : TrainMonitor {
  std::vector<TrainProgress> steps;
  void on_step(const TrainProgress& p) override { steps.push_back(p); }
  void message(const std::string&) override {}
};

TEST(Trainer, ValidatesEveryKMinibatchesAndAtEpochEnds) {
  const Space space = Space::tensor({1}, 4);
  Dataset train(space), valid(space);
  for (int i = 0; i < 100; ++i) train.push_back({3});
  valid.push_back({3});
  Quadratic q(3.0f);
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 10;
  o.validate_every = 3;
  o.adam.learning_rate = 0.1;
  ThreadPool pool(1);
  Rng rng(1);
  Recorder rec;
  const TrainResult r = train_minibatch(q, train, &valid, {&pool, &rng, &rec, nullptr}, o);
  std::vector<int64_t> at;
  for (const auto& p : rec.steps) {
    EXPECT_EQ(p.unit, "step");
    EXPECT_EQ(p.total, 20);
    at.push_back(p.step);
  }
  EXPECT_EQ(at, (std::vector<int64_t>{3, 6, 9, 10, 12, 15, 18, 20}));  // every 3 global steps, and epoch ends
  EXPECT_EQ(r.epochs_run, 2);
  EXPECT_EQ(r.best_step, 20);  // the loss falls all along
}

TEST(Trainer, EarlyStoppingCountsEvaluationsAndKeepsTheBest) {
  const Space space = Space::tensor({1}, 4);
  Dataset train(space), valid(space);
  for (int i = 0; i < 100; ++i) train.push_back({3});
  valid.push_back({0});
  Quadratic q(0.5f);  // validation prefers theta = 0.5: passed on the way to 3
  TrainOptions o;
  o.epochs = 5;
  o.batch_size = 10;
  o.validate_every = 1;
  o.patience = 2;
  o.adam.learning_rate = 0.1;
  ThreadPool pool(1);
  Rng rng(1);
  Recorder rec;
  const TrainResult r = train_minibatch(q, train, &valid, {&pool, &rng, &rec, nullptr}, o);
  ASSERT_GE(rec.steps.size(), 3u);
  EXPECT_LT(rec.steps.size(), 50u);  // stopped early
  EXPECT_EQ(rec.steps[rec.steps.size() - 3].best, true);
  EXPECT_EQ(r.best_step, rec.steps[rec.steps.size() - 3].step);
  // The kept parameter is the best evaluation's.
  double best = 1e300;
  for (const auto& p : rec.steps) best = std::min(best, p.valid_nll);
  EXPECT_EQ(r.best_valid_nll, best);
  EXPECT_DOUBLE_EQ(q.total_nll(valid, pool), best);
}

}  // namespace
}  // namespace dgm
