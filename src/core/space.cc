// space.cc — the data space X: sizes, validation and its JSON form.
#include "dgm/space.h"

#include <cmath>
#include <sstream>

#include "dgm/error.h"

namespace dgm {
namespace {

std::string join_shape(const std::vector<int64_t>& shape, const char* sep) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += sep;
    s += std::to_string(shape[i]);
  }
  return s;
}

// True when v is 2^k for some k >= 1; sets k.
bool power_of_two(int64_t v, int* k) {
  if (v < 2 || (v & (v - 1)) != 0) return false;
  *k = 0;
  while ((int64_t(1) << *k) != v) ++*k;
  return true;
}

int64_t json_int(const nlohmann::json& v, const char* key) {
  if (v.is_number_integer() || v.is_number_unsigned()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))
      throw ConfigError(std::string("space.") + key + ": value too large");
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9.0e18) return int64_t(d);
  }
  throw ConfigError(std::string("space.") + key + ": expected an integer, got " + v.dump());
}

}  // namespace

Space Space::tensor(std::vector<int64_t> shape, int64_t levels, int64_t labels) {
  if (shape.empty()) throw ConfigError("space.shape: must have at least one extent");
  if (shape.size() > 8) throw ConfigError("space.shape: at most 8 extents, got " + std::to_string(shape.size()));
  int64_t dims = 1;
  for (int64_t e : shape) {
    if (e <= 0) throw ConfigError("space.shape: extents must be positive, got [" + join_shape(shape, ",") + "]");
    if (e > kMaxDims || dims > kMaxDims / e)
      throw ConfigError("space.shape: [" + join_shape(shape, ",") + "] has more than " +
                        std::to_string(kMaxDims) + " positions");
    dims *= e;
  }
  if (levels < 2 || levels > kMaxLevels)
    throw ConfigError("space.levels: must be between 2 and " + std::to_string(kMaxLevels) + ", got " +
                      std::to_string(levels));
  if (labels < 0 || labels == 1 || labels > kMaxLabels)
    throw ConfigError("space.labels: must be 0 (no labels) or between 2 and " + std::to_string(kMaxLabels) +
                      ", got " + std::to_string(labels));
  Space s;
  s.shape_ = std::move(shape);
  s.levels_ = levels;
  s.labels_ = labels;
  s.dims_ = dims;
  return s;
}

Space Space::sequence(int64_t max_length, int64_t levels) {
  Space s = tensor({max_length}, levels, 0);
  s.variable_length_ = true;
  return s;
}

int Space::value_width() const {
  if (levels_ <= 256) return 1;
  if (levels_ <= 65536) return 2;
  return 4;
}

double Space::log2_size() const {
  double l2 = std::log2(double(levels_));
  double bits;
  if (!variable_length_) {
    bits = double(dims_) * l2;
  } else {
    // |X| = sum_{t=0}^{T} I^t = (I^(T+1) - 1) / (I - 1) for I >= 2.
    double t1 = double(dims_ + 1);
    bits = t1 * l2 - std::log2(double(levels_ - 1)) + std::log2(-std::expm1(-t1 * std::log(double(levels_))));
  }
  if (labels_ > 0) bits += std::log2(double(labels_));
  return bits;
}

double Space::log10_size() const { return log2_size() * std::log10(2.0); }

std::string Space::size_string() const {
  std::ostringstream os;
  int k = 0;
  bool exact = log2_size() < 62.5;
  if (variable_length_) {
    os << "sum_{t=0.." << dims_ << "} " << levels_ << "^t";
  } else {
    os << levels_ << "^" << dims_;
    if (labels_ > 0) os << " * " << labels_;
    if (power_of_two(levels_, &k) && k > 1) {
      os << " = 2^" << int64_t(k) * dims_;
      if (labels_ > 0) os << " * " << labels_;
    }
  }
  if (exact) {
    // Small enough to print exactly.
    long double v = std::pow(2.0L, (long double)log2_size());
    os << " = " << (unsigned long long)std::llround(v);
  } else {
    os << " > 10^" << (long long)std::floor(log10_size());
  }
  return os.str();
}

std::string Space::position(int64_t d) const {
  std::string s = "[";
  if (shape_.size() == 3 && !variable_length_) {
    int64_t hw = shape_[1] * shape_[2];
    s += "c=" + std::to_string(d / hw) + ",y=" + std::to_string((d % hw) / shape_[2]) +
         ",x=" + std::to_string(d % shape_[2]);
  } else {
    std::vector<int64_t> idx(shape_.size());
    int64_t r = d;
    for (size_t i = shape_.size(); i-- > 0;) {
      idx[i] = r % shape_[i];
      r /= shape_[i];
    }
    s += join_shape(idx, ",");
  }
  return s + "]";
}

void Space::validate(const int32_t* x, int64_t length, int32_t label) const {
  if (variable_length_) {
    if (length < 0 || length > dims_)
      throw DataError("sequence of length " + std::to_string(length) + " exceeds the maximum length " +
                      std::to_string(dims_));
  } else if (length != dims_) {
    throw DataError("sample has " + std::to_string(length) + " values, the space " + describe() + " expects " +
                    std::to_string(dims_));
  }
  for (int64_t d = 0; d < length; ++d) {
    if (x[d] < 0 || x[d] >= levels_)
      throw DataError("position " + position(d) + ": value " + std::to_string(x[d]) + " outside {0.." +
                      std::to_string(levels_ - 1) + "}");
  }
  check_label(label);
}

void Space::check_label(int32_t label) const {
  if (label >= 0 && (labels_ == 0 || label >= labels_))
    throw DataError("label " + std::to_string(label) +
                    (labels_ ? " outside {0.." + std::to_string(labels_ - 1) + "}" : " given but the space has no labels"));
  if (label < -1) throw DataError("label " + std::to_string(label) + " is negative");
}

nlohmann::json Space::to_json() const {
  nlohmann::json j;
  j["shape"] = shape_;
  j["levels"] = levels_;
  if (labels_ > 0) j["labels"] = labels_;
  if (variable_length_) j["variable_length"] = true;
  return j;
}

Space Space::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw ConfigError("space: expected an object like {\"shape\": [5, 5], \"levels\": 2}");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k != "shape" && k != "levels" && k != "labels" && k != "variable_length")
      throw ConfigError("space: unknown key '" + k + "' (known: shape, levels, labels, variable_length)");
  }
  if (!j.contains("shape")) throw ConfigError("space: missing key 'shape'");
  if (!j.contains("levels")) throw ConfigError("space: missing key 'levels'");
  std::vector<int64_t> shape;
  const auto& js = j.at("shape");
  if (js.is_array()) {
    for (const auto& e : js) shape.push_back(json_int(e, "shape"));
  } else {
    shape.push_back(json_int(js, "shape"));
  }
  int64_t levels = json_int(j.at("levels"), "levels");
  int64_t labels = j.contains("labels") ? json_int(j.at("labels"), "labels") : 0;
  bool var = false;
  if (j.contains("variable_length")) {
    if (!j.at("variable_length").is_boolean()) throw ConfigError("space.variable_length: expected true or false");
    var = j.at("variable_length").get<bool>();
  }
  if (var) {
    if (shape.size() != 1) throw ConfigError("space: a variable-length space has a one-extent shape [max_length]");
    if (labels) throw ConfigError("space: labels are not supported on variable-length sequences");
    return sequence(shape[0], levels);
  }
  return tensor(shape, levels, labels);
}

std::string Space::describe() const {
  std::string s = "{0.." + std::to_string(levels_ - 1) + "}^";
  if (variable_length_) s += "(<=" + std::to_string(dims_) + ")";
  else s += "(" + join_shape(shape_, "x") + ")";
  if (labels_ > 0) s += " x {0.." + std::to_string(labels_ - 1) + "}";
  return s;
}

bool Space::operator==(const Space& o) const {
  return shape_ == o.shape_ && levels_ == o.levels_ && labels_ == o.labels_ &&
         variable_length_ == o.variable_length_;
}

}  // namespace dgm
