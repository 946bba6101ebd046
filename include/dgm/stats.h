// stats.h — the empirical distribution of a dataset, P^(x) = count(x) / N, with
// optional additive (Lidstone) smoothing over all of X,
//   P_alpha(x) = (count(x) + alpha) / (N + alpha |X|),
// computed in log space so |X| = 256^3072 * 10 is fine. Exact counts: each row
// is hashed (64-bit, 8 bytes a step) into an open-addressing table that holds
// one representative row per distinct sample; equal hashes are confirmed by
// comparing the values themselves, so a hash collision never merges samples.
//
//   Empirical emp(train);                    // train must outlive emp
//   emp.num_distinct(); emp.entropy_bits(); emp.top(5);
//   Overlap o = emp.compare(generated);      // validity, novelty, coverage
//
// Symbols: N samples, D positions, L labels, |X| the size of the space.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dgm/dataset.h"
#include "dgm/rng.h"

namespace dgm {

struct EmpiricalOptions {
  // Additive smoothing alpha >= 0: mass alpha for every point of X.
  double smoothing = 0.0;
  // When the space has labels: true counts (x, y) pairs as the samples (|X|
  // includes the L labels); false ignores labels, so (x, 3) and (x, 7) are the
  // same sample and |X| counts values only.
  bool use_labels = true;
  // Bits of the row hash kept (1..64). Only tests lower it, to force
  // collisions down the exact-compare path.
  int hash_bits = 64;
};

// One distinct sample: where it first occurs and how often.
struct EmpiricalEntry {
  size_t first_row = 0;  // index of its first occurrence in the dataset
  int64_t count = 0;
  double prob = 0.0;  // unsmoothed count / N
};

// How a second dataset (M samples) relates to this one.
struct Overlap {
  size_t num_samples = 0;      // M
  size_t num_inside = 0;       // samples of the other set seen here
  size_t num_reached = 0;      // distinct samples here that the other set hits
  double validity = 0.0;       // num_inside / M: inside this support
  double novelty = 0.0;        // 1 - validity: not in this (training) set
  double coverage = 0.0;       // num_reached / num_distinct
};

class Empirical {
 public:
  // Counts the samples of `data`, which must outlive this object: only row
  // indices are kept, never copies of the rows. Throws ConfigError on a
  // negative or non-finite smoothing or hash_bits outside 1..64.
  explicit Empirical(const Dataset& data, EmpiricalOptions options = {});
  Empirical(Dataset&&, EmpiricalOptions = {}) = delete;  // would dangle

  const Dataset& data() const { return *data_; }
  const Space& space() const { return data_->space(); }
  const EmpiricalOptions& options() const { return options_; }
  // True when labels take part in a sample's identity.
  bool uses_labels() const { return use_labels_; }

  size_t num_samples() const { return data_->size(); }  // N
  size_t num_distinct() const { return entries_.size(); }
  size_t num_duplicates() const { return num_samples() - num_distinct(); }
  // Distinct samples in order of first occurrence (prob unsmoothed).
  const std::vector<EmpiricalEntry>& entries() const { return entries_; }

  // Occurrences of x (with `label` when labels are used; -1 = none). A point
  // outside X (bad length, value or label) has count 0 and probability 0.
  int64_t count(const int32_t* x, int64_t length, int32_t label = -1) const;
  int64_t count(const std::vector<int32_t>& x, int32_t label = -1) const {
    return count(x.data(), int64_t(x.size()), label);
  }
  // Index into entries() of x's distinct sample, or -1 when x never occurs.
  int64_t index_of(const int32_t* x, int64_t length, int32_t label = -1) const;
  // Occurrences here of row i of `other` (a dataset of the same space).
  int64_t count_row(const Dataset& other, size_t i) const;

  // P(x) with the configured smoothing; log_prob in nats, -infinity where
  // P(x) = 0 (never seen and no smoothing, or outside X).
  double prob(const int32_t* x, int64_t length, int32_t label = -1) const;
  double prob(const std::vector<int32_t>& x, int32_t label = -1) const {
    return prob(x.data(), int64_t(x.size()), label);
  }
  double log_prob(const int32_t* x, int64_t length, int32_t label = -1) const;
  double log_prob(const std::vector<int32_t>& x, int32_t label = -1) const {
    return log_prob(x.data(), int64_t(x.size()), label);
  }
  double log_prob_row(const Dataset& other, size_t i) const;
  // log P of every row of `other`, in order (nats).
  std::vector<double> log_prob(const Dataset& other) const;

  // n draws from P (smoothed when alpha > 0): a uniformly chosen row, or, with
  // probability alpha|X| / (N + alpha|X|), a uniform point of X (lengths of
  // variable-length spaces weighted by the number of sequences of that length).
  // Labels are kept when they are used, else -1. Throws DataError when N = 0
  // and alpha = 0 (nothing to draw from).
  Dataset sample(size_t n, Rng& rng) const;

  // Entropy of the unsmoothed empirical distribution: nats and bits.
  double entropy() const;
  double entropy_bits() const;

  // log2 |X| as used here (labels excluded when they are not used).
  double log2_space_size() const { return log2_size_; }
  // Support = the distinct samples; its share of X as log10 (finite while
  // N > 0) and as a plain fraction (underflows to 0 when tiny).
  size_t support_size() const { return num_distinct(); }
  double support_log10_fraction() const;
  double support_fraction() const;

  // The k most frequent samples, by count, ties by first occurrence.
  std::vector<EmpiricalEntry> top(size_t k) const;

  // Validity, novelty and coverage of `other` (same space, else DataError).
  Overlap compare(const Dataset& other) const;
  double validity(const Dataset& other) const { return compare(other).validity; }
  double novelty(const Dataset& other) const { return compare(other).novelty; }
  double coverage(const Dataset& other) const { return compare(other).coverage; }

  // Samples per label (L entries) and samples without one; empty / N when
  // the space has no labels.
  std::vector<int64_t> label_counts() const;
  int64_t num_unlabeled() const;

 private:
  // A sample as bytes: `length` values of the dataset's width, little-endian.
  struct Key {
    const uint8_t* bytes;
    int64_t length;
    int32_t label;
  };
  static constexpr uint32_t kEmpty = 0xFFFFFFFFu;

  Key row_key(const Dataset& d, size_t i, std::vector<uint8_t>& scratch) const;
  // False when x is not a point of X.
  bool query_key(const int32_t* x, int64_t length, int32_t label, std::vector<uint8_t>& scratch, Key* key) const;
  uint64_t hash(const Key& k) const;
  bool same(const Key& a, const Key& b) const;
  // Index into entries_ of the sample `k`, or kEmpty.
  uint32_t find(const Key& k, uint64_t h) const;
  void grow();
  double log_normaliser() const;  // log(N + alpha |X|)
  double log_prob_count(int64_t c) const;

  const Dataset* data_;
  EmpiricalOptions options_;
  bool use_labels_ = false;
  double log2_size_ = 0.0;
  int width_ = 1;
  std::vector<EmpiricalEntry> entries_;  // (num_distinct), first-occurrence order
  std::vector<uint64_t> hashes_;         // (num_distinct)
  std::vector<uint32_t> slots_;          // (capacity, a power of 2): entry index or kEmpty
};

}  // namespace dgm
