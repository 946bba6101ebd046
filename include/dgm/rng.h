// rng.h — the only source of randomness: xoshiro256** (Blackman & Vigna, 2018)
// seeded through splitmix64. Every draw is defined here bit for bit (no
// std::*_distribution, whose output differs between standard libraries), so a
// seed gives the same models and samples everywhere. Streams derived from
// (seed, stream) let each data chunk draw independently of the thread count.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace dgm {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t stream = 0) {
    uint64_t x = seed ^ (0x9E3779B97F4A7C15ULL * (stream + 1));
    for (auto& w : s_) w = splitmix64(x);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n >= 1, without modulo bias (Lemire, 2019).
  uint64_t below(uint64_t n) {
    unsigned __int128 m = (unsigned __int128)next() * n;
    uint64_t lo = uint64_t(m);
    if (lo < n) {
      const uint64_t threshold = (0 - n) % n;
      while (lo < threshold) {
        m = (unsigned __int128)next() * n;
        lo = uint64_t(m);
      }
    }
    return uint64_t(m >> 64);
  }

  // Standard normal by the Box-Muller transform (one value per call).
  double normal() {
    double u1 = uniform();
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(6.283185307179586 * u2);
  }

  // A fresh generator for sub-stream k, derived from this one's next draw.
  Rng split(uint64_t k) { return Rng(next(), k); }

  // The one categorical draw every model uses: an index i in [0, n) with
  // probability w[i * stride] / total, where the n weights are >= 0 and total
  // is their sum (> 0). One uniform draw; never an index of weight zero (the
  // last positive one takes what rounding leaves past the end).
  size_t categorical(const double* w, size_t n, double total, size_t stride = 1) {
    // u stays >= 0, so `u < p` never holds for a weight of zero.
    double u = uniform() * total;
    for (size_t i = 0; i < n; ++i) {
      const double p = w[i * stride];
      if (u < p) return i;
      u -= p;
    }
    // Rounding left u past the end: the last index of positive weight. (A
    // single loop that also tracked that index was miscompiled by GCC 12's
    // AVX-512 SLP vectoriser; tests/core/rng_test.cc catches it.)
    for (size_t i = n; i-- > 0;)
      if (w[i * stride] > 0) return i;
    return n - 1;
  }
  // The same from unnormalised log weights at a temperature T > 0:
  // P(i) = exp(lw[i * stride] / T) / sum_j exp(lw[j * stride] / T). `buf` is
  // scratch space (reused across calls to avoid allocating). -infinity is a
  // weight of zero; at least one weight must be finite.
  size_t categorical_log(const double* lw, size_t n, double temperature, std::vector<double>& buf,
                         size_t stride = 1) {
    buf.resize(n);
    const double inv_t = 1.0 / temperature;
    double m = -INFINITY;
    for (size_t i = 0; i < n; ++i) m = std::fmax(m, lw[i * stride] * inv_t);
    double total = 0;
    for (size_t i = 0; i < n; ++i) total += (buf[i] = std::exp(lw[i * stride] * inv_t - m));
    return categorical(buf.data(), n, total);
  }

  // The whole state, to save and restore exactly (checkpoints).
  std::array<uint64_t, 4> state() const { return {s_[0], s_[1], s_[2], s_[3]}; }
  void set_state(const std::array<uint64_t, 4>& s) {
    for (int i = 0; i < 4; ++i) s_[i] = s[size_t(i)];
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
};

// k distinct indices of [0, n) (k <= n) in the order drawn: a partial
// Fisher-Yates (entry i is what position i holds after swapping it with a
// uniform pick of [i, n), rng.below(n - i)) that keeps only the swapped
// entries, so it costs O(k) memory whatever n is. Every random draw of rows
// without replacement (validation splits, EM initialisation) is this one.
inline std::vector<size_t> draw_distinct(Rng& rng, size_t n, size_t k) {
  std::unordered_map<size_t, size_t> swapped;
  auto at = [&](size_t i) {
    auto it = swapped.find(i);
    return it == swapped.end() ? i : it->second;
  };
  std::vector<size_t> drawn(k);
  for (size_t i = 0; i < k; ++i) {
    const size_t j = i + size_t(rng.below(n - i));
    const size_t a = at(i), b = at(j);
    swapped[i] = b;
    swapped[j] = a;
    drawn[i] = b;
  }
  return drawn;
}

}  // namespace dgm
