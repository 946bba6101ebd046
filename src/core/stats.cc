// stats.cc — the empirical distribution: exact counts of distinct rows through
// a 64-bit hash (multiply-fold of 8-byte words, as in wyhash) in an
// open-addressing table with linear probing, exact comparison on equal
// hashes; Lidstone smoothing and sampling done in log space.
#include "dgm/stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "dgm/error.h"
#include "dgm/logmath.h"

namespace dgm {
namespace {

constexpr uint64_t kP0 = 0xa0761d6478bd642fULL;  // wyhash's secret primes
constexpr uint64_t kP1 = 0xe7037ed1a0b428dbULL;
constexpr uint64_t kP2 = 0x8ebc6af09c88c6e3ULL;
constexpr uint64_t kP3 = 0x589965cc75374cc3ULL;

// 64x64 -> 128-bit product folded to 64 bits.
inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = (unsigned __int128)a * b;
  return uint64_t(r) ^ uint64_t(r >> 64);
}
inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
// MurmurHash3's finaliser: every input bit reaches every output bit.
inline uint64_t fmix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

void put_le(uint8_t* p, int width, int32_t v) {
  const uint32_t u = uint32_t(v);
  for (int b = 0; b < width; ++b) p[b] = uint8_t(u >> (8 * b));
}

}  // namespace

Empirical::Empirical(const Dataset& data, EmpiricalOptions options)
    : data_(&data), options_(options), width_(data.width()) {
  if (!std::isfinite(options_.smoothing) || options_.smoothing < 0)
    throw ConfigError("smoothing: must be a finite number >= 0, got " + std::to_string(options_.smoothing));
  if (options_.hash_bits < 1 || options_.hash_bits > 64)
    throw ConfigError("hash_bits: must be between 1 and 64, got " + std::to_string(options_.hash_bits));
  const Space& s = data.space();
  use_labels_ = options_.use_labels && s.has_labels();
  log2_size_ = s.log2_size();
  if (s.has_labels() && !use_labels_) log2_size_ -= std::log2(double(s.labels()));

  const size_t n = data.size();
  // Start with room for up to 2^19 distinct samples; grow() doubles from there.
  size_t cap = 16;
  while (cap < 2 * n && cap < (size_t(1) << 20)) cap *= 2;
  slots_.assign(cap, kEmpty);

  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < n; ++i) {
    const Key k = row_key(data, i, scratch);
    const uint64_t h = hash(k);
    const uint32_t e = find(k, h);
    if (e != kEmpty) {
      ++entries_[e].count;
      continue;
    }
    if (entries_.size() >= size_t(kEmpty) - 1)
      throw DataError("more than " + std::to_string(kEmpty - 1) + " distinct samples");
    if (2 * (entries_.size() + 1) > slots_.size()) grow();
    size_t slot = size_t(h) & (slots_.size() - 1);
    while (slots_[slot] != kEmpty) slot = (slot + 1) & (slots_.size() - 1);
    slots_[slot] = uint32_t(entries_.size());
    entries_.push_back({i, 1, 0.0});
    hashes_.push_back(h);
  }
  for (auto& e : entries_) e.prob = double(e.count) / double(n);
}

Empirical::Key Empirical::row_key(const Dataset& d, size_t i, std::vector<uint8_t>& scratch) const {
  const int64_t len = d.length(i);
  const int32_t label = use_labels_ ? d.label(i) : -1;
  if (width_ == 1) return {d.row_u8(i), len, label};
  scratch.resize(size_t(len) * size_t(width_));
  for (int64_t t = 0; t < len; ++t) put_le(&scratch[size_t(t) * size_t(width_)], width_, d.at(i, t));
  return {scratch.data(), len, label};
}

bool Empirical::query_key(const int32_t* x, int64_t length, int32_t label, std::vector<uint8_t>& scratch,
                          Key* key) const {
  const Space& s = space();
  if (s.variable_length() ? (length < 0 || length > s.dims()) : length != s.dims()) return false;
  if (use_labels_ && (label < -1 || label >= s.labels())) return false;
  scratch.resize(size_t(length) * size_t(width_));
  for (int64_t t = 0; t < length; ++t) {
    if (x[t] < 0 || x[t] >= s.levels()) return false;
    put_le(&scratch[size_t(t) * size_t(width_)], width_, x[t]);
  }
  *key = {scratch.data(), length, use_labels_ ? label : -1};
  return true;
}

uint64_t Empirical::hash(const Key& k) const {
  const size_t n = size_t(k.length) * size_t(width_);
  uint64_t h = kP0 ^ mum(uint64_t(k.length) ^ kP1, kP2);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, k.bytes + i, 8);
    // Scramble the word, then an invertible step on the state (rotate, odd
    // multiply) so no word can wipe out what came before.
    h ^= mum(w ^ kP1, kP2);
    h = rotl(h, 29) * kP3;
  }
  if (i < n) {
    uint64_t w = 0;
    std::memcpy(&w, k.bytes + i, n - i);
    h ^= mum(w ^ kP1, kP2);
    h = rotl(h, 29) * kP3;
  }
  h ^= mum(uint64_t(uint32_t(k.label)) ^ kP3, kP0);
  h = fmix(h);
  if (options_.hash_bits < 64) h &= (uint64_t(1) << options_.hash_bits) - 1;
  return h;
}

bool Empirical::same(const Key& a, const Key& b) const {
  if (a.length != b.length || a.label != b.label) return false;
  return a.length == 0 || std::memcmp(a.bytes, b.bytes, size_t(a.length) * size_t(width_)) == 0;
}

uint32_t Empirical::find(const Key& k, uint64_t h) const {
  const size_t mask = slots_.size() - 1;
  std::vector<uint8_t> scratch;  // used only for values wider than a byte
  for (size_t slot = size_t(h) & mask;; slot = (slot + 1) & mask) {
    const uint32_t e = slots_[slot];
    if (e == kEmpty) return kEmpty;
    if (hashes_[e] != h) continue;
    // Equal hashes: confirm on the values, so a collision never merges samples.
    if (same(k, row_key(*data_, entries_[e].first_row, scratch))) return e;
  }
}

void Empirical::grow() {
  slots_.assign(slots_.size() * 2, kEmpty);
  const size_t mask = slots_.size() - 1;
  for (size_t e = 0; e < entries_.size(); ++e) {
    size_t slot = size_t(hashes_[e]) & mask;
    while (slots_[slot] != kEmpty) slot = (slot + 1) & mask;
    slots_[slot] = uint32_t(e);
  }
}

int64_t Empirical::count(const int32_t* x, int64_t length, int32_t label) const {
  std::vector<uint8_t> scratch;
  Key k;
  if (!query_key(x, length, label, scratch, &k)) return 0;
  const uint32_t e = find(k, hash(k));
  return e == kEmpty ? 0 : entries_[e].count;
}

int64_t Empirical::index_of(const int32_t* x, int64_t length, int32_t label) const {
  std::vector<uint8_t> scratch;
  Key k;
  if (!query_key(x, length, label, scratch, &k)) return -1;
  const uint32_t e = find(k, hash(k));
  return e == kEmpty ? -1 : int64_t(e);
}

int64_t Empirical::count_row(const Dataset& other, size_t i) const {
  if (&other != data_ && other.space() != space())
    throw DataError("cannot look up a sample of space " + other.space().describe() + " in an empirical distribution of " +
                    space().describe());
  std::vector<uint8_t> scratch;
  const Key k = row_key(other, i, scratch);
  const uint32_t e = find(k, hash(k));
  return e == kEmpty ? 0 : entries_[e].count;
}

double Empirical::log_normaliser() const {
  const double log_n = num_samples() ? std::log(double(num_samples())) : kNegInf;
  if (options_.smoothing == 0) return log_n;
  return log_add(log_n, std::log(options_.smoothing) + log2_size_ * kLn2);
}

double Empirical::log_prob_count(int64_t c) const {
  const double num = double(c) + options_.smoothing;
  if (num == 0) return kNegInf;
  return std::log(num) - log_normaliser();
}

double Empirical::log_prob(const int32_t* x, int64_t length, int32_t label) const {
  std::vector<uint8_t> scratch;
  Key k;
  if (!query_key(x, length, label, scratch, &k)) return kNegInf;
  const uint32_t e = find(k, hash(k));
  return log_prob_count(e == kEmpty ? 0 : entries_[e].count);
}

double Empirical::prob(const int32_t* x, int64_t length, int32_t label) const {
  return std::exp(log_prob(x, length, label));
}

double Empirical::log_prob_row(const Dataset& other, size_t i) const { return log_prob_count(count_row(other, i)); }

std::vector<double> Empirical::log_prob(const Dataset& other) const {
  if (other.space() != space())
    throw DataError("cannot score a dataset of space " + other.space().describe() + " with an empirical distribution of " +
                    space().describe());
  std::vector<double> out(other.size());
  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < other.size(); ++i) {
    const Key k = row_key(other, i, scratch);
    const uint32_t e = find(k, hash(k));
    out[i] = log_prob_count(e == kEmpty ? 0 : entries_[e].count);
  }
  return out;
}

Dataset Empirical::sample(size_t n, Rng& rng) const {
  const Space& s = space();
  const size_t N = num_samples();
  const double alpha = options_.smoothing;
  if (N == 0 && alpha == 0) throw DataError("cannot sample from the empirical distribution of an empty dataset");
  // Probability of the uniform component: alpha|X| / (N + alpha|X|).
  const double p_uniform = alpha > 0 ? std::exp(std::log(alpha) + log2_size_ * kLn2 - log_normaliser()) : 0.0;
  const double log_levels = std::log(double(s.levels()));
  // For sequences, length t has weight I^t; relative to t = T that is
  // I^-(T-t), summing to (1 - I^-(T+1)) / (1 - 1/I).
  const double length_total = -std::expm1(-double(s.dims() + 1) * log_levels) / -std::expm1(-log_levels);

  Dataset out(s);
  std::vector<int32_t> buf(size_t(s.dims()));
  for (size_t j = 0; j < n; ++j) {
    if (N > 0 && (alpha == 0 || !(rng.uniform() < p_uniform))) {
      const size_t i = size_t(rng.below(N));
      data_->get(i, buf.data());
      out.push_back(buf.data(), data_->length(i), use_labels_ ? data_->label(i) : -1);
      continue;
    }
    int64_t len = s.dims();
    if (s.variable_length()) {
      double u = rng.uniform() * length_total;
      int64_t back = 0;  // T - t
      for (;; ++back) {
        const double w = std::exp(-double(back) * log_levels);
        if (u < w || w == 0 || back == s.dims()) break;
        u -= w;
      }
      len = s.dims() - std::min(back, s.dims());
    }
    for (int64_t t = 0; t < len; ++t) buf[size_t(t)] = int32_t(rng.below(uint64_t(s.levels())));
    out.push_back(buf.data(), len, use_labels_ ? int32_t(rng.below(uint64_t(s.labels()))) : -1);
  }
  return out;
}

double Empirical::entropy() const {
  const double n = double(num_samples());
  double h = 0;
  for (const auto& e : entries_) {
    const double p = double(e.count) / n;
    h -= p * std::log(p);
  }
  return h;
}

double Empirical::entropy_bits() const { return entropy() / kLn2; }

double Empirical::support_log10_fraction() const {
  if (entries_.empty()) return kNegInf;
  return std::log10(double(entries_.size())) - log2_size_ * std::log10(2.0);
}

double Empirical::support_fraction() const { return std::pow(10.0, support_log10_fraction()); }

std::vector<EmpiricalEntry> Empirical::top(size_t k) const {
  std::vector<uint32_t> idx(entries_.size());
  std::iota(idx.begin(), idx.end(), 0u);
  k = std::min(k, idx.size());
  // Entries are in first-occurrence order, so index order breaks ties.
  std::partial_sort(idx.begin(), idx.begin() + long(k), idx.end(), [this](uint32_t a, uint32_t b) {
    return entries_[a].count != entries_[b].count ? entries_[a].count > entries_[b].count : a < b;
  });
  std::vector<EmpiricalEntry> out;
  out.reserve(k);
  for (size_t i = 0; i < k; ++i) out.push_back(entries_[idx[i]]);
  return out;
}

Overlap Empirical::compare(const Dataset& other) const {
  if (other.space() != space())
    throw DataError("cannot compare a dataset of space " + other.space().describe() + " with one of " +
                    space().describe());
  Overlap o;
  o.num_samples = other.size();
  std::vector<char> hit(entries_.size(), 0);
  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < other.size(); ++i) {
    const Key k = row_key(other, i, scratch);
    const uint32_t e = find(k, hash(k));
    if (e == kEmpty) continue;
    ++o.num_inside;
    if (!hit[e]) {
      hit[e] = 1;
      ++o.num_reached;
    }
  }
  if (o.num_samples) {
    o.validity = double(o.num_inside) / double(o.num_samples);
    o.novelty = double(o.num_samples - o.num_inside) / double(o.num_samples);
  }
  if (!entries_.empty()) o.coverage = double(o.num_reached) / double(entries_.size());
  return o;
}

std::vector<int64_t> Empirical::label_counts() const {
  std::vector<int64_t> counts(size_t(space().labels()), 0);
  if (counts.empty()) return counts;
  for (size_t i = 0; i < num_samples(); ++i) {
    const int32_t y = data_->label(i);
    if (y >= 0) ++counts[size_t(y)];
  }
  return counts;
}

int64_t Empirical::num_unlabeled() const {
  if (!space().has_labels()) return int64_t(num_samples());
  int64_t n = 0;
  for (size_t i = 0; i < num_samples(); ++i) n += data_->label(i) < 0;
  return n;
}

}  // namespace dgm
