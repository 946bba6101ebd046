// cifar.cc — the CIFAR-10 binary batch format (Krizhevsky, 2009): records of
// one label byte followed by the D image bytes in CHW order (3x32x32 = 3072 for
// CIFAR-10), generalised to any fixed shape with levels <= 256. The file size
// must be a whole number of records. When the space has no labels the label
// byte is checked (0..9, the CIFAR-10 classes) and dropped; written datasets
// without labels get label byte 0.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "dgm/io/atomic_file.h"
#include "formats.h"

namespace dgm::io {
namespace {

}  // namespace

void check_byte_space(const Space& space, const std::string& path) {
  if (space.variable_length() || space.levels() > 256)
    throw ConfigError(path + ": the format holds bytes of fixed-shape samples; the space " + space.describe() +
                      " does not fit");
}

void read_cifar(const std::string& path, ConfigSection&, Records& out) {
  const Space& space = out.data.space();
  check_byte_space(space, path);
  require_file(path);
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError(path + ": cannot read its size: " + ec.message());
  const uint64_t record = 1 + uint64_t(space.dims());
  if (size == 0) throw FormatError(path + ": empty file, expected CIFAR records of " + std::to_string(record) + " bytes");
  if (size % record != 0)
    throw FormatError(path + ": size " + std::to_string(size) + " bytes is not a multiple of the record size " +
                      std::to_string(record) + " (1 label byte + " + std::to_string(space.dims()) +
                      " values); wrong shape or truncated file");
  const uint64_t n = size / record;
  if (n * uint64_t(space.dims()) > Dataset::kMaxValues)
    throw FormatError(path + ": " + std::to_string(n) + " records exceed the limit of " +
                      std::to_string(Dataset::kMaxValues) + " values");
  // All records, or with out.part_of only this rank's [n r / P, n (r+1) / P), by offset.
  uint64_t begin, end;
  out.take_part(n, &begin, &end);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(path + ": cannot open");
  Dataset& data = out.data;
  const size_t first = data.size();
  try {
    with_context(path, [&] { data.reserve(size_t(end - begin)); });
    if (begin > 0 && fseeko(f, off_t(begin * record), SEEK_SET) != 0) throw IoError(path + ": cannot seek");
    const size_t chunk = std::max<size_t>(1, (size_t(1) << 22) / size_t(record));
    std::vector<uint8_t> buf(size_t(std::min<uint64_t>(chunk, std::max<uint64_t>(end - begin, 1)) * record));
    for (uint64_t done = begin; done < end;) {
      const size_t k = size_t(std::min<uint64_t>(chunk, end - done));
      const size_t got = std::fread(buf.data(), 1, k * size_t(record), f);
      if (got != k * size_t(record))
        throw FormatError(path + ": truncated while reading: got " + std::to_string(done + got / record) + " of " +
                          std::to_string(n) + " records");
      for (size_t i = 0; i < k; ++i) {
        const uint8_t* r = buf.data() + i * size_t(record);
        // The label byte is a CIFAR-10 class whatever the space: a byte past 9
        // means the file is not what it claims, even when the label is dropped.
        if (r[0] > 9)
          throw DataError(path + ": record " + std::to_string(done + i + 1) + ": label byte " + std::to_string(r[0]) +
                          " outside the CIFAR-10 classes 0..9; is this a CIFAR-10 batch?");
        const int32_t label = space.has_labels() ? int32_t(r[0]) : -1;
        try {
          data.push_back_u8(r + 1, label);
        } catch (const DataError& e) {
          throw DataError(path + ": record " + std::to_string(done + i + 1) + ": " + e.what());
        }
      }
      done += k;
    }
  } catch (...) {
    std::fclose(f);
    throw;
  }
  std::fclose(f);
  out.mark_bulk(first);
}

SpaceHint probe_cifar(const std::string& path, ConfigSection&) {
  require_file(path);
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError(path + ": cannot read its size: " + ec.message());
  SpaceHint hint;
  // The records carry no shape; whole CIFAR-10 records are taken as CIFAR-10.
  constexpr uint64_t kCifar10Record = 1 + 3 * 32 * 32;
  if (size > 0 && size % kCifar10Record == 0) {
    const std::string why = "CIFAR-10 records (" + path + " holds " + std::to_string(size / kCifar10Record) +
                            " records of 3073 bytes)";
    hint.shape = {3, 32, 32};
    hint.levels = 256;
    hint.labels = 10;
    hint.shape_from = hint.levels_from = hint.labels_from = why;
  } else {
    hint.levels = 256;
    hint.levels_from = "the CIFAR format (bytes)";
  }
  return hint;
}

void write_cifar(const Dataset& data, const std::string& path) {
  check_byte_space(data.space(), path);
  for (size_t i = 0; i < data.size(); ++i)
    if (data.has_labels() && (data.label(i) < 0 || data.label(i) > 9))
      throw DataError(path + ": sample " + std::to_string(i + 1) + " has label " + std::to_string(data.label(i)) +
                      "; CIFAR-10 labels are 0..9");
  write_file_atomically(path, [&](std::ostream& out) {
    const size_t D = size_t(data.dims());
    std::string rec(D + 1, '\0');
    for (size_t i = 0; i < data.size(); ++i) {
      rec[0] = char(data.has_labels() ? data.label(i) : 0);
      std::memcpy(&rec[1], data.row_u8(i), D);
      out.write(rec.data(), std::streamsize(rec.size()));
    }
  });
}

}  // namespace dgm::io
