// dataset.h — N samples of a Space stored contiguously: one byte a value when
// levels <= 256, two or four bytes only when the levels need them (the
// Fashion-MNIST training set, 60000 x 784, takes 47 MB). Optional labels, one
// int32 a sample (-1 = unknown). Variable-length sequences keep an offsets
// array. A DataView is a range of rows that does not copy them.
//
// Symbols: N samples, D positions (dims), L labels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dgm/space.h"

namespace dgm {

class DataView;

// The most memory one dataset or parameter table may ask for, checked before
// allocating: the physical memory, or less under `ulimit -v` / `ulimit -d`, or
// the environment variable DGM_MEMORY_LIMIT_MB when set.
uint64_t memory_budget();
// A size for messages: "512 bytes", "12.5 KiB", "245.3 MiB", "1.50 GiB".
std::string byte_size(uint64_t bytes);
// "needs <need>, more than the <budget> of memory available": the two sizes
// with as many digits as it takes to tell them apart.
std::string over_budget(uint64_t need, uint64_t budget);

class Dataset {
 public:
  // Hard cap on stored values, checked before allocating (a header that claims
  // 10^12 items is refused, not attempted). 16 Gi values.
  static constexpr uint64_t kMaxValues = uint64_t(1) << 34;

  Dataset() = default;
  explicit Dataset(Space space);

  const Space& space() const { return space_; }
  size_t size() const { return num_samples_; }
  bool empty() const { return num_samples_ == 0; }
  int64_t dims() const { return space_.dims(); }
  int width() const { return width_; }  // bytes a value
  bool has_labels() const { return space_.has_labels(); }

  // Length of sample i: D for tensors, its own length for sequences.
  int64_t length(size_t i) const {
    return offsets_.empty() ? space_.dims() : int64_t(offsets_[i + 1] - offsets_[i]);
  }
  // Value at position d of sample i.
  int32_t at(size_t i, int64_t d) const {
    const size_t k = start(i) + size_t(d);
    switch (width_) {
      case 1: return values_[k];
      case 2: { uint16_t v; std::memcpy(&v, &values_[2 * k], 2); return v; }
      default: { int32_t v; std::memcpy(&v, &values_[4 * k], 4); return v; }
    }
  }
  // Copies sample i into out[0..length(i)).
  void get(size_t i, int32_t* out) const;
  std::vector<int32_t> row(size_t i) const;
  // Direct pointer to a row of bytes; only when width() == 1.
  const uint8_t* row_u8(size_t i) const { return values_.data() + start(i); }
  int32_t label(size_t i) const { return labels_.empty() ? -1 : labels_[i]; }
  const std::vector<int32_t>& labels() const { return labels_; }

  // Appends one sample after checking it against the space (DataError naming
  // the position and value otherwise). label -1 = unknown.
  void push_back(const int32_t* x, int64_t length, int32_t label = -1);
  void push_back(const std::vector<int32_t>& x, int32_t label = -1) {
    push_back(x.data(), int64_t(x.size()), label);
  }
  // Fast path for byte-wide fixed-length spaces; values are checked.
  void push_back_u8(const uint8_t* x, int32_t label = -1);
  // Reserves room for n samples (and, for sequences, total_values values).
  // Throws DataError when that exceeds kMaxValues.
  void reserve(size_t n, size_t total_values = 0);
  void append(const Dataset& other);
  void set_label(size_t i, int32_t label);

  // Copies of a range or of chosen rows, in the given order.
  Dataset slice(size_t begin, size_t end) const;
  Dataset subset(const std::vector<size_t>& rows) const;
  // Deterministic Fisher-Yates shuffle of the rows with Rng(seed): row j
  // becomes the old row shuffle_order(size(), seed)[j].
  void shuffle(uint64_t seed);
  static std::vector<size_t> shuffle_order(size_t n, uint64_t seed);
  // Splits off the last `count` rows: returns them, keeps the rest.
  Dataset split_tail(size_t count);

  // Bytes held (values, labels, offsets).
  size_t memory_bytes() const;
  // 64 bits that identify training data in model files: the space, and a
  // sum over samples of a hash of (values, label, index). A sum composes, so
  // a dataset spread over ranks has the same fingerprint: add the parts
  // (each numbered from its first global index) and finish with fingerprint_of.
  uint64_t fingerprint() const;
  std::string fingerprint_hex() const { return fingerprint_hex(fingerprint()); }
  static std::string fingerprint_hex(uint64_t fingerprint);
  uint64_t fingerprint_part(uint64_t first_index) const;
  static uint64_t fingerprint_of(const Space& space, uint64_t n, uint64_t part_sum);

  // Raw storage, little-endian, width() bytes a value.
  const std::vector<uint8_t>& raw() const { return values_; }

 private:
  size_t start(size_t i) const { return offsets_.empty() ? i * size_t(space_.dims()) : offsets_[i]; }
  void put_value(size_t k, int32_t v);
  void make_room(size_t bytes);  // before appending `bytes` of values

  Space space_;
  int width_ = 1;
  size_t num_samples_ = 0;
  std::vector<uint8_t> values_;    // (N * D * width) or (sum of lengths * width)
  std::vector<int32_t> labels_;    // (N) when the space has labels
  std::vector<uint64_t> offsets_;  // (N + 1) for variable-length spaces
};

// Rows [begin, end) of a dataset, without copying. The dataset must outlive it.
class DataView {
 public:
  DataView(const Dataset& d) : data_(&d), begin_(0), end_(d.size()) {}  // NOLINT: implicit on purpose
  DataView(const Dataset& d, size_t begin, size_t end);

  const Dataset& dataset() const { return *data_; }
  const Space& space() const { return data_->space(); }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return end_ == begin_; }
  size_t offset() const { return begin_; }
  int64_t length(size_t i) const { return data_->length(begin_ + i); }
  int32_t at(size_t i, int64_t d) const { return data_->at(begin_ + i, d); }
  void get(size_t i, int32_t* out) const { data_->get(begin_ + i, out); }
  const uint8_t* row_u8(size_t i) const { return data_->row_u8(begin_ + i); }
  int32_t label(size_t i) const { return hide_labels_ ? -1 : data_->label(begin_ + i); }
  DataView sub(size_t begin, size_t end) const;
  // The same rows with every label unknown (-1): a labeled model then scores
  // the marginal log P(x) instead of log P(x | y), without copying the data.
  DataView without_labels() const {
    DataView v = *this;
    v.hide_labels_ = true;
    return v;
  }

 private:
  const Dataset* data_;
  size_t begin_, end_;
  bool hide_labels_ = false;
};

}  // namespace dgm
