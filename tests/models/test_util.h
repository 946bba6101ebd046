// test_util.h — shared helpers of the model tests: data drawn from a fixed
// distribution, enumeration of tiny spaces, and a chi-square goodness-of-fit check.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include "dgm/dataset.h"
#include "dgm/model.h"
#include "dgm/rng.h"
#include "dgm/thread_pool.h"

namespace dgm {
namespace testing_util {

// Fits m on train (no validation data, fit seed `seed`) and returns its mean
// test NLL in nats per sample.
inline double fit_then_test_nll(Model& m, const Dataset& train, const Dataset& test, ThreadPool& pool,
                                uint64_t seed = 1) {
  Rng fit_rng(seed);
  m.fit(train, nullptr, {&pool, &fit_rng, nullptr, nullptr});
  double nll = 0;
  for (double v : m.log_prob(test, pool)) nll -= v;
  return nll / double(test.size());
}

// n samples from a fixed distribution: per label (or once), two prototypes;
// each position copies the chosen prototype with probability 0.7, else is uniform.
inline Dataset make_data(const Space& s, size_t n, uint64_t seed) {
  Rng proto_rng(12345);
  const int64_t G = std::max<int64_t>(1, s.labels()), D = s.dims(), L = s.levels();
  std::vector<int32_t> proto(size_t(G * 2 * D));
  for (auto& p : proto) p = int32_t(proto_rng.below(uint64_t(L)));
  Rng rng(seed);
  Dataset ds(s);
  std::vector<int32_t> x(static_cast<size_t>(D));
  for (size_t i = 0; i < n; ++i) {
    const int64_t y = s.has_labels() ? int64_t(rng.below(uint64_t(G))) : 0;
    const int64_t c = int64_t(rng.below(2));
    for (int64_t d = 0; d < D; ++d)
      x[size_t(d)] = rng.uniform() < 0.7 ? proto[size_t((y * 2 + c) * D + d)] : int32_t(rng.below(uint64_t(L)));
    ds.push_back(x, s.has_labels() ? int32_t(y) : -1);
  }
  return ds;
}

// Every point of a small fixed-length space in base-L order, with `label`.
inline Dataset enumerate(const Space& s, int32_t label = -1) {
  Dataset ds(s);
  const int64_t D = s.dims(), L = s.levels();
  std::vector<int32_t> x(static_cast<size_t>(D), 0);
  int64_t total = 1;
  for (int64_t d = 0; d < D; ++d) total *= L;
  for (int64_t i = 0; i < total; ++i) {
    int64_t r = i;
    for (int64_t d = D - 1; d >= 0; --d) x[size_t(d)] = int32_t(r % L), r /= L;
    ds.push_back(x, label);
  }
  return ds;
}

// n variable-length samples: a length drawn from 0..D (biased to the middle),
// then values as make_data draws them from two prototypes.
inline Dataset make_sequences(const Space& s, size_t n, uint64_t seed) {
  Rng proto_rng(54321);
  const int64_t D = s.dims(), L = s.levels();
  std::vector<int32_t> proto(size_t(2 * D));
  for (auto& p : proto) p = int32_t(proto_rng.below(uint64_t(L)));
  Rng rng(seed);
  Dataset ds(s);
  for (size_t i = 0; i < n; ++i) {
    const int64_t len = std::min<int64_t>(int64_t(rng.below(uint64_t(D + 1))), int64_t(rng.below(uint64_t(D + 1))) + 1);
    const int64_t c = int64_t(rng.below(2));
    std::vector<int32_t> x(static_cast<size_t>(len));
    for (int64_t d = 0; d < len; ++d)
      x[size_t(d)] = rng.uniform() < 0.7 ? proto[size_t(c * D + d)] : int32_t(rng.below(uint64_t(L)));
    ds.push_back(x);
  }
  return ds;
}

// Every sequence of length 0..D of a small variable-length space, shortest first.
inline Dataset enumerate_sequences(const Space& s) {
  Dataset ds(s);
  const int64_t L = s.levels();
  for (int64_t len = 0; len <= s.dims(); ++len) {
    int64_t total = 1;
    for (int64_t d = 0; d < len; ++d) total *= L;
    std::vector<int32_t> x(static_cast<size_t>(len));
    for (int64_t i = 0; i < total; ++i) {
      int64_t r = i;
      for (int64_t d = len - 1; d >= 0; --d) x[size_t(d)] = int32_t(r % L), r /= L;
      ds.push_back(x);
    }
  }
  return ds;
}

// Index of sample i in enumerate() order.
inline int64_t cell_of(const Dataset& ds, size_t i) {
  int64_t c = 0;
  for (int64_t d = 0; d < ds.dims(); ++d) c = c * ds.space().levels() + ds.at(i, d);
  return c;
}

// Upper 1e-4 quantile of chi-square with k degrees of freedom (Wilson-Hilferty).
inline double chi2_critical_1e4(int64_t k) {
  const double z = 3.7190164854556804;  // standard normal upper 1e-4 quantile
  const double a = 2.0 / (9.0 * double(k));
  return double(k) * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

struct ChiSquare {
  double statistic = 0;
  int64_t dof = 0;
  double critical = 0;
};

// Pearson's statistic for observed counts against probabilities, cells with an
// expected count below 5 pooled into one (itself merged into the smallest
// other cell when still below 5).
inline ChiSquare chi_square(const std::vector<double>& observed, const std::vector<double>& prob, double n) {
  std::vector<std::pair<double, double>> cells;  // (observed, expected)
  std::pair<double, double> pooled{0, 0};
  for (size_t i = 0; i < prob.size(); ++i) {
    const double e = prob[i] * n;
    if (e < 5) pooled.first += observed[i], pooled.second += e;
    else cells.push_back({observed[i], e});
  }
  if (pooled.second >= 5 || cells.empty()) {
    cells.push_back(pooled);
  } else if (pooled.second > 0 || pooled.first > 0) {
    size_t m = 0;
    for (size_t i = 1; i < cells.size(); ++i)
      if (cells[i].second < cells[m].second) m = i;
    cells[m].first += pooled.first, cells[m].second += pooled.second;
  }
  ChiSquare r;
  for (auto& c : cells) r.statistic += (c.first - c.second) * (c.first - c.second) / c.second;
  r.dof = int64_t(cells.size()) - 1;
  r.critical = chi2_critical_1e4(std::max<int64_t>(1, r.dof));
  return r;
}

}  // namespace testing_util
}  // namespace dgm
