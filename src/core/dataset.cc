// dataset.cc — contiguous storage of samples, labels and sequence offsets.
#include "dgm/dataset.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "dgm/error.h"
#include "dgm/rng.h"

namespace dgm {

Dataset::Dataset(Space space) : space_(std::move(space)), width_(space_.value_width()) {
  if (space_.variable_length()) offsets_.push_back(0);
}

void Dataset::get(size_t i, int32_t* out) const {
  const int64_t n = length(i);
  if (width_ == 1) {
    const uint8_t* p = row_u8(i);
    for (int64_t d = 0; d < n; ++d) out[d] = p[d];
  } else {
    for (int64_t d = 0; d < n; ++d) out[d] = at(i, d);
  }
}

std::vector<int32_t> Dataset::row(size_t i) const {
  std::vector<int32_t> r(size_t(length(i)));
  get(i, r.data());
  return r;
}

void Dataset::put_value(size_t k, int32_t v) {
  switch (width_) {
    case 1: values_[k] = uint8_t(v); break;
    case 2: { uint16_t u = uint16_t(v); std::memcpy(&values_[2 * k], &u, 2); break; }
    default: std::memcpy(&values_[4 * k], &v, 4); break;
  }
}

void Dataset::push_back(const int32_t* x, int64_t length, int32_t label) {
  space_.validate(x, length, label);
  const size_t k0 = values_.size() / size_t(width_);
  if (k0 + size_t(length) > kMaxValues)
    throw DataError("dataset would hold more than " + std::to_string(kMaxValues) + " values");
  make_room(size_t(length) * size_t(width_));
  values_.resize(values_.size() + size_t(length) * size_t(width_));
  for (int64_t d = 0; d < length; ++d) put_value(k0 + size_t(d), x[d]);
  if (space_.has_labels()) labels_.push_back(label);
  if (space_.variable_length()) offsets_.push_back(k0 + size_t(length));
  ++num_samples_;
}

void Dataset::push_back_u8(const uint8_t* x, int32_t label) {
  if (width_ != 1 || space_.variable_length())
    throw DataError("push_back_u8 needs a fixed-length space with at most 256 levels");
  const int64_t D = space_.dims();
  const int64_t levels = space_.levels();
  if (levels < 256) {
    for (int64_t d = 0; d < D; ++d)
      if (x[d] >= levels)
        throw DataError("position " + space_.position(d) + ": value " + std::to_string(x[d]) + " outside {0.." +
                        std::to_string(levels - 1) + "}");
  }
  space_.check_label(label);
  if (values_.size() + size_t(D) > values_.capacity()) make_room(size_t(D));
  values_.insert(values_.end(), x, x + D);
  if (space_.has_labels()) labels_.push_back(label);
  ++num_samples_;
}

uint64_t memory_budget() {
  uint64_t budget = UINT64_MAX;
  if (const char* env = std::getenv("DGM_MEMORY_LIMIT_MB")) {
    char* end = nullptr;
    const unsigned long long mb = std::strtoull(env, &end, 10);
    if (end != env && *end == '\0' && mb > 0 && mb < (1ULL << 44)) budget = uint64_t(mb) << 20;
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) budget = std::min<uint64_t>(budget, uint64_t(pages) * uint64_t(page));
  for (int resource : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit rl;
    if (::getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) budget = std::min<uint64_t>(budget, rl.rlim_cur);
  }
  return budget;
}

namespace {

std::string size_with(uint64_t bytes, int digits) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = double(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f %s", digits, v, units[u]);
  return buf;
}

}  // namespace

std::string byte_size(uint64_t bytes) { return size_with(bytes, bytes >= (uint64_t(1) << 30) ? 2 : 1); }

std::string over_budget(uint64_t need, uint64_t budget) {
  std::string a = byte_size(need), b = byte_size(budget);
  for (int digits = 2; a == b && digits <= 9; ++digits) {
    a = size_with(need, digits);
    b = size_with(budget, digits);
  }
  if (a == b) {
    a = std::to_string(need) + " bytes";
    b = std::to_string(budget) + " bytes";
  }
  return "needs " + a + ", more than the " + b + " of memory available";
}

// Grows the values geometrically but never past the memory budget (the
// vector's own doubling would first ask for up to twice it): a DataError
// with the sizes instead.
void Dataset::make_room(size_t bytes) {
  const uint64_t need = uint64_t(values_.size()) + bytes;
  if (need <= values_.capacity()) return;
  const uint64_t budget = memory_budget();
  if (need > budget) throw DataError("dataset of " + std::to_string(num_samples_ + 1) + " samples " + over_budget(need, budget));
  values_.reserve(size_t(std::min<uint64_t>(std::max<uint64_t>(need, 2 * uint64_t(values_.capacity())), budget)));
}

void Dataset::reserve(size_t n, size_t total_values) {
  const uint64_t values = space_.variable_length() ? uint64_t(total_values) : uint64_t(n) * uint64_t(space_.dims());
  if ((space_.dims() > 0 && n > kMaxValues) || values > kMaxValues)
    throw DataError("dataset of " + std::to_string(n) + " samples would hold more than " +
                    std::to_string(kMaxValues) + " values");
  // Checked before allocating: a file that claims (or is) more than memory
  // can hold is refused with its size, not attempted.
  const uint64_t bytes = values * uint64_t(width_) + (space_.has_labels() ? 4 * uint64_t(n) : 0) +
                         (space_.variable_length() ? 8 * uint64_t(n) : 0);
  const uint64_t budget = memory_budget();
  if (bytes > budget)
    throw DataError("dataset of " + std::to_string(n) + " samples " + over_budget(bytes, budget));
  values_.reserve(size_t(values) * size_t(width_));
  if (space_.has_labels()) labels_.reserve(n);
  if (space_.variable_length()) offsets_.reserve(n + 1);
}

void Dataset::append(const Dataset& other) {
  if (other.space_ != space_)
    throw DataError("cannot append a dataset of space " + other.space_.describe() + " to one of " + space_.describe());
  const size_t k0 = values_.size() / size_t(width_);
  values_.insert(values_.end(), other.values_.begin(), other.values_.end());
  labels_.insert(labels_.end(), other.labels_.begin(), other.labels_.end());
  if (space_.variable_length())
    for (size_t i = 1; i < other.offsets_.size(); ++i) offsets_.push_back(k0 + other.offsets_[i]);
  num_samples_ += other.num_samples_;
}

void Dataset::set_label(size_t i, int32_t label) {
  if (labels_.empty()) throw DataError("the space has no labels");
  space_.check_label(label);
  labels_[i] = label;
}

Dataset Dataset::slice(size_t begin, size_t end) const {
  std::vector<size_t> rows;
  rows.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) rows.push_back(i);
  return subset(rows);
}

Dataset Dataset::subset(const std::vector<size_t>& rows) const {
  Dataset out(space_);
  size_t total = 0;
  for (size_t i : rows) total += size_t(length(i));
  out.values_.reserve(total * size_t(width_));
  if (has_labels()) out.labels_.reserve(rows.size());
  for (size_t i : rows) {
    const size_t a = start(i) * size_t(width_);
    const size_t b = a + size_t(length(i)) * size_t(width_);
    out.values_.insert(out.values_.end(), values_.begin() + long(a), values_.begin() + long(b));
    if (has_labels()) out.labels_.push_back(labels_[i]);
    if (space_.variable_length()) out.offsets_.push_back(out.values_.size() / size_t(width_));
  }
  out.num_samples_ = rows.size();
  return out;
}

std::vector<size_t> Dataset::shuffle_order(size_t n, uint64_t seed) {
  Rng rng(seed, 0x5348554646ULL);
  std::vector<size_t> perm(n);
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  return perm;
}

void Dataset::shuffle(uint64_t seed) { *this = subset(shuffle_order(num_samples_, seed)); }

Dataset Dataset::split_tail(size_t count) {
  count = std::min(count, num_samples_);
  Dataset tail = slice(num_samples_ - count, num_samples_);
  *this = slice(0, num_samples_ - count);
  return tail;
}

size_t Dataset::memory_bytes() const {
  return values_.capacity() + labels_.capacity() * sizeof(int32_t) + offsets_.capacity() * sizeof(uint64_t);
}

namespace {

uint64_t fnv1a(uint64_t h, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    h ^= b[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The splitmix64 finaliser: a bijection that spreads every input bit.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t Dataset::fingerprint_part(uint64_t first_index) const {
  const size_t w = size_t(width_);
  uint64_t sum = 0;
  for (size_t i = 0; i < num_samples_; ++i) {
    const uint64_t len = uint64_t(length(i));
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, values_.data() + start(i) * w, size_t(len) * w);
    const int32_t l = label(i);
    h = fnv1a(h, &l, sizeof l);
    if (!offsets_.empty()) h = fnv1a(h, &len, sizeof len);
    sum += mix64(h ^ mix64(first_index + i));
  }
  return sum;
}

uint64_t Dataset::fingerprint_of(const Space& space, uint64_t n, uint64_t part_sum) {
  const std::string s = space.to_json().dump();
  return mix64(fnv1a(0xcbf29ce484222325ULL, s.data(), s.size()) ^ mix64(part_sum ^ mix64(n)));
}

uint64_t Dataset::fingerprint() const { return fingerprint_of(space_, num_samples_, fingerprint_part(0)); }

std::string Dataset::fingerprint_hex(uint64_t fingerprint) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)fingerprint);
  return buf;
}

DataView::DataView(const Dataset& d, size_t begin, size_t end) : data_(&d), begin_(begin), end_(end) {
  if (begin > end || end > d.size()) throw DataError("data view out of range");
}

DataView DataView::sub(size_t begin, size_t end) const {
  if (begin > end || end > size()) throw DataError("data view out of range");
  DataView v(*data_, begin_ + begin, begin_ + end);
  v.hide_labels_ = hide_labels_;
  return v;
}

}  // namespace dgm
