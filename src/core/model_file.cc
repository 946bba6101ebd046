// model_file.cc — writing and verifying .dgm files (layout in model_file.h).
// Verification order: size, end marker, a newer version (of an intact file), the structure and the
// directory checksum, magic, sanity, header, array checksums — so that any
// changed byte is reported as corruption, a foreign file as "not a dgm model
// file", and a newer file as needing a newer dgm.
#include "dgm/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dgm/config.h"
#include "dgm/dataset.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/atomic_file.h"
#include "dgm/model.h"

namespace dgm {
namespace {

constexpr char kMagicPrefix[] = "dgm-model-v";  // followed by 4 decimal digits and '\n'
constexpr size_t kMagicSize = 16;
constexpr char kTrailer[] = "dgm-end\n";
constexpr size_t kSanitySize = 24;
constexpr uint64_t kMaxHeaderBytes = 64u << 20;
constexpr uint32_t kMaxArrays = 1u << 16;

std::string magic_for(uint32_t version) {
  char buf[kMagicSize + 1];
  std::snprintf(buf, sizeof buf, "%s%04u\n", kMagicPrefix, unsigned(version % 10000));
  return std::string(buf, kMagicSize);
}

constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;
constexpr size_t kAlign = 64;  // array data starts at a multiple of this (version 2)

uint64_t fnv1a64(const char* p, size_t n, uint64_t h = kFnvBasis) {
  for (size_t i = 0; i < n; ++i) {
    h ^= uint8_t(p[i]);
    h *= 0x100000001b3ULL;
  }
  return h;
}

template <typename T>
void put_le(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(char((uint64_t(v) >> (8 * i)) & 0xff));
}

template <typename T>
T get_le(const std::string& b, size_t pos) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t(uint8_t(b[pos + i])) << (8 * i);
  return T(v);
}

std::string sanity_block() {
  std::string s;
  put_le<uint32_t>(s, 0x01020304u);
  float f = 1.5f;
  uint32_t fb;
  std::memcpy(&fb, &f, 4);
  put_le<uint32_t>(s, fb);
  double d = -0.125;
  uint64_t db;
  std::memcpy(&db, &d, 8);
  put_le<uint64_t>(s, db);
  put_le<uint64_t>(s, 0x0102030405060708ULL);
  return s;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kU8: return 1;
    case DType::kU16: return 2;
    case DType::kI32: case DType::kU32: case DType::kF32: return 4;
    case DType::kI64: case DType::kU64: case DType::kF64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kU8: return "u8";
    case DType::kU16: return "u16";
    case DType::kI32: return "i32";
    case DType::kU32: return "u32";
    case DType::kF32: return "f32";
    case DType::kI64: return "i64";
    case DType::kU64: return "u64";
    case DType::kF64: return "f64";
  }
  return "?";
}

std::string shape_str(const std::vector<uint64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + ")";
}

// Host values are little-endian on every platform dgm builds for (checked by
// the sanity block on read); copy bytes as they are.
static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE-754 floats expected");

}  // namespace

void ModelWriter::add_raw(const std::string& name, DType dt, size_t elem, const void* p, std::vector<uint64_t> shape) {
  for (const auto& a : arrays_)
    if (a.name == name) throw Error("model array '" + name + "' added twice");
  if (name.empty() || name.size() > 1024) throw Error("model array name must have 1..1024 characters");
  uint64_t n = 1;
  for (auto e : shape) n *= e;
  Array a{name, dt, std::move(shape), std::string(static_cast<const char*>(p), size_t(n) * elem), nullptr, 0};
  arrays_.push_back(std::move(a));
}

void ModelWriter::add_external(const std::string& name, const uint64_t* p, std::vector<uint64_t> shape) {
  add_raw(name, DType::kU64, 8, p, {0});
  uint64_t n = 1;
  for (auto e : shape) n *= e;
  Array& a = arrays_.back();
  a.shape = std::move(shape);
  a.external = reinterpret_cast<const char*>(p);
  a.external_size = size_t(n) * 8;
}

#define DGM_WRITER_ADD(T, DT) \
  void ModelWriter::add(const std::string& name, const T* p, std::vector<uint64_t> shape) { \
    add_raw(name, DT, sizeof(T), p, std::move(shape)); \
  }
DGM_WRITER_ADD(uint8_t, DType::kU8)
DGM_WRITER_ADD(uint16_t, DType::kU16)
DGM_WRITER_ADD(int32_t, DType::kI32)
DGM_WRITER_ADD(int64_t, DType::kI64)
DGM_WRITER_ADD(uint32_t, DType::kU32)
DGM_WRITER_ADD(uint64_t, DType::kU64)
DGM_WRITER_ADD(float, DType::kF32)
DGM_WRITER_ADD(double, DType::kF64)
#undef DGM_WRITER_ADD

void ModelWriter::emit(const std::function<void(const char*, size_t)>& sink) const {
  // The directory bytes are gathered in `out` and handed on before each
  // array's data, which is handed on from where it lies.
  std::string out = magic_for(kModelFormatVersion);
  out += sanity_block();
  const std::string header = header_.dump();
  put_le<uint64_t>(out, header.size());
  out += header;
  put_le<uint32_t>(out, uint32_t(arrays_.size()));
  // The trailer's FNV-1a covers every byte that is not array data.
  uint64_t h = kFnvBasis;
  uint64_t at = 0;  // bytes handed on so far
  for (const auto& a : arrays_) {
    const char* data = a.external ? a.external : a.bytes.data();
    const size_t size = a.external ? a.external_size : a.bytes.size();
    put_le<uint16_t>(out, uint16_t(a.name.size()));
    out += a.name;
    out.push_back(char(a.dtype));
    out.push_back(char(a.shape.size()));
    for (auto e : a.shape) put_le<uint64_t>(out, e);
    put_le<uint64_t>(out, checksum64(data, size));
    const size_t pad = (kAlign - (at + out.size() + 1) % kAlign) % kAlign;
    out.push_back(char(pad));
    out.append(pad, '\0');
    h = fnv1a64(out.data(), out.size(), h);
    sink(out.data(), out.size());
    at += out.size();
    out.clear();
    if (size) sink(data, size);
    at += size;
  }
  put_le<uint64_t>(out, fnv1a64(out.data(), out.size(), h));
  out += std::string(kTrailer, 8);
  sink(out.data(), out.size());
}

std::string ModelWriter::serialize() const {
  std::string out;
  emit([&](const char* p, size_t n) { out.append(p, n); });
  return out;
}

// The one atomic writer (atomic_file.h): unnamed temporary, fsync, link, rename.
// The file is streamed to it, never held whole in memory.
void ModelWriter::write(const std::string& path) const {
  AtomicFile f(path);
  emit([&](const char* p, size_t n) { f.write(p, n); });
  f.commit();
}

uint64_t checksum64(const void* data, size_t n) {
  constexpr uint64_t P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL, P3 = 0x165667B19E3779F9ULL;
  auto rotl = [](uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto round = [&](uint64_t v, uint64_t w) { return rotl(v + w * P2, 31) * P1; };
  const char* p = static_cast<const char*>(data);
  uint64_t v0 = P1 + P2, v1 = P2, v2 = 0, v3 = 0 - P1;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, p + i, 32);
    v0 = round(v0, w[0]);
    v1 = round(v1, w[1]);
    v2 = round(v2, w[2]);
    v3 = round(v3, w[3]);
  }
  // Each lane enters through a bijection, so the result is injective in each lane.
  uint64_t h = uint64_t(n) * P3;
  for (uint64_t v : {v0, v1, v2, v3}) h = rotl(h ^ round(0, v), 27) * P1 + P3;
  for (; i < n; ++i) h = rotl(h ^ (uint64_t(uint8_t(p[i])) * P3), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

struct ModelReader::Bytes {
  const char* data = nullptr;
  size_t size = 0;
  std::string owned;
  void* map = nullptr;
  size_t map_size = 0;
  Bytes() = default;
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;
  ~Bytes() {
    if (map) ::munmap(map, map_size);
  }
};

namespace {

// One array's place in a file.
struct ArrayPlace {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  size_t checksum_pos = 0;  // v2: where its checksum is stored
  uint64_t checksum = 0;
  size_t data_pos = 0, data_size = 0;
};

// Where the header and arrays of a file body b[0, end) lie, for format
// `version` (1: no checksums, no padding). Every claim is checked against the
// bytes there; FormatError "corrupted model file (...)" otherwise.
struct Layout {
  size_t header_pos = 0;
  uint64_t header_len = 0;
  std::vector<ArrayPlace> arrays;
};

Layout walk(const char* b, size_t end, uint32_t version, const std::string& name) {
  Layout L;
  size_t pos = kMagicSize + kSanitySize;
  auto need = [&](uint64_t k, const char* what) {
    if (pos > end || k > end - pos) throw FormatError(name + ": corrupted model file (" + what + " runs past the end)");
  };
  auto le = [&](size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(b[at + size_t(i)])) << (8 * i);
    return v;
  };
  need(8, "header length");
  L.header_len = le(pos, 8);
  pos += 8;
  if (L.header_len > kMaxHeaderBytes)
    throw FormatError(name + ": corrupted model file (header of " + std::to_string(L.header_len) + " bytes)");
  need(L.header_len, "header");
  L.header_pos = pos;
  pos += size_t(L.header_len);
  need(4, "array count");
  const uint32_t count = uint32_t(le(pos, 4));
  pos += 4;
  if (count > kMaxArrays) throw FormatError(name + ": corrupted model file (" + std::to_string(count) + " arrays)");
  for (uint32_t a = 0; a < count; ++a) {
    ArrayPlace p;
    need(2, "array name");
    const size_t len = size_t(le(pos, 2));
    pos += 2;
    need(len + 2u, "array name");
    p.name.assign(b + pos, len);
    pos += len;
    p.dtype = DType(uint8_t(b[pos]));
    const uint8_t rank = uint8_t(b[pos + 1]);
    pos += 2;
    if (dtype_size(p.dtype) == 0 || rank > 8)
      throw FormatError(name + ": corrupted model file (array '" + p.name + "' has a bad type or rank)");
    need(8u * rank, "array shape");
    p.shape.resize(rank);
    uint64_t elems = 1;
    for (auto& e : p.shape) {
      e = le(pos, 8);
      pos += 8;
      if (e != 0 && elems > (uint64_t(1) << 62) / e)
        throw FormatError(name + ": corrupted model file (array '" + p.name + "' is too large)");
      elems *= e;
    }
    if (version >= 2) {
      need(9, "array checksum");
      p.checksum_pos = pos;
      p.checksum = le(pos, 8);
      const size_t pad = uint8_t(b[pos + 8]);
      pos += 9;
      if (pad >= kAlign) throw FormatError(name + ": corrupted model file (array '" + p.name + "' has bad padding)");
      need(pad, "array padding");
      pos += pad;
    }
    if (pos > end || elems > (end - pos) / dtype_size(p.dtype))
      throw FormatError(name + ": corrupted model file (array '" + p.name + "' runs past the end)");
    p.data_pos = pos;
    p.data_size = size_t(elems) * dtype_size(p.dtype);
    pos += p.data_size;
    L.arrays.push_back(std::move(p));
  }
  if (pos != end) throw FormatError(name + ": corrupted model file (" + std::to_string(end - pos) + " stray bytes)");
  return L;
}

// FNV-1a-64 of b[0, end) without the arrays' data.
uint64_t directory_checksum(const char* b, size_t end, const Layout& L) {
  uint64_t h = kFnvBasis;
  size_t at = 0;
  for (const auto& a : L.arrays) {
    h = fnv1a64(b + at, a.data_pos - at, h);
    at = a.data_pos + a.data_size;
  }
  return fnv1a64(b + at, end - at, h);
}

// The version in the magic, or 0 when the magic is not a dgm model's.
uint32_t magic_version(const char* b, size_t n) {
  if (n < kMagicSize || std::memcmp(b, kMagicPrefix, 11) != 0 || b[15] != '\n') return 0;
  uint32_t v = 0;
  for (int i = 11; i < 15; ++i) {
    if (b[i] < '0' || b[i] > '9') return 0;
    v = v * 10 + uint32_t(b[i] - '0');
  }
  return v;
}

}  // namespace

std::string seal_model_file(const std::string& body) {
  std::string out = body;
  uint64_t h = fnv1a64(out.data(), out.size());
  if (magic_version(out.data(), out.size()) != 1) {
    try {
      const Layout L = walk(out.data(), out.size(), 2, "seal");
      for (const auto& a : L.arrays) {
        const uint64_t c = checksum64(out.data() + a.data_pos, a.data_size);
        for (int i = 0; i < 8; ++i) out[a.checksum_pos + size_t(i)] = char((c >> (8 * i)) & 0xff);
      }
      h = directory_checksum(out.data(), out.size(), L);
    } catch (const FormatError&) {
      // Not walkable: the reader reports the structure before the checksum.
    }
  }
  put_le<uint64_t>(out, h);
  return out + std::string(kTrailer, 8);
}

void MappedArray::verify() const {
  if (verified_) return;
  if (checksum64(data_, bytes_) != checksum_)
    throw FormatError(file_ + ": corrupted model file (checksum of array '" + name_ + "' does not match)");
}

ModelReader ModelReader::open(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw IoError(path + ": cannot open model file: " + std::strerror(errno) +
                  " (train one with 'dgm train --config FILE', or pass --model)");
  if (S_ISDIR(st.st_mode)) throw IoError(path + ": is a directory, not a model file");
  if (uint64_t(st.st_size) > kMaxModelFileBytes)
    throw FormatError(path + ": " + std::to_string(st.st_size) + " bytes is larger than any dgm model file");
  if (uint64_t(st.st_size) > memory_budget() / 2)
    throw IoError(path + ": a model file of " + byte_size(uint64_t(st.st_size)) + " to load " +
                  over_budget(2 * uint64_t(st.st_size), memory_budget()));
  auto bytes = std::make_shared<Bytes>();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path + ": cannot open model file: " + std::strerror(errno));
  const size_t size = size_t(st.st_size);
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) throw IoError(path + ": cannot map model file: " + std::strerror(err));
    bytes->map = p;
    bytes->map_size = size;
    bytes->data = static_cast<const char*>(p);
    bytes->size = size;
  } else {
    ::close(fd);
  }
  return parse_bytes(std::move(bytes), path, false);
}

ModelReader ModelReader::parse(const std::string& data, const std::string& name) {
  auto bytes = std::make_shared<Bytes>();
  bytes->owned = data;
  bytes->data = bytes->owned.data();
  bytes->size = bytes->owned.size();
  return parse_bytes(std::move(bytes), name, true);
}

ModelReader ModelReader::parse_bytes(std::shared_ptr<const Bytes> file, const std::string& name, bool verify_arrays) {
  const char* b = file->data;
  const size_t n = file->size;
  auto starts = [&](size_t at, const char* s, size_t len) { return n >= at + len && std::memcmp(b + at, s, len) == 0; };
  const size_t min_size = kMagicSize + kSanitySize + 8 + 4 + 16;
  // A file that neither starts like a dgm model nor ends like one is foreign.
  const bool dgm_trailer = n >= 8 && std::memcmp(b + n - 8, kTrailer, 8) == 0;
  size_t prefix_match = 0;
  for (size_t i = 0; i < std::min<size_t>(n, 11); ++i) prefix_match += b[i] == kMagicPrefix[i];
  if (!dgm_trailer && prefix_match < 10) throw FormatError(name + ": not a dgm model file");
  if (n < min_size) throw FormatError(name + ": truncated model file (" + std::to_string(n) + " bytes)");
  if (!dgm_trailer) throw FormatError(name + ": truncated or corrupted model file (no end marker)");
  const size_t end = n - 16;
  const uint64_t stored = get_le<uint64_t>(std::string(b + end, 8), 0);
  uint32_t version = magic_version(b, n);
  if (version > kModelFormatVersion) {
    // Newer only if the file is intact under a rule this dgm knows (a
    // version 1 or 2 trailer); otherwise a changed digit is corruption.
    bool intact = stored == fnv1a64(b, end);
    if (!intact) {
      try {
        intact = stored == directory_checksum(b, end, walk(b, end, 2, name));
      } catch (const FormatError&) {
      }
    }
    if (!intact)
      throw FormatError(name + ": corrupted model file (checksum mismatch; its magic says format version " +
                        std::to_string(version) + ")");
    throw FormatError(name + ": model format version " + std::to_string(version) + " is newer than this dgm reads (" +
                      std::to_string(kModelFormatVersion) + "): upgrade dgm");
  }
  // Version 1 (or an unreadable magic on a file sealed whole): every byte checksummed.
  Layout L;
  bool whole = false;
  if (version == 1 || version == 0) whole = stored == fnv1a64(b, end);
  if (version == 1 && !whole) throw FormatError(name + ": corrupted model file (checksum mismatch)");
  if (!whole) {
    L = walk(b, end, 2, name);
    if (stored != directory_checksum(b, end, L)) throw FormatError(name + ": corrupted model file (checksum mismatch)");
  }
  if (version == 0) throw FormatError(name + ": not a dgm model file");
  if (!starts(kMagicSize, sanity_block().data(), kSanitySize))
    throw FormatError(name + ": model file written on a machine with another byte order or float format");
  if (whole) L = walk(b, end, 1, name);

  ModelReader r;
  r.name_ = name;
  r.version_ = version;
  // The checksum held, yet the header may be made to crash a parser (nested
  // 100,000 deep) or to mislead (a key twice): parse_json refuses both.
  r.header_ = parse_json(std::string_view(b + L.header_pos, size_t(L.header_len)), name + ": bad model header");
  if (!r.header_.is_object()) throw FormatError(name + ": corrupted model file (header is not an object)");
  for (const auto& a : L.arrays) {
    if (version >= 2 && verify_arrays && checksum64(b + a.data_pos, a.data_size) != a.checksum)
      throw FormatError(name + ": corrupted model file (checksum of array '" + a.name + "' does not match)");
    if (!r.arrays_.emplace(a.name, Array{a.dtype, a.shape, a.data_pos, a.data_size, a.checksum}).second)
      throw FormatError(name + ": corrupted model file (array '" + a.name + "' appears twice)");
  }
  r.arrays_verified_ = verify_arrays || version == 1;
  r.bytes_ = std::move(file);
  return r;
}

std::vector<uint64_t> ModelReader::shape(const std::string& array) const {
  auto it = arrays_.find(array);
  if (it == arrays_.end()) throw FormatError(name_ + ": model file has no array '" + array + "'");
  return it->second.shape;
}

void ModelReader::check_count(const std::string& array, uint64_t n, uint64_t max_elements) const {
  if (n > max_elements)
    throw FormatError(name_ + ": array '" + array + "' has " + std::to_string(n) + " elements, at most " +
                      std::to_string(max_elements) + " expected");
}

const ModelReader::Array& ModelReader::find(const std::string& array, DType dt, const std::vector<uint64_t>& shape) const {
  auto it = arrays_.find(array);
  if (it == arrays_.end()) throw FormatError(name_ + ": model file has no array '" + array + "'");
  const Array& a = it->second;
  if (a.dtype != dt)
    throw FormatError(name_ + ": array '" + array + "' has type " + dtype_name(a.dtype) + ", expected " + dtype_name(dt));
  if (a.shape != shape)
    throw FormatError(name_ + ": array '" + array + "' has shape " + shape_str(a.shape) + ", expected " +
                      shape_str(shape));
  return a;
}

void ModelReader::read_raw(const std::string& array, DType dt, size_t elem, void* out,
                           const std::vector<uint64_t>& shape) const {
  const Array& a = find(array, dt, shape);
  (void)elem;
  const char* p = bytes_->data + a.offset;
  // Checked while copied (open() left the data unverified).
  if (!arrays_verified_ && checksum64(p, a.size) != a.checksum)
    throw FormatError(name_ + ": corrupted model file (checksum of array '" + array + "' does not match)");
  if (a.size) std::memcpy(out, p, a.size);
}

void ModelReader::verify() const {
  if (arrays_verified_) return;
  for (const auto& [array, a] : arrays_)
    if (checksum64(bytes_->data + a.offset, a.size) != a.checksum)
      throw FormatError(name_ + ": corrupted model file (checksum of array '" + array + "' does not match)");
}

MappedArray ModelReader::map(const std::string& array, DType dt, const std::vector<uint64_t>& shape) const {
  const Array& a = find(array, dt, shape);
  MappedArray m;
  m.file_ = name_;
  m.name_ = array;
  m.bytes_ = a.size;
  m.checksum_ = a.checksum;
  const char* p = bytes_->data + a.offset;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(dt) == 0) {
    m.data_ = p;
    m.keep_ = bytes_;
    m.verified_ = arrays_verified_;
  } else {
    // Unaligned (a version 1 file): an aligned copy, verified with the file.
    auto copy = std::make_shared<std::vector<uint64_t>>((a.size + 7) / 8);
    read_raw(array, dt, dtype_size(dt), copy->data(), shape);
    m.data_ = copy->data();
    m.keep_ = copy;
    m.verified_ = true;
  }
  return m;
}

#define DGM_READER_READ(T, DT) \
  void ModelReader::read(const std::string& array, T* out, const std::vector<uint64_t>& shape) const { \
    read_raw(array, DT, sizeof(T), out, shape); \
  }
DGM_READER_READ(uint8_t, DType::kU8)
DGM_READER_READ(uint16_t, DType::kU16)
DGM_READER_READ(int32_t, DType::kI32)
DGM_READER_READ(int64_t, DType::kI64)
DGM_READER_READ(uint32_t, DType::kU32)
DGM_READER_READ(uint64_t, DType::kU64)
DGM_READER_READ(float, DType::kF32)
DGM_READER_READ(double, DType::kF64)
#undef DGM_READER_READ

void add_dataset(ModelWriter& w, const std::string& prefix, const Dataset& d) {
  const uint64_t n = d.size();
  w.add(prefix + ".count", &n, {1});
  w.add(prefix + ".values", d.raw().data(), {uint64_t(d.raw().size())});
  if (d.space().variable_length()) {
    std::vector<uint64_t> lengths(d.size());
    for (size_t i = 0; i < d.size(); ++i) lengths[i] = uint64_t(d.length(i));
    w.add(prefix + ".lengths", lengths);
  }
  if (d.has_labels()) w.add(prefix + ".labels", d.labels());
}

Dataset read_dataset_arrays(const ModelReader& r, const std::string& prefix, const Space& space) {
  uint64_t n = 0;
  r.read(prefix + ".count", &n, {1});
  const int width = space.value_width();
  const uint64_t max_rows = Dataset::kMaxValues / uint64_t(std::max<int64_t>(1, space.dims()));
  if (n > max_rows) throw FormatError(r.name() + ": '" + prefix + "' claims " + std::to_string(n) + " samples");
  std::vector<uint64_t> lengths;
  uint64_t total = 0;
  if (space.variable_length()) {
    lengths = r.read_vector<uint64_t>(prefix + ".lengths", n);
    if (lengths.size() != n) throw FormatError(r.name() + ": '" + prefix + ".lengths' has the wrong size");
    for (uint64_t l : lengths) {
      if (l > uint64_t(space.dims())) throw FormatError(r.name() + ": '" + prefix + "' has a sequence too long");
      total += l;
    }
  } else {
    total = n * uint64_t(space.dims());
  }
  // The arrays' shapes are checked before anything is allocated from the
  // claimed count: the bytes must be in the file.
  const uint64_t value_bytes = total * uint64_t(width);
  if (r.shape(prefix + ".values") != std::vector<uint64_t>{value_bytes})
    throw FormatError(r.name() + ": array '" + prefix + ".values' has shape " + shape_str(r.shape(prefix + ".values")) +
                      ", expected (" + std::to_string(value_bytes) + ") for " + std::to_string(n) + " samples");
  if (space.has_labels() && r.shape(prefix + ".labels") != std::vector<uint64_t>{n})
    throw FormatError(r.name() + ": array '" + prefix + ".labels' has shape " + shape_str(r.shape(prefix + ".labels")) +
                      ", expected (" + std::to_string(n) + ")");
  std::vector<uint8_t> raw(static_cast<size_t>(value_bytes));
  r.read(prefix + ".values", raw.data(), {uint64_t(raw.size())});
  std::vector<int32_t> labels(size_t(n), -1);
  if (space.has_labels()) r.read(prefix + ".labels", labels.data(), {n});
  Dataset d(space);
  d.reserve(size_t(n), size_t(total));
  std::vector<int32_t> x(size_t(space.dims()));
  size_t k = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const size_t len = space.variable_length() ? size_t(lengths[i]) : size_t(space.dims());
    for (size_t j = 0; j < len; ++j, ++k) {
      uint32_t v = 0;
      std::memcpy(&v, &raw[k * size_t(width)], size_t(width));
      x[j] = int32_t(v);
    }
    try {
      d.push_back(x.data(), int64_t(len), labels[i]);
    } catch (const DataError& e) {
      throw FormatError(r.name() + ": '" + prefix + "' sample " + std::to_string(i + 1) + ": " + e.what());
    }
  }
  return d;
}

void add_train_state(ModelWriter& w, const TrainState& s) {
  json arrays = json::object();
  for (const auto& [name, v] : s.f64) {
    w.add("state." + name, v);
    arrays[name] = "f64";
  }
  for (const auto& [name, v] : s.f32) {
    w.add("state." + name, v);
    arrays[name] = "f32";
  }
  for (const auto& [name, v] : s.u64) {
    w.add("state." + name, v);
    arrays[name] = "u64";
  }
  w.header()["train_state"] = {
      {"loop", s.loop}, {"steps_done", s.steps_done}, {"position", s.position}, {"counters", s.counters},
      {"arrays", arrays}};
}

bool has_train_state(const ModelReader& r) { return r.header().contains("train_state"); }

TrainState read_train_state(const ModelReader& r) {
  const json& h = r.header();
  auto bad = [&](const std::string& what) { return FormatError(r.name() + ": bad training state: " + what); };
  if (!h.contains("train_state") || !h.at("train_state").is_object())
    throw FormatError(r.name() + ": holds no training state to resume from (it is not a checkpoint)");
  const json& j = h.at("train_state");
  TrainState s;
  if (!j.contains("loop") || !j.at("loop").is_string()) throw bad("no 'loop'");
  if (!j.contains("steps_done") || !j.at("steps_done").is_number_integer()) throw bad("no 'steps_done'");
  if (!j.contains("counters") || !j.at("counters").is_object()) throw bad("no 'counters'");
  if (!j.contains("arrays") || !j.at("arrays").is_object()) throw bad("no 'arrays'");
  s.loop = j.at("loop").get<std::string>();
  s.steps_done = j.at("steps_done").get<int64_t>();
  s.counters = j.at("counters");
  if (j.contains("position") && j.at("position").is_string()) s.position = j.at("position").get<std::string>();
  const uint64_t max_elements = kMaxModelFileBytes / 4;
  for (auto it = j.at("arrays").begin(); it != j.at("arrays").end(); ++it) {
    const std::string name = "state." + it.key();
    const std::string type = it.value().is_string() ? it.value().get<std::string>() : "";
    if (type == "f64") s.f64[it.key()] = r.read_vector<double>(name, max_elements);
    else if (type == "f32") s.f32[it.key()] = r.read_vector<float>(name, max_elements);
    else if (type == "u64") s.u64[it.key()] = r.read_vector<uint64_t>(name, max_elements);
    else throw bad("array '" + it.key() + "' has unknown type " + it.value().dump());
  }
  return s;
}

void save_model(const std::string& path, const Model& model, const json& info, const TrainState* state) {
  model_writer(model, info, state).write(path);
}

json model_header(const Model& model, const json& info) {
  json h;
  h["format"] = "dgm-model";
  h["format_version"] = kModelFormatVersion;
  h["dgm_version"] = DGM_VERSION;
  h["kind"] = model.kind();
  h["space"] = model.space().to_json();
  for (auto it = info.begin(); it != info.end(); ++it) h[it.key()] = it.value();
  h["describe"] = model.describe();
  if (model.codec()) h["codec"] = model.codec()->to_json();
  return h;
}

ModelWriter model_writer(const Model& model, const json& info, const TrainState* state) {
  ModelWriter w;
  w.header() = model_header(model, info);
  if (model.codec()) model.codec()->save(w);
  model.save(w);
  if (state) add_train_state(w, *state);
  return w;
}

std::unique_ptr<Model> load_model(const ModelReader& r) {
  const json& h = r.header();
  auto field = [&](const char* key) -> const json& {
    if (!h.contains(key)) throw FormatError(r.name() + ": model header has no '" + key + "'");
    return h.at(key);
  };
  if (!field("kind").is_string()) throw FormatError(r.name() + ": model header 'kind' is not a string");
  const std::string kind = field("kind").get<std::string>();
  bool known = false;
  for (const auto& k : model_kinds()) known |= kind == k.name;
  if (!known) {
    std::string list;
    for (const auto& k : model_kinds()) list += (list.empty() ? "" : ", ") + std::string(k.name);
    throw FormatError(r.name() + ": unknown model type '" + kind + "' (this dgm knows: " + list +
                      "); it may need a newer dgm");
  }
  Space space;
  json model_cfg, train_cfg;
  try {
    space = Space::from_json(field("space"));
    const json& cfg = field("config");
    if (!cfg.is_object()) throw FormatError(r.name() + ": bad model header: 'config' is not an object");
    model_cfg = cfg.contains("model") ? cfg.at("model") : json::object();
    train_cfg = cfg.contains("train") ? cfg.at("train") : json::object();
  } catch (const ConfigError& e) {
    throw FormatError(r.name() + ": bad model header: " + e.what());
  }
  // The model is made from 'kind' (what info reports); a config that names
  // another type contradicts it.
  if (!model_cfg.is_object()) throw FormatError(r.name() + ": bad model header: 'config.model' is not an object");
  if (model_cfg.contains("type") && model_cfg["type"] != json(kind))
    throw FormatError(r.name() + ": bad model header: kind '" + kind + "' but config.model.type " +
                      model_cfg["type"].dump().substr(0, 40));
  model_cfg["type"] = kind;
  std::unique_ptr<Model> m;
  try {
    m = create_model(space, model_cfg, train_cfg);
  } catch (const ConfigError& e) {
    // Too large for this machine's memory is not a bad file.
    if (std::string(e.what()).find("of memory available") != std::string::npos)
      throw IoError(r.name() + ": cannot load: " + e.what());
    throw FormatError(r.name() + ": bad model header: " + e.what());
  }
  // A header field of the wrong JSON type or a missing one (a model's load()
  // reads its own keys) is a bad file, not a crash.
  if (m->kind() != kind) throw FormatError(r.name() + ": bad model header: kind '" + kind + "' made a '" + m->kind() + "'");
  try {
    m->load(r);
    m->set_codec(load_codec(r));
  } catch (const json::exception& e) {
    std::string what = e.what();
    const size_t k = what.find("] ");
    if (k != std::string::npos) what = what.substr(k + 2);
    throw FormatError(r.name() + ": bad model header: " + what);
  }
  if (m->codec()) {
    try {
      m->codec()->check_space(m->space());
    } catch (const Error& e) {
      throw FormatError(r.name() + ": the codec does not fit the model's space: " + e.what());
    }
  }
  return m;
}

namespace {
std::unique_ptr<Model> load_model_unchecked(const std::string& path, json* header);
}  // namespace

std::unique_ptr<Model> load_model(const std::string& path, json* header) {
  try {
    return load_model_unchecked(path, header);
  } catch (const std::bad_alloc&) {
    throw IoError(input_name(path) + ": out of memory loading the model");
  }
}

namespace {
std::unique_ptr<Model> load_model_unchecked(const std::string& path, json* header) {
  // A foreign model format a kind imports (ARPA) is recognised by its first
  // bytes; everything else is read as a dgm model file. "-" reads stdin.
  std::string bytes;
  std::string head;
  const std::string name = input_name(path);
  if (path == "-") {
    bytes = read_whole_input("-", {std::min(kMaxModelFileBytes, memory_budget() / 2), nullptr, "model file"});
    head = bytes.substr(0, 4096);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      head.resize(4096);
      in.read(&head[0], std::streamsize(head.size()));
      head.resize(size_t(in.gcount()));
    }
  }
  if (head.compare(0, 4, "dgm-") != 0) {
    for (const auto& k : model_kinds()) {
      if (!k.recognises || !k.recognises(head)) continue;
      std::unique_ptr<Model> m;
      if (path == "-") {
        std::istringstream in(bytes);
        m = k.import(in, name, bytes.size());
      } else {
        std::ifstream in(path, std::ios::binary);
        std::error_code ec;
        const uint64_t size = std::filesystem::file_size(path, ec);
        if (!in || ec) throw IoError(path + ": cannot open: " + std::strerror(errno));
        m = k.import(in, name, size);
      }
      if (header) *header = json::object();
      return m;
    }
  }
  ModelReader r = path == "-" ? ModelReader::parse(bytes, name) : ModelReader::open(path);
  if (header) *header = r.header();
  return load_model(r);
}
}  // namespace

}  // namespace dgm
