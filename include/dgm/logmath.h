// logmath.h — sums of probabilities kept as natural logarithms, the one place
// every model and the empirical distribution take them from.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace dgm {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kLn2 = 0.693147180559945309417;    // log 2: nats per bit
constexpr double kLn10 = 2.302585092994045684018;   // log 10: ARPA's log10 to nats

// log(exp(a) + exp(b)); exact when either is -infinity.
inline double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  const double m = std::max(a, b);
  return m + std::log1p(std::exp(std::min(a, b) - m));
}

// log sum_i exp(a[i]); -infinity when every a[i] is (or n = 0).
inline double log_sum_exp(const double* a, size_t n) {
  double m = kNegInf;
  for (size_t i = 0; i < n; ++i) m = std::max(m, a[i]);
  if (m == kNegInf) return kNegInf;
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += std::exp(a[i] - m);
  return m + std::log(s);
}

}  // namespace dgm
