// rng.h — the only source of randomness: xoshiro256** (Blackman & Vigna, 2018)
// seeded through splitmix64. Every draw is defined here bit for bit (no
// std::*_distribution, whose output differs between standard libraries), so a
// seed gives the same models and samples everywhere. Streams derived from
// (seed, stream) let each data chunk draw independently of the thread count.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

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

}  // namespace dgm
