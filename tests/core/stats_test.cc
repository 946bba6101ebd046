// stats_test.cc — the empirical distribution: normalisation on enumerable
// spaces (with and without smoothing), hand counts, entropy, hash collisions
// (exact compare), top-k order, validity/novelty/coverage, smoothed sampling
// frequencies (chi-square, fixed seed), labels and variable-length sequences.
#include "dgm/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "dgm/error.h"

namespace dgm {
namespace {

const double kLn2 = std::log(2.0);

// The 16 points of {0,1}^(2x2), point k having bits of k (position 0 = low bit).
std::vector<int32_t> point(int k, int D = 4) {
  std::vector<int32_t> x(static_cast<size_t>(D));
  for (int d = 0; d < D; ++d) x[size_t(d)] = (k >> d) & 1;
  return x;
}

Dataset grid_data(const std::vector<int>& ks) {
  Dataset d(Space::tensor({2, 2}, 2));
  for (int k : ks) d.push_back(point(k));
  return d;
}

// Pearson's chi-square of observed counts against expected probabilities.
double chi_square(const std::vector<double>& observed, const std::vector<double>& p, double n) {
  double c = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = p[i] * n;
    c += (observed[i] - e) * (observed[i] - e) / e;
  }
  return c;
}

TEST(Empirical, CountsMatchHandCount) {
  Dataset d = grid_data({3, 5, 3, 0, 3, 5, 15});
  Empirical e(d);
  EXPECT_EQ(e.num_samples(), 7u);
  EXPECT_EQ(e.num_distinct(), 4u);
  EXPECT_EQ(e.num_duplicates(), 3u);
  EXPECT_EQ(e.count(point(3)), 3);
  EXPECT_EQ(e.count(point(5)), 2);
  EXPECT_EQ(e.count(point(0)), 1);
  EXPECT_EQ(e.count(point(15)), 1);
  EXPECT_EQ(e.count(point(1)), 0);
  EXPECT_DOUBLE_EQ(e.prob(point(3)), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(e.log_prob(point(5)), std::log(2.0 / 7.0));
  EXPECT_EQ(e.log_prob(point(1)), -INFINITY);
  EXPECT_EQ(e.count_row(d, 1), 2);
  // Distinct entries in first-occurrence order.
  ASSERT_EQ(e.entries().size(), 4u);
  EXPECT_EQ(e.entries()[0].first_row, 0u);
  EXPECT_EQ(e.entries()[1].first_row, 1u);
  EXPECT_EQ(e.entries()[2].first_row, 3u);
  EXPECT_EQ(e.entries()[3].first_row, 6u);
}

TEST(Empirical, SumsToOneOverEnumerableSpace) {
  Dataset d = grid_data({3, 5, 3, 0, 3, 5, 15, 9, 9, 9, 9});
  for (double alpha : {0.0, 0.01, 0.5, 3.0}) {
    EmpiricalOptions o;
    o.smoothing = alpha;
    Empirical e(d, o);
    double total = 0;
    for (int k = 0; k < 16; ++k) total += std::exp(e.log_prob(point(k)));
    EXPECT_NEAR(total, 1.0, 1e-12) << "alpha " << alpha;
    // (count + alpha) / (N + 16 alpha), by hand for a seen and an unseen point.
    EXPECT_NEAR(e.prob(point(9)), (4 + alpha) / (11 + 16 * alpha), 1e-14);
    EXPECT_NEAR(e.prob(point(6)), alpha / (11 + 16 * alpha), 1e-14);
  }
}

TEST(Empirical, OutsideTheSpaceHasProbabilityZero) {
  Dataset d = grid_data({1, 2});
  EmpiricalOptions o;
  o.smoothing = 1.0;
  Empirical e(d, o);
  EXPECT_EQ(e.log_prob(std::vector<int32_t>{0, 1, 2, 0}), -INFINITY);  // value 2
  EXPECT_EQ(e.log_prob(std::vector<int32_t>{0, 1, 0}), -INFINITY);     // length 3
  EXPECT_EQ(e.count(std::vector<int32_t>{0, 1, 0}), 0);
  EXPECT_GT(e.log_prob(point(7)), -INFINITY);
}

TEST(Empirical, RejectsBadOptions) {
  Dataset d = grid_data({1});
  EmpiricalOptions o;
  o.smoothing = -1;
  EXPECT_THROW(Empirical(d, o), ConfigError);
  o.smoothing = NAN;
  EXPECT_THROW(Empirical(d, o), ConfigError);
  o = EmpiricalOptions();
  o.hash_bits = 0;
  EXPECT_THROW(Empirical(d, o), ConfigError);
}

TEST(Empirical, EntropyOfKnownDistribution) {
  // Counts {2, 1, 1} of N = 4: H = 1.5 bits.
  Dataset d = grid_data({7, 7, 1, 2});
  Empirical e(d);
  EXPECT_NEAR(e.entropy_bits(), 1.5, 1e-12);
  EXPECT_NEAR(e.entropy(), 1.5 * kLn2, 1e-12);
  // Uniform over 8 distinct points: 3 bits; a single point repeated: 0.
  Dataset uniform = grid_data({0, 1, 2, 3, 4, 5, 6, 7}), single = grid_data({4, 4, 4});
  EXPECT_NEAR(Empirical(uniform).entropy_bits(), 3.0, 1e-12);
  EXPECT_EQ(Empirical(single).entropy(), 0.0);
}

TEST(Empirical, SupportFraction) {
  Dataset d = grid_data({1, 2, 3, 3});
  Empirical e(d);
  EXPECT_EQ(e.support_size(), 3u);
  EXPECT_DOUBLE_EQ(e.log2_space_size(), 4.0);
  EXPECT_NEAR(e.support_fraction(), 3.0 / 16.0, 1e-12);
  EXPECT_NEAR(e.support_log10_fraction(), std::log10(3.0 / 16.0), 1e-12);
}

TEST(Empirical, HugeSpaceStaysFinite) {
  Space s = Space::tensor({3, 32, 32}, 256, 10);
  Dataset d(s);
  std::vector<int32_t> x(3072, 17);
  d.push_back(x, 4);
  EmpiricalOptions o;
  o.smoothing = 1.0;
  Empirical e(d, o);
  const double log_x = s.log2_size() * kLn2;  // log |X|, about 17000 nats
  EXPECT_NEAR(e.log_prob(x, 4), std::log(2.0) - log_x, 1e-9 * log_x);
  EXPECT_NEAR(e.log_prob(x, 5), -log_x, 1e-9 * log_x);
  EXPECT_TRUE(std::isfinite(e.support_log10_fraction()));
  EXPECT_NEAR(e.support_log10_fraction(), -s.log10_size(), 1e-9);
  EXPECT_EQ(e.support_fraction(), 0.0);  // underflows; the log10 form is the one to print
  Rng rng(3);
  Dataset smp = e.sample(5, rng);  // almost surely uniform draws
  EXPECT_EQ(smp.size(), 5u);
}

// With the hash cut to 1..3 bits nearly every pair of rows shares a hash, so
// every count below goes through the exact comparison of values.
TEST(Empirical, HashCollisionsAreResolvedExactly) {
  Dataset d(Space::tensor({3}, 256));
  std::map<std::vector<int32_t>, int64_t> truth;
  Rng rng(11);
  for (int i = 0; i < 3000; ++i) {
    std::vector<int32_t> x = {int32_t(rng.below(7)), int32_t(rng.below(5)), int32_t(rng.below(256))};
    d.push_back(x);
    ++truth[x];
  }
  Empirical full(d);
  for (int bits : {1, 3}) {
    EmpiricalOptions o;
    o.hash_bits = bits;
    Empirical e(d, o);
    EXPECT_EQ(e.num_distinct(), truth.size());
    EXPECT_EQ(full.num_distinct(), truth.size());
    for (const auto& [x, c] : truth) {
      ASSERT_EQ(e.count(x), c);
      ASSERT_EQ(full.count(x), c);
    }
    EXPECT_EQ(e.count(std::vector<int32_t>{7, 0, 0}), 0);
    EXPECT_NEAR(e.entropy(), full.entropy(), 1e-12);
  }
}

TEST(Empirical, WideValuesAndCollisions) {
  Dataset d(Space::tensor({2}, 70000));
  d.push_back({69999, 1});
  d.push_back({1, 69999});
  d.push_back({69999, 1});
  d.push_back({65536 + 1, 69999});  // differs from {1, 69999} only above the low 16 bits
  EmpiricalOptions o;
  o.hash_bits = 1;
  Empirical e(d, o);
  EXPECT_EQ(e.num_distinct(), 3u);
  EXPECT_EQ(e.count(std::vector<int32_t>{69999, 1}), 2);
  EXPECT_EQ(e.count(std::vector<int32_t>{1, 69999}), 1);
  EXPECT_EQ(e.count(std::vector<int32_t>{65537, 69999}), 1);
  EXPECT_EQ(e.count(std::vector<int32_t>{70000, 1}), 0);
}

TEST(Empirical, TopKOrderBreaksTiesByFirstOccurrence) {
  // Counts: 6 -> 2 (first at 0), 9 -> 3 (first at 1), 4 -> 2 (first at 2), 1 -> 1.
  Dataset d = grid_data({6, 9, 4, 9, 4, 6, 9, 1});
  Empirical e(d);
  auto top = e.top(3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(d.row(top[0].first_row), point(9));
  EXPECT_EQ(top[0].count, 3);
  EXPECT_DOUBLE_EQ(top[0].prob, 3.0 / 8.0);
  EXPECT_EQ(d.row(top[1].first_row), point(6));
  EXPECT_EQ(d.row(top[2].first_row), point(4));
  EXPECT_EQ(top[1].count, 2);
  EXPECT_EQ(e.top(100).size(), 4u);
  EXPECT_EQ(d.row(e.top(100)[3].first_row), point(1));
}

TEST(Empirical, ValidityNoveltyCoverage) {
  Dataset train = grid_data({1, 1, 2, 3});
  Dataset other = grid_data({1, 4, 4, 2, 1});
  Empirical e(train);
  Overlap o = e.compare(other);
  EXPECT_EQ(o.num_samples, 5u);
  EXPECT_EQ(o.num_inside, 3u);   // 1, 2, 1
  EXPECT_EQ(o.num_reached, 2u);  // {1, 2} of {1, 2, 3}
  EXPECT_DOUBLE_EQ(o.validity, 0.6);
  EXPECT_DOUBLE_EQ(o.novelty, 0.4);
  EXPECT_DOUBLE_EQ(o.coverage, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(e.validity(other), 0.6);
  EXPECT_DOUBLE_EQ(e.novelty(other), 0.4);
  EXPECT_DOUBLE_EQ(e.coverage(train), 1.0);
  EXPECT_DOUBLE_EQ(e.novelty(train), 0.0);
  Dataset wrong(Space::tensor({4}, 2));
  EXPECT_THROW(e.compare(wrong), DataError);
}

TEST(Empirical, ResamplingMatchesCounts) {
  Dataset d = grid_data({3, 3, 3, 8, 12, 12});
  Empirical e(d);
  Rng rng(5);
  const size_t n = 30000;
  Dataset s = e.sample(n, rng);
  ASSERT_EQ(s.size(), n);
  Empirical es(s);
  EXPECT_EQ(es.num_distinct(), 3u);  // only seen points
  std::vector<double> obs = {double(es.count(point(3))), double(es.count(point(8))), double(es.count(point(12)))};
  // df = 2; P(chi2 > 13.8) = 0.001.
  EXPECT_LT(chi_square(obs, {0.5, 1.0 / 6, 1.0 / 3}, double(n)), 13.8);
}

TEST(Empirical, SmoothedSamplingFollowsSmoothedProbabilities) {
  Dataset d = grid_data({3, 3, 3, 8, 12, 12, 0});
  EmpiricalOptions o;
  o.smoothing = 0.4;
  Empirical e(d, o);
  Rng rng(2024);
  const size_t n = 40000;
  Dataset s = e.sample(n, rng);
  Empirical es(s);
  std::vector<double> obs(16), p(16);
  for (int k = 0; k < 16; ++k) {
    obs[size_t(k)] = double(es.count(point(k)));
    p[size_t(k)] = e.prob(point(k));
  }
  // df = 15; P(chi2 > 37.7) = 0.001.
  EXPECT_LT(chi_square(obs, p, double(n)), 37.7);
  // Unseen points do get drawn.
  EXPECT_GT(obs[5], 0);
}

TEST(Empirical, EmptyDataset) {
  Dataset d(Space::tensor({2, 2}, 2));
  Empirical e(d);
  EXPECT_EQ(e.num_distinct(), 0u);
  EXPECT_EQ(e.entropy(), 0.0);
  EXPECT_EQ(e.log_prob(point(1)), -INFINITY);
  Rng rng(1);
  EXPECT_THROW(e.sample(3, rng), DataError);
  EmpiricalOptions o;
  o.smoothing = 2.0;
  Empirical u(d, o);
  EXPECT_NEAR(u.prob(point(1)), 1.0 / 16, 1e-15);
  EXPECT_EQ(u.sample(3, rng).size(), 3u);
}

TEST(Empirical, LabelsArePartOfTheSampleWhenUsed) {
  Space s = Space::tensor({2}, 2, 3);  // 4 values x 3 labels = 12 points
  Dataset d(s);
  d.push_back({0, 1}, 0);
  d.push_back({0, 1}, 2);
  d.push_back({0, 1}, 0);
  d.push_back({1, 1}, 1);
  d.push_back({1, 1}, -1);
  Empirical with(d);
  EXPECT_TRUE(with.uses_labels());
  EXPECT_EQ(with.num_distinct(), 4u);
  EXPECT_EQ(with.count({0, 1}, 0), 2);
  EXPECT_EQ(with.count({0, 1}, 2), 1);
  EXPECT_EQ(with.count({0, 1}, 1), 0);
  EXPECT_EQ(with.count({1, 1}, -1), 1);
  EXPECT_EQ(with.count({0, 1}, 3), 0);  // label outside the space
  EXPECT_NEAR(with.log2_space_size(), std::log2(12.0), 1e-12);
  EXPECT_EQ(with.label_counts(), (std::vector<int64_t>{2, 1, 1}));
  EXPECT_EQ(with.num_unlabeled(), 1);

  EmpiricalOptions o;
  o.use_labels = false;
  o.smoothing = 0.5;
  Empirical without(d, o);
  EXPECT_FALSE(without.uses_labels());
  EXPECT_EQ(without.num_distinct(), 2u);
  EXPECT_EQ(without.count({0, 1}, 1), 3);
  EXPECT_NEAR(without.log2_space_size(), 2.0, 1e-12);
  double total = 0;
  for (int k = 0; k < 4; ++k) total += without.prob(point(k, 2));
  EXPECT_NEAR(total, 1.0, 1e-12);

  o.use_labels = true;
  Empirical smoothed(d, o);
  total = 0;
  for (int k = 0; k < 4; ++k)
    for (int y = 0; y < 3; ++y) total += smoothed.prob(point(k, 2), y);
  // The unlabeled sample holds the remaining mass 1 / (N + 12 alpha).
  EXPECT_NEAR(total + smoothed.prob({1, 1}, -1) - 0.5 / (5 + 6.0), 1.0, 1e-12);

  Rng rng(9);
  Dataset smp = with.sample(200, rng);
  for (size_t i = 0; i < smp.size(); ++i) EXPECT_GT(with.count(smp.row(i), smp.label(i)), 0);
  Dataset smp2 = without.sample(50, rng);
  for (size_t i = 0; i < smp2.size(); ++i) EXPECT_EQ(smp2.label(i), -1);
}

TEST(Empirical, VariableLengthSequences) {
  Space s = Space::sequence(3, 3);  // |X| = 1 + 3 + 9 + 27 = 40
  Dataset d(s);
  d.push_back(std::vector<int32_t>{});
  d.push_back({1});
  d.push_back({1, 0});
  d.push_back({1, 0, 0});
  d.push_back({1});
  d.push_back(std::vector<int32_t>{});
  Empirical e(d);
  EXPECT_EQ(e.num_distinct(), 4u);
  EXPECT_EQ(e.count(std::vector<int32_t>{}), 2);
  EXPECT_EQ(e.count({1}), 2);
  EXPECT_EQ(e.count({1, 0}), 1);
  EXPECT_EQ(e.count({1, 0, 0}), 1);
  EXPECT_EQ(e.count({0, 1}), 0);
  EXPECT_EQ(e.count({1, 0, 0, 0}), 0);  // longer than the maximum
  EXPECT_NEAR(e.log2_space_size(), std::log2(40.0), 1e-12);

  EmpiricalOptions o;
  o.smoothing = 0.25;
  Empirical sm(d, o);
  double total = 0;
  std::vector<std::vector<int32_t>> all = {{}};
  for (size_t len = 1, begin = 0; len <= 3; ++len) {
    const size_t end = all.size();
    for (size_t i = begin; i < end; ++i)
      for (int32_t v = 0; v < 3; ++v) {
        auto x = all[i];
        x.push_back(v);
        all.push_back(x);
      }
    begin = end;
  }
  ASSERT_EQ(all.size(), 40u);
  for (const auto& x : all) total += sm.prob(x);
  EXPECT_NEAR(total, 1.0, 1e-12);

  // Uniform over X from an empty set: lengths 0..3 with weights 1, 3, 9, 27.
  Dataset none(s);
  o.smoothing = 1.0;
  Empirical u(none, o);
  Rng rng(77);
  const size_t n = 20000;
  Dataset smp = u.sample(n, rng);
  std::vector<double> by_len(4, 0);
  for (size_t i = 0; i < n; ++i) by_len[size_t(smp.length(i))] += 1;
  // df = 3; P(chi2 > 16.3) = 0.001.
  EXPECT_LT(chi_square(by_len, {1 / 40.0, 3 / 40.0, 9 / 40.0, 27 / 40.0}, double(n)), 16.3);
  EXPECT_GT(by_len[0], 0);
}

}  // namespace
}  // namespace dgm
