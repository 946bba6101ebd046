// space.h — the data space X. A sample is a discrete tensor: a shape and a
// number of levels, each value in {0..levels-1}; optionally paired with a label
// in {0..labels-1}. Token sequences are the same with a variable length
// 0..max_length (shape = {max_length}). The space knows D, log |X|, validates a
// sample and reads/writes itself as JSON:
//   {"shape": [3, 32, 32], "levels": 256, "labels": 10}
//   {"shape": [64], "levels": 12155, "variable_length": true}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dgm {

class Space {
 public:
  // Limits checked before anything is allocated (hostile configs, headers).
  static constexpr int64_t kMaxDims = int64_t(1) << 28;
  static constexpr int64_t kMaxLevels = int64_t(1) << 30;
  static constexpr int64_t kMaxLabels = int64_t(1) << 20;

  Space() = default;
  // Fixed-shape tensors; throws ConfigError on an empty shape, a zero or
  // negative extent, levels < 2 or sizes past the limits above.
  static Space tensor(std::vector<int64_t> shape, int64_t levels, int64_t labels = 0);
  // Variable-length token sequences of length 0..max_length over `levels` tokens.
  static Space sequence(int64_t max_length, int64_t levels);

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t levels() const { return levels_; }
  int64_t labels() const { return labels_; }  // 0 = no labels
  bool has_labels() const { return labels_ > 0; }
  bool variable_length() const { return variable_length_; }
  int64_t dims() const { return dims_; }  // D (the maximum length for sequences)
  bool is_binary() const { return levels_ == 2; }
  // Bytes used to store one value: 1 when levels <= 256, else 2 or 4.
  int value_width() const;

  // log2 and log10 of |X| (labels included), and a readable form such as
  // "2^25 = 33554432" or "256^3072 * 10 = 2^24576 * 10 > 10^7399".
  double log2_size() const;
  double log10_size() const;
  std::string size_string() const;

  // "[2,3]" for a 5x5 grid, "[c=1,y=4,x=7]" for a CxHxW image, "[12]" for a sequence.
  std::string position(int64_t d) const;
  // Throws DataError naming the position and the bad value (or a bad length or label).
  // `label` is -1 when the sample carries none.
  void validate(const int32_t* x, int64_t length, int32_t label = -1) const;
  // Throws DataError unless label is -1 (unknown) or in {0..labels-1}.
  void check_label(int32_t label) const;

  nlohmann::json to_json() const;
  // Throws ConfigError naming the offending key; unknown keys are errors.
  static Space from_json(const nlohmann::json& j);
  std::string describe() const;  // "{0..1}^(5x5)", "{0..255}^(3x32x32) x {0..9}"

  bool operator==(const Space& o) const;
  bool operator!=(const Space& o) const { return !(*this == o); }

 private:
  std::vector<int64_t> shape_;
  int64_t levels_ = 0;
  int64_t labels_ = 0;
  bool variable_length_ = false;
  int64_t dims_ = 0;
};

}  // namespace dgm
