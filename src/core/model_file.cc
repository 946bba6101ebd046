// model_file.cc — writing and verifying .dgm files (layout in model_file.h).
// Verification order: size, checksum trailer, magic, version, sanity, header,
// arrays — so that any changed byte is reported as corruption, a foreign file
// as "not a dgm model file", and a newer file as needing a newer dgm.
#include "dgm/model_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
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

uint64_t fnv1a64(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
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
  Array a{name, dt, std::move(shape), std::string(static_cast<const char*>(p), size_t(n) * elem)};
  arrays_.push_back(std::move(a));
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

std::string ModelWriter::serialize() const {
  std::string out = magic_for(kModelFormatVersion);
  out += sanity_block();
  const std::string header = header_.dump();
  put_le<uint64_t>(out, header.size());
  out += header;
  put_le<uint32_t>(out, uint32_t(arrays_.size()));
  for (const auto& a : arrays_) {
    put_le<uint16_t>(out, uint16_t(a.name.size()));
    out += a.name;
    out.push_back(char(a.dtype));
    out.push_back(char(a.shape.size()));
    for (auto e : a.shape) put_le<uint64_t>(out, e);
    out += a.bytes;
  }
  put_le<uint64_t>(out, fnv1a64(out.data(), out.size()));
  out += std::string(kTrailer, 8);
  return out;
}

// The one atomic writer (atomic_file.h): unnamed temporary, fsync, link, rename.
void ModelWriter::write(const std::string& path) const { write_file_atomically(path, serialize()); }

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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open model file: " + std::strerror(errno));
  std::string bytes(size_t(st.st_size), '\0');
  in.read(&bytes[0], std::streamsize(bytes.size()));
  if (size_t(in.gcount()) != bytes.size()) throw IoError(path + ": cannot read model file");
  return parse(bytes, path);
}

ModelReader ModelReader::parse(const std::string& bytes, const std::string& name) {
  const size_t n = bytes.size();
  const size_t min_size = kMagicSize + kSanitySize + 8 + 4 + 16;
  const bool dgm_prefix = n >= 4 && bytes.compare(0, 4, "dgm-") == 0;
  // A file that neither starts like a dgm model nor ends like one is foreign.
  const bool dgm_trailer = n >= 8 && bytes.compare(n - 8, 8, kTrailer, 8) == 0;
  size_t prefix_match = 0;
  for (size_t i = 0; i < std::min<size_t>(n, 11); ++i) prefix_match += bytes[i] == kMagicPrefix[i];
  if (!dgm_trailer && prefix_match < 10)
    throw FormatError(name + ": not a dgm model file");
  if (n < min_size) throw FormatError(name + ": truncated model file (" + std::to_string(n) + " bytes)");
  if (!dgm_trailer) throw FormatError(name + ": truncated or corrupted model file (no end marker)");
  const uint64_t stored = get_le<uint64_t>(bytes, n - 16);
  if (stored != fnv1a64(bytes.data(), n - 16))
    throw FormatError(name + ": corrupted model file (checksum mismatch)");
  (void)dgm_prefix;
  if (bytes.compare(0, 11, kMagicPrefix) != 0 || bytes[15] != '\n') throw FormatError(name + ": not a dgm model file");
  uint32_t version = 0;
  for (int i = 11; i < 15; ++i) {
    if (bytes[size_t(i)] < '0' || bytes[size_t(i)] > '9') throw FormatError(name + ": not a dgm model file");
    version = version * 10 + uint32_t(bytes[size_t(i)] - '0');
  }
  if (version > kModelFormatVersion)
    throw FormatError(name + ": model format version " + std::to_string(version) + " is newer than this dgm reads (" +
                      std::to_string(kModelFormatVersion) + "): upgrade dgm");
  if (version < 1) throw FormatError(name + ": model format version 0 is no longer readable: retrain the model");
  if (bytes.compare(kMagicSize, kSanitySize, sanity_block()) != 0)
    throw FormatError(name + ": model file written on a machine with another byte order or float format");

  ModelReader r;
  r.name_ = name;
  const size_t end = n - 16;
  size_t pos = kMagicSize + kSanitySize;
  auto need = [&](uint64_t k, const char* what) {
    if (k > end - pos) throw FormatError(name + ": corrupted model file (" + what + " runs past the end)");
  };
  need(8, "header length");
  const uint64_t hlen = get_le<uint64_t>(bytes, pos);
  pos += 8;
  if (hlen > kMaxHeaderBytes) throw FormatError(name + ": corrupted model file (header of " + std::to_string(hlen) + " bytes)");
  need(hlen, "header");
  // The checksum held, yet the header may be made to crash a parser (nested
  // 100,000 deep) or to mislead (a key twice): parse_json refuses both.
  r.header_ = parse_json(std::string_view(bytes).substr(pos, size_t(hlen)), name + ": bad model header");
  if (!r.header_.is_object()) throw FormatError(name + ": corrupted model file (header is not an object)");
  pos += hlen;
  need(4, "array count");
  const uint32_t count = get_le<uint32_t>(bytes, pos);
  pos += 4;
  if (count > kMaxArrays) throw FormatError(name + ": corrupted model file (" + std::to_string(count) + " arrays)");
  for (uint32_t a = 0; a < count; ++a) {
    need(2, "array name");
    const uint16_t len = get_le<uint16_t>(bytes, pos);
    pos += 2;
    need(len + 2u, "array name");
    std::string aname = bytes.substr(pos, len);
    pos += len;
    const DType dt = DType(uint8_t(bytes[pos]));
    const uint8_t rank = uint8_t(bytes[pos + 1]);
    pos += 2;
    if (dtype_size(dt) == 0 || rank > 8)
      throw FormatError(name + ": corrupted model file (array '" + aname + "' has a bad type or rank)");
    need(8u * rank, "array shape");
    std::vector<uint64_t> shape(rank);
    uint64_t elems = 1;
    for (auto& e : shape) {
      e = get_le<uint64_t>(bytes, pos);
      pos += 8;
      if (e != 0 && elems > (uint64_t(1) << 62) / e)
        throw FormatError(name + ": corrupted model file (array '" + aname + "' is too large)");
      elems *= e;
    }
    if (elems > (end - pos) / dtype_size(dt))
      throw FormatError(name + ": corrupted model file (array '" + aname + "' runs past the end)");
    const size_t size = size_t(elems) * dtype_size(dt);
    if (!r.arrays_.emplace(aname, Array{dt, shape, pos, size}).second)
      throw FormatError(name + ": corrupted model file (array '" + aname + "' appears twice)");
    pos += size;
  }
  if (pos != end) throw FormatError(name + ": corrupted model file (" + std::to_string(end - pos) + " stray bytes)");
  r.bytes_ = std::make_shared<const std::string>(bytes);
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

void ModelReader::read_raw(const std::string& array, DType dt, size_t elem, void* out,
                           const std::vector<uint64_t>& shape) const {
  auto it = arrays_.find(array);
  if (it == arrays_.end()) throw FormatError(name_ + ": model file has no array '" + array + "'");
  const Array& a = it->second;
  if (a.dtype != dt)
    throw FormatError(name_ + ": array '" + array + "' has type " + dtype_name(a.dtype) + ", expected " + dtype_name(dt));
  if (a.shape != shape)
    throw FormatError(name_ + ": array '" + array + "' has shape " + shape_str(a.shape) + ", expected " +
                      shape_str(shape));
  (void)elem;
  if (a.size) std::memcpy(out, bytes_->data() + a.offset, a.size);
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

ModelWriter model_writer(const Model& model, const json& info, const TrainState* state) {
  ModelWriter w;
  json& h = w.header();
  h["format"] = "dgm-model";
  h["format_version"] = kModelFormatVersion;
  h["dgm_version"] = DGM_VERSION;
  h["kind"] = model.kind();
  h["space"] = model.space().to_json();
  for (auto it = info.begin(); it != info.end(); ++it) h[it.key()] = it.value();
  h["describe"] = model.describe();
  if (model.codec()) {
    h["codec"] = model.codec()->to_json();
    model.codec()->save(w);
  }
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
