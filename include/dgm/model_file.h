// model_file.h — the .dgm model file. Layout (all integers little-endian):
//
//   magic      16 bytes  "dgm-model-v0002\n" (the format version is in it)
//   sanity     24 bytes  uint32 0x01020304, float 1.5f, double -0.125, uint64 0x0102030405060708
//   header     uint64 n, then n bytes of JSON (kind, space, config, dgm version,
//              training-data fingerprint, seed, metrics)
//   arrays     uint32 count, then per array: uint16 name length, name, uint8 dtype,
//              uint8 rank, uint64 extents[rank], uint64 checksum64 of its data,
//              zero bytes up to the next multiple of 64 from the file's start,
//              raw little-endian data
//   checksum   uint64 FNV-1a-64 of every byte before it that is not array data
//              (magic, sanity, header, the array directory with the arrays'
//              checksums, padding), then the 8 bytes "dgm-end\n"
//
// So every byte is covered by one checksum, and a file can be used in place:
// ModelReader::open maps it (mmap, no copy) and verifies at once only what is
// not array data (a few KB); an array's data is verified when it is first
// read (read() checks it before copying) or, for an array used in place
// (map()), by MappedArray::verify(), which the model calls before it uses
// the array for a result. Arrays start 64-byte aligned in the file.
// Version 1 files (no array checksums, no alignment; FNV-1a-64 of every byte)
// are still read, verified whole when opened.
//
// A file is written through AtomicFile (dgm/io/atomic_file.h: an unnamed
// temporary, fsync, link and rename), so a failed or interrupted write never
// leaves a broken model or a temporary file and never replaces a good one.
// Reading distinguishes: not a dgm model file; truncated or corrupted (checksum);
// written by a newer format version.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dgm {

class Dataset;
class Model;
class Space;
struct TrainState;
using json = nlohmann::json;

constexpr uint32_t kModelFormatVersion = 2;
// Largest model file read (checked against the file size before reading).
constexpr uint64_t kMaxModelFileBytes = uint64_t(8) << 30;

enum class DType : uint8_t { kU8 = 1, kI32 = 2, kI64 = 3, kU32 = 4, kU64 = 5, kF32 = 6, kF64 = 7, kU16 = 8 };

// The checksum of array data: a four-lane 64-bit multiply-rotate hash (the
// rounds of xxHash64), about memory speed. Every round is a bijection of the
// lane and of the word, so any change confined to one 8-byte word (any one
// changed byte) always changes the result.
uint64_t checksum64(const void* data, size_t n);

// For tests and fuzzers that edit a file on purpose: `body` is a model file
// without its last 16 bytes; returns it with every array checksum that the
// structure still lets one find recomputed, and a new trailer.
std::string seal_model_file(const std::string& body);

// An array used in place (ModelReader::map): the bytes stay valid while the
// MappedArray or a copy of it lives, whatever happens to the reader.
class MappedArray {
 public:
  MappedArray() = default;
  template <typename T>
  const T* as() const { return static_cast<const T*>(data_); }
  uint64_t bytes() const { return bytes_; }
  // FormatError (naming the file and the array) unless the bytes match their
  // checksum; nothing when they were verified already (the reader was parsed
  // from memory, or the array was copied into place). Costs one pass over the bytes.
  void verify() const;
  bool verified() const { return verified_; }

 private:
  friend class ModelReader;
  const void* data_ = nullptr;
  uint64_t bytes_ = 0;
  uint64_t checksum_ = 0;
  bool verified_ = true;
  std::string file_, name_;
  std::shared_ptr<const void> keep_;
};

class ModelWriter {
 public:
  json& header() { return header_; }
  const json& header() const { return header_; }

  // Adds an array; `shape` is metadata that load() checks (its product must be
  // the element count). Names are unique.
  void add(const std::string& name, const uint8_t* p, std::vector<uint64_t> shape);
  void add(const std::string& name, const uint16_t* p, std::vector<uint64_t> shape);
  void add(const std::string& name, const int32_t* p, std::vector<uint64_t> shape);
  void add(const std::string& name, const int64_t* p, std::vector<uint64_t> shape);
  void add(const std::string& name, const uint32_t* p, std::vector<uint64_t> shape);
  void add(const std::string& name, const uint64_t* p, std::vector<uint64_t> shape);
  void add(const std::string& name, const float* p, std::vector<uint64_t> shape);
  void add(const std::string& name, const double* p, std::vector<uint64_t> shape);
  template <typename T>
  void add(const std::string& name, const std::vector<T>& v) {
    add(name, v.data(), {uint64_t(v.size())});
  }

  // Adds an array that is not copied: the caller keeps the `shape` product
  // of elements at p valid and unchanged until the writer is written or gone
  // (for large tables, so that saving does not hold them twice).
  void add_external(const std::string& name, const uint64_t* p, std::vector<uint64_t> shape);

  // The complete file as bytes.
  std::string serialize() const;
  // Writes atomically through AtomicFile. IoError names the path.
  void write(const std::string& path) const;

 private:
  struct Array {
    std::string name;
    DType dtype;
    std::vector<uint64_t> shape;
    std::string bytes;
    const char* external;  // add_external: the data, not copied (bytes empty)
    size_t external_size;
  };
  // The file in order, piece by piece.
  void emit(const std::function<void(const char*, size_t)>& sink) const;
  void add_raw(const std::string& name, DType dt, size_t elem, const void* p, std::vector<uint64_t> shape);
  json header_ = json::object();
  std::vector<Array> arrays_;
};

class ModelReader {
 public:
  // Maps a file (no copy) and verifies its structure and everything but the
  // array data; each array's data is verified when read or mapped-and-verified
  // (see the layout above). IoError / FormatError name the path.
  static ModelReader open(const std::string& path);
  // Verifies bytes already in memory, all of them; `name` is used in messages.
  static ModelReader parse(const std::string& bytes, const std::string& name);

  const json& header() const { return header_; }
  const std::string& name() const { return name_; }
  // Verifies every array's data now (one pass over the file; nothing when
  // parsed from memory): FormatError "corrupted" naming the first bad array.
  void verify() const;
  bool has(const std::string& array) const { return arrays_.count(array) > 0; }
  std::vector<uint64_t> shape(const std::string& array) const;

  // Copies an array into out, which has room for the product of `shape`
  // elements; FormatError if it is missing or its dtype or shape differ.
  void read(const std::string& array, uint8_t* out, const std::vector<uint64_t>& shape) const;
  void read(const std::string& array, uint16_t* out, const std::vector<uint64_t>& shape) const;
  void read(const std::string& array, int32_t* out, const std::vector<uint64_t>& shape) const;
  void read(const std::string& array, int64_t* out, const std::vector<uint64_t>& shape) const;
  void read(const std::string& array, uint32_t* out, const std::vector<uint64_t>& shape) const;
  void read(const std::string& array, uint64_t* out, const std::vector<uint64_t>& shape) const;
  void read(const std::string& array, float* out, const std::vector<uint64_t>& shape) const;
  void read(const std::string& array, double* out, const std::vector<uint64_t>& shape) const;
  // The array in place, not copied and (from open()) not yet verified: call
  // verify() before its bytes reach a result. FormatError if it is missing or
  // its dtype or shape differ. Version 1 files: a verified aligned copy.
  MappedArray map(const std::string& array, DType dtype, const std::vector<uint64_t>& shape) const;
  // A one-dimensional array of any length (checked against `max_elements`).
  template <typename T>
  std::vector<T> read_vector(const std::string& array, uint64_t max_elements) const {
    auto s = shape(array);
    uint64_t n = 1;
    for (auto e : s) n *= e;
    check_count(array, n, max_elements);
    std::vector<T> v(n);
    read(array, v.data(), s);
    return v;
  }

 private:
  struct Array {
    DType dtype;
    std::vector<uint64_t> shape;
    size_t offset, size;  // into the bytes
    uint64_t checksum;
  };
  struct Bytes;  // the file's bytes: a mapping or a buffer
  static ModelReader parse_bytes(std::shared_ptr<const Bytes> bytes, const std::string& name, bool verify_arrays);
  const Array& find(const std::string& array, DType dt, const std::vector<uint64_t>& shape) const;
  void read_raw(const std::string& array, DType dt, size_t elem, void* out, const std::vector<uint64_t>& shape) const;
  void check_count(const std::string& array, uint64_t n, uint64_t max_elements) const;
  std::string name_;
  std::shared_ptr<const Bytes> bytes_;
  bool arrays_verified_ = true;  // false: open() mapped the file, array data unchecked
  uint32_t version_ = kModelFormatVersion;
  json header_;
  std::map<std::string, Array> arrays_;
};

// Stores a dataset as arrays "<prefix>.values" (its raw little-endian values),
// "<prefix>.lengths" (sequences) and "<prefix>.labels" (labeled spaces), and
// reads it back, checking every value against the space (FormatError).
void add_dataset(ModelWriter& w, const std::string& prefix, const Dataset& d);
Dataset read_dataset_arrays(const ModelReader& r, const std::string& prefix, const Space& space);

// Stores the state of an unfinished fit (a checkpoint) as header "train_state"
// (loop, counters, the list of arrays) and arrays "state.<name>"; reads it
// back, checking every listed array (FormatError). has_train_state() says
// whether a file holds one.
void add_train_state(ModelWriter& w, const TrainState& s);
bool has_train_state(const ModelReader& r);
TrainState read_train_state(const ModelReader& r);

// Saves a fitted model with its header: `info` (config, fingerprint, seed,
// metrics...) is merged into the header next to kind, space and versions.
// With `state`, the file is also a checkpoint to resume from (add_train_state).
void save_model(const std::string& path, const Model& model, const json& info, const TrainState* state = nullptr);
// The header such a file holds (format, versions, kind, space, `info`,
// describe(), the codec), without serialising anything: `dgm info --json`.
json model_header(const Model& model, const json& info);
// The same as a writer, not yet written (e.g. for stdout: serialize()).
ModelWriter model_writer(const Model& model, const json& info, const TrainState* state = nullptr);
// Loads any registered model; FormatError for an unknown kind or bad file.
std::unique_ptr<Model> load_model(const std::string& path, json* header = nullptr);
std::unique_ptr<Model> load_model(const ModelReader& reader);

}  // namespace dgm
