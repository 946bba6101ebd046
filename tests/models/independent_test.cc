// independent_test.cc — the independent model: closed-form known answers
// (frequencies with alpha = 0, Laplace smoothing), label marginalisation,
// completion, restrictions and model-file checks.
#include <gtest/gtest.h>

#include <cmath>

#include "dgm/error.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "models/test_util.h"

namespace dgm {
namespace {

std::unique_ptr<Model> fit_independent(const Dataset& data, double alpha) {
  auto m = create_model(data.space(), {{"type", "independent"}, {"alpha", alpha}}, json::object());
  ThreadPool pool(2);
  Rng rng(1);
  m->fit(data, nullptr, {&pool, &rng, nullptr, nullptr});
  return m;
}

Dataset rows(const Space& s, const std::vector<std::vector<int32_t>>& xs, const std::vector<int32_t>& labels = {}) {
  Dataset d(s);
  for (size_t i = 0; i < xs.size(); ++i) d.push_back(xs[i], labels.empty() ? -1 : labels[i]);
  return d;
}

TEST(Independent, AlphaZeroGivesPerPositionFrequencies) {
  const Space s = Space::tensor({2}, 3);
  const Dataset data = rows(s, {{0, 1}, {0, 2}, {1, 2}, {0, 2}});
  auto m = fit_independent(data, 0.0);
  ThreadPool pool(1);
  // P(x0=0) = 3/4, P(x1=2) = 3/4; P(x0=2) = 0.
  const auto lp = m->log_prob(rows(s, {{0, 2}, {1, 1}, {2, 0}}), pool);
  EXPECT_NEAR(lp[0], std::log(0.75 * 0.75), 1e-12);
  EXPECT_NEAR(lp[1], std::log(0.25 * 0.25), 1e-12);
  EXPECT_EQ(lp[2], -std::numeric_limits<double>::infinity());
}

TEST(Independent, LaplaceSmoothing) {
  const Space s = Space::tensor({2}, 3);
  const Dataset data = rows(s, {{0, 1}, {0, 2}, {1, 2}, {0, 2}});
  auto m = fit_independent(data, 1.0);  // (count + 1) / (4 + 3)
  ThreadPool pool(1);
  const auto lp = m->log_prob(rows(s, {{2, 0}, {0, 2}}), pool);
  EXPECT_NEAR(lp[0], std::log(1.0 / 7 * 1.0 / 7), 1e-12);
  EXPECT_NEAR(lp[1], std::log(4.0 / 7 * 4.0 / 7), 1e-12);
}

TEST(Independent, LabelsAreConditionalAndMarginalised) {
  const Space s = Space::tensor({1}, 2, 2);
  // label 0: x = 0,0,1 ; label 1: x = 1
  const Dataset data = rows(s, {{0}, {0}, {1}, {1}}, {0, 0, 0, 1});
  auto m = fit_independent(data, 0.0);
  ThreadPool pool(1);
  const auto lp = m->log_prob(rows(s, {{1}, {1}, {1}}, {0, 1, -1}), pool);
  EXPECT_NEAR(lp[0], std::log(1.0 / 3), 1e-12);
  EXPECT_NEAR(lp[1], std::log(1.0), 1e-12);
  EXPECT_NEAR(lp[2], std::log(0.75 * (1.0 / 3) + 0.25 * 1.0), 1e-12);  // P(y=0) = 3/4
}

TEST(Independent, WideLevelsGoThroughDatasetAt) {
  const Space s = Space::tensor({3}, 1000);  // two bytes a value
  const Dataset data = rows(s, {{999, 0, 5}, {999, 1, 5}});
  auto m = fit_independent(data, 0.5);
  ThreadPool pool(1);
  const auto lp = m->log_prob(rows(s, {{999, 0, 5}}), pool);
  const double denom = 2 + 1000 * 0.5;
  EXPECT_NEAR(lp[0], std::log(2.5 / denom) + std::log(1.5 / denom) + std::log(2.5 / denom), 1e-12);
}

TEST(Independent, CompletionKeepsKnownAndFollowsTheta) {
  const Space s = Space::tensor({2}, 2);
  const Dataset data = rows(s, {{0, 1}, {1, 1}, {0, 1}, {1, 0}});  // P(x1 = 1) = 3/4 with alpha 0
  auto m = fit_independent(data, 0.0);
  Dataset partial = rows(s, std::vector<std::vector<int32_t>>(4000, {1, 0}));
  std::vector<uint8_t> known;
  for (int i = 0; i < 4000; ++i) known.insert(known.end(), {1, 0});
  Rng rng(3);
  const Dataset done = m->complete(partial, known, rng);
  double ones = 0;
  for (size_t i = 0; i < done.size(); ++i) {
    ASSERT_EQ(done.at(i, 0), 1);
    ones += done.at(i, 1);
  }
  EXPECT_NEAR(ones / 4000, 0.75, 0.03);  // ~4.4 standard deviations
}

TEST(Independent, RejectsVariableLengthAndUnlabeledTraining) {
  EXPECT_THROW(create_model(Space::sequence(8, 5), {{"type", "independent"}}, json::object()), DataError);
  const Space s = Space::tensor({1}, 2, 2);
  EXPECT_THROW(fit_independent(rows(s, {{0}, {1}}, {0, -1}), 1.0), DataError);
  EXPECT_THROW(create_model(s, {{"type", "independent"}, {"alpha", -1}}, json::object()), ConfigError);
}

TEST(Independent, BadModelFileArraysAreFormatErrors) {
  const Space s = Space::tensor({2, 2}, 2);
  auto m = fit_independent(testing_util::make_data(s, 50, 1), 1.0);
  auto fresh = [&] { return create_model(s, {{"type", "independent"}}, json::object()); };
  {  // A file for another space: the table has the wrong shape.
    auto other = fit_independent(testing_util::make_data(Space::tensor({3}, 2), 50, 1), 1.0);
    ModelWriter w;
    other->save(w);
    EXPECT_THROW(fresh()->load(ModelReader::parse(w.serialize(), "m.dgm")), FormatError);
  }
  {  // Right shapes, values that are not log-probabilities.
    ModelWriter w;
    std::vector<double> prior = {0.0}, weight = {0.0}, table(8, std::log(0.9));
    w.add("label_log_prior", prior.data(), {1});
    w.add("log_weight", weight.data(), {1, 1});
    w.add("log_table", table.data(), {1, 4, 2, 1});
    EXPECT_THROW(fresh()->load(ModelReader::parse(w.serialize(), "m.dgm")), FormatError);
  }
  {  // A missing array.
    ModelWriter w;
    std::vector<double> prior = {0.0};
    w.add("label_log_prior", prior.data(), {1});
    EXPECT_THROW(fresh()->load(ModelReader::parse(w.serialize(), "m.dgm")), FormatError);
  }
}

}  // namespace
}  // namespace dgm
