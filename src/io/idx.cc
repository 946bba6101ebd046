// idx.cc — the IDX format of MNIST and Fashion-MNIST (LeCun et al., "The MNIST
// database"), plain or gzip-compressed (CRC and length checked). Header: magic
// 0x0000TTNN (TT = element type, only 0x08 unsigned byte; NN = number of
// dimensions), then NN big-endian uint32 extents, then the bytes. Images have
// NN >= 2 (N, then extents that multiply to D), labels NN = 1. Source keys: "labels"
// (the labels IDX file), "threshold" (binary spaces default to 128). Binary
// datasets are written as 0/255 so that they read back at the default threshold.
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>

#include "dgm/io/atomic_file.h"
#include "dgm/io/read.h"
#include "formats.h"

namespace dgm::io {
namespace {

// An IDX file being read: plain, or gzip (RFC 1952; one member or several
// concatenated, as `cat a.gz b.gz` makes). inflate checks every member's
// CRC-32 and length; a stream cut off before its trailer, bytes after the
// last member, and output past the memory budget are errors (gzread would
// return the data as good in the first two cases).
class IdxIn {
 public:
  explicit IdxIn(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "rb")), limit_(memory_budget()) {
    if (!f_) throw IoError(path + ": cannot open: " + std::strerror(errno));
    fill();
    compressed_ = len_ >= 2 && in_[0] == 0x1f && in_[1] == 0x8b;
    if (compressed_) {
      if (inflateInit2(&z_, 15 + 16) != Z_OK) throw std::bad_alloc();
      z_.next_in = in_.data();
      z_.avail_in = uInt(len_);
    }
  }
  ~IdxIn() {
    if (compressed_) inflateEnd(&z_);
    std::fclose(f_);
  }
  IdxIn(const IdxIn&) = delete;
  IdxIn& operator=(const IdxIn&) = delete;

  // Reads up to n bytes; returns how many were read (short only at the end).
  size_t read(void* buf, size_t n) {
    uint8_t* out = static_cast<uint8_t*>(buf);
    size_t done = 0;
    if (!compressed_) {
      const size_t k = std::min(n, len_ - pos_);
      std::memcpy(out, in_.data() + pos_, k);
      pos_ += k;
      done = k;
      if (done < n) done += std::fread(out + done, 1, n - done, f_);
      if (std::ferror(f_)) throw IoError(path_ + ": read error: " + std::strerror(errno));
      return done;
    }
    while (done < n && !ended_) {
      if (z_.avail_in == 0 && !refill())
        throw FormatError(path_ + ": truncated gzip data: the stream ends before its CRC and length trailer");
      z_.next_out = out + done;
      const uInt want = uInt(std::min<size_t>(n - done, size_t(1) << 30));
      z_.avail_out = want;
      const int r = inflate(&z_, Z_NO_FLUSH);
      done += want - z_.avail_out;
      produced_ += want - z_.avail_out;
      if (produced_ > limit_)
        throw DataError(path_ + ": decompresses to more than the " + byte_size(limit_) + " of memory available");
      if (r == Z_STREAM_END) {
        next_member();
      } else if (r == Z_MEM_ERROR) {
        throw std::bad_alloc();
      } else if (r != Z_OK && r != Z_BUF_ERROR) {  // Z_DATA_ERROR: bad data, a bad CRC or length
        throw FormatError(path_ + ": corrupt gzip data (" + (z_.msg ? z_.msg : "zlib error " + std::to_string(r)) + ")");
      }
    }
    return done;
  }
  // Moves n bytes on without keeping them: a seek in a plain file; a gzip
  // stream is decompressed up to there. Returns the bytes passed (short at the end).
  uint64_t skip(uint64_t n) {
    if (!compressed_) {
      const uint64_t k = std::min<uint64_t>(n, len_ - pos_);
      pos_ += size_t(k);
      if (k == n) return n;
      struct stat st;
      const off_t here = ftello(f_);
      if (here < 0 || ::fstat(fileno(f_), &st) != 0) throw IoError(path_ + ": cannot seek: " + std::strerror(errno));
      const uint64_t left = uint64_t(st.st_size) > uint64_t(here) ? uint64_t(st.st_size) - uint64_t(here) : 0;
      const uint64_t m = std::min(n - k, left);
      if (fseeko(f_, off_t(m), SEEK_CUR) != 0) throw IoError(path_ + ": cannot seek: " + std::strerror(errno));
      return k + m;
    }
    std::vector<uint8_t> scratch(size_t(std::min<uint64_t>(n, uint64_t(1) << 20)));
    uint64_t done = 0;
    while (done < n) {
      const size_t got = read(scratch.data(), size_t(std::min<uint64_t>(n - done, scratch.size())));
      if (got == 0) break;
      done += got;
    }
    return done;
  }
  bool compressed() const { return compressed_; }

 private:
  void fill() {
    pos_ = 0;
    len_ = std::fread(in_.data(), 1, in_.size(), f_);
    if (std::ferror(f_)) throw IoError(path_ + ": read error: " + std::strerror(errno));
  }
  bool refill() {
    fill();
    z_.next_in = in_.data();
    z_.avail_in = uInt(len_);
    return len_ > 0;
  }
  // A member ended (its CRC and length were right): another member, or the end.
  void next_member() {
    if (z_.avail_in == 0) refill();
    if (z_.avail_in == 0) {
      ended_ = true;
      return;
    }
    if (z_.next_in[0] != 0x1f || (z_.avail_in >= 2 && z_.next_in[1] != 0x8b))
      throw FormatError(path_ + ": data after the end of the gzip stream (" + std::to_string(trailing()) +
                        " bytes); the file is corrupt or not one gzip file");
    inflateReset(&z_);
  }
  uint64_t trailing() {
    uint64_t k = z_.avail_in;
    size_t r;
    while ((r = std::fread(in_.data(), 1, in_.size(), f_)) > 0) k += r;
    return k;
  }

  std::string path_;
  std::FILE* f_;
  std::vector<uint8_t> in_ = std::vector<uint8_t>(size_t(1) << 18);
  size_t pos_ = 0, len_ = 0;  // plain files: the buffered bytes
  bool compressed_ = false, ended_ = false;
  z_stream z_{};
  uint64_t produced_ = 0, limit_;
};

// An IDX file being written through AtomicFile, gzip-compressed (level 6)
// when asked.
class IdxOut {
 public:
  IdxOut(const std::string& path, bool gzip) : file_(path), gzip_(gzip) {
    if (gzip_ && deflateInit2(&z_, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw IoError(path + ": cannot start gzip compression");
  }
  ~IdxOut() {
    if (gzip_) deflateEnd(&z_);
  }
  IdxOut(const IdxOut&) = delete;
  IdxOut& operator=(const IdxOut&) = delete;

  void write(const void* p, size_t n) {
    if (!gzip_) return file_.write(p, n);
    const uint8_t* in = static_cast<const uint8_t*>(p);
    while (n > 0) {  // avail_in is 32 bits
      const size_t k = std::min<size_t>(n, size_t(1) << 30);
      deflate_some(in, k, Z_NO_FLUSH);
      in += k;
      n -= k;
    }
  }
  void commit() {
    if (gzip_) deflate_some(nullptr, 0, Z_FINISH);
    file_.commit();
  }

 private:
  void deflate_some(const uint8_t* in, size_t n, int flush) {
    z_.next_in = const_cast<Bytef*>(in);
    z_.avail_in = uInt(n);
    int r;
    do {
      z_.next_out = out_;
      z_.avail_out = sizeof out_;
      r = deflate(&z_, flush);
      if (r == Z_STREAM_ERROR) throw IoError(file_.path() + ": gzip compression failed");
      file_.write(out_, sizeof out_ - z_.avail_out);
    } while (z_.avail_out == 0 || (flush == Z_FINISH && r != Z_STREAM_END));
  }
  AtomicFile file_;
  bool gzip_;
  z_stream z_{};
  uint8_t out_[1 << 16];
};

struct IdxHeader {
  int ndim = 0;
  std::vector<uint64_t> dims;
};

IdxHeader read_header(IdxIn& in, const std::string& path) {
  uint8_t m[4];
  const size_t got = in.read(m, 4);
  if (got == 0) throw FormatError(path + ": empty file, expected an IDX header");
  if (got < 4) throw FormatError(path + ": truncated IDX header (" + std::to_string(got) + " bytes)");
  char magic[16];
  std::snprintf(magic, sizeof magic, "0x%02x%02x%02x%02x", m[0], m[1], m[2], m[3]);
  if (m[0] != 0 || m[1] != 0 || m[3] == 0)
    throw FormatError(path + ": not an IDX file (magic " + magic + ", expected 0x00000803 for images or 0x00000801 for labels)");
  if (m[2] != 0x08)
    throw FormatError(path + ": IDX element type 0x" + std::string(magic + 6, 2) +
                      " is not supported; only unsigned bytes (0x08)");
  IdxHeader h;
  h.ndim = m[3];
  for (int i = 0; i < h.ndim; ++i) {
    uint8_t b[4];
    if (in.read(b, 4) != 4) throw FormatError(path + ": truncated IDX header (dimension " + std::to_string(i) + ")");
    h.dims.push_back((uint64_t(b[0]) << 24) | (uint64_t(b[1]) << 16) | (uint64_t(b[2]) << 8) | uint64_t(b[3]));
  }
  return h;
}

// Refuses a header whose claim the file cannot hold, before allocating: a
// plain file must have every byte; deflate expands at most ~1032:1.
void check_claim(IdxIn& in, const std::string& path, int ndim, uint64_t payload, uint64_t n, const char* items) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return;
  const uint64_t header = 4 + 4 * uint64_t(ndim);
  if (!in.compressed() && size < header + payload)
    throw FormatError(path + ": truncated: the header claims " + std::to_string(n) + " " + items + " (" +
                      std::to_string(header + payload) + " bytes), the file has " + std::to_string(size) + " bytes");
  if (in.compressed() && payload / 1032 > size)
    throw FormatError(path + ": the header claims " + std::to_string(n) + " " + items + " (" +
                      std::to_string(payload) + " bytes), more than a gzip file of " + std::to_string(size) +
                      " bytes can hold; truncated or corrupt");
}

void expect_end(IdxIn& in, const std::string& path, uint64_t n, const char* items) {
  uint8_t extra;
  if (in.read(&extra, 1) != 0)
    throw FormatError(path + ": data after the " + std::to_string(n) + " " + items + " the header claims");
}

std::vector<int32_t> read_labels(const std::string& path, uint64_t expected, const Space& space) {
  require_file(path);
  IdxIn in(path);
  const IdxHeader h = read_header(in, path);
  if (h.ndim != 1)
    throw FormatError(path + ": a labels IDX file has 1 dimension (magic 0x00000801), this one has " +
                      std::to_string(h.ndim));
  if (h.dims[0] != expected)
    throw FormatError(path + ": " + std::to_string(h.dims[0]) + " labels, but the images file has " +
                      std::to_string(expected) + " images");
  check_claim(in, path, h.ndim, expected, expected, "labels");
  std::vector<uint8_t> bytes(static_cast<size_t>(expected));
  const size_t got = in.read(bytes.data(), bytes.size());
  if (got != bytes.size())
    throw FormatError(path + ": truncated: read " + std::to_string(got) + " of " + std::to_string(expected) +
                      " labels");
  expect_end(in, path, expected, "labels");
  std::vector<int32_t> labels(bytes.begin(), bytes.end());
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= space.labels())
      throw DataError(path + ": label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                      ", outside {0.." + std::to_string(space.labels() - 1) + "}");
  return labels;
}

std::string join_dims(const std::vector<uint64_t>& d, size_t from) {
  std::string s;
  for (size_t i = from; i < d.size(); ++i) s += (i > from ? "x" : "") + std::to_string(d[i]);
  return s;
}

}  // namespace

void read_idx(const std::string& path, ConfigSection& opts, Records& out) {
  const Space& space = out.data.space();
  const std::string labels_path = opts.get_string("labels", "");
  const int threshold = default_threshold(space, read_threshold(opts));
  if (space.variable_length() || space.levels() > 256)
    throw ConfigError(path + ": IDX holds bytes of fixed-shape samples; the space " + space.describe() +
                      " does not fit");
  if (!labels_path.empty() && !space.has_labels())
    throw ConfigError(opts.path() + ".labels: a labels file is given but the space has no labels; add \"labels\": 10 to the space");
  require_file(path);
  IdxIn in(path);
  const IdxHeader h = read_header(in, path);
  if (h.ndim < 2)
    throw FormatError(path + ": " + std::to_string(h.ndim) +
                      "-dimensional IDX file; images have at least 2 dimensions (is this the labels file?)");
  // Sizes from the header are checked before anything is allocated.
  const uint64_t n = h.dims[0];
  uint64_t per = 1;
  for (int i = 1; i < h.ndim; ++i) {
    const uint64_t e = h.dims[size_t(i)];
    if (e != 0 && per > Dataset::kMaxValues / e) {  // checked before multiplying: no wrap-around
      per = Dataset::kMaxValues + 1;
      break;
    }
    per *= e;
  }
  std::vector<uint64_t> want(space.shape().begin(), space.shape().end());
  if (per != uint64_t(space.dims()))
    throw DataError(path + ": samples are " + join_dims(h.dims, 1) + ", the space " + space.describe() + " expects " +
                    join_dims(want, 0));
  if (n == 0) throw FormatError(path + ": the header claims 0 items");
  if (n > Dataset::kMaxValues / per)
    throw FormatError(path + ": the header claims " + std::to_string(n) + " items of " + std::to_string(per) +
                      " values, more than the limit of " + std::to_string(Dataset::kMaxValues) + " values");
  check_claim(in, path, h.ndim, n * per, n, "items");
  // What decompression will produce is what the header claims (the reader
  // stops there): checked against the memory budget before any of it is read.
  if (n * per > memory_budget())
    throw DataError(path + ": the header claims " + std::to_string(n) + " items, which " +
                    over_budget(n * per, memory_budget()));

  // All items, or with out.part_of only this rank's [n r / P, n (r+1) / P).
  uint64_t begin, end;
  out.take_part(n, &begin, &end);
  Dataset& data = out.data;
  const size_t first = data.size();
  // Reserve up to 256 Mi values at once; past that the storage grows as the
  // file proves it holds the data.
  with_context(path, [&] { data.reserve(size_t(std::min<uint64_t>(end - begin, std::max<uint64_t>(1, (uint64_t(1) << 28) / per)))); });
  const size_t D = size_t(per);
  if (begin > 0) {
    const uint64_t passed = in.skip(begin * D);
    if (passed != begin * D)
      throw FormatError(path + ": truncated: read " + std::to_string(passed / D) + " of " + std::to_string(n) +
                        " items the header claims");
  }
  const size_t chunk = std::max<size_t>(1, (size_t(1) << 22) / D);  // ~4 MB of samples a read
  std::vector<uint8_t> buf(std::min<uint64_t>(chunk, std::max<uint64_t>(end - begin, 1)) * D);
  for (uint64_t done = begin; done < end;) {
    const size_t want_n = size_t(std::min<uint64_t>(chunk, end - done));
    const size_t got = in.read(buf.data(), want_n * D);
    if (got != want_n * D)
      throw FormatError(path + ": truncated: read " + std::to_string(done + got / D) + " of " + std::to_string(n) +
                        " items the header claims");
    push_bytes(data, buf.data(), want_n, threshold, nullptr, path, "item", size_t(done));
    done += want_n;
  }
  // Only the whole file is checked to its end (a part stops where it ends).
  if (end == n) expect_end(in, path, n, "items");
  // The labels are read once the images file has proved whole (its gzip CRC
  // is checked at the end): a corrupt header must not be blamed on them.
  if (!labels_path.empty()) {
    const std::vector<int32_t> labels = read_labels(labels_path, n, space);
    for (uint64_t i = begin; i < end; ++i) data.set_label(first + size_t(i - begin), labels[size_t(i)]);
  }
  out.mark_bulk(first);
}

SpaceHint probe_idx(const std::string& path, ConfigSection& opts) {
  const std::string labels_path = opts.get_string("labels", "");
  (void)read_threshold(opts);
  require_file(path);
  SpaceHint hint;
  {
    IdxIn in(path);
    const IdxHeader h = read_header(in, path);
    if (h.ndim < 2)
      throw FormatError(path + ": " + std::to_string(h.ndim) +
                        "-dimensional IDX file; images have at least 2 dimensions (is this the labels file?)");
    for (int i = 1; i < h.ndim; ++i) hint.shape.push_back(int64_t(std::min<uint64_t>(h.dims[size_t(i)], 1u << 31)));
    hint.shape_from = "the IDX header of " + path;
    hint.levels = 256;
    hint.levels_from = hint.shape_from;  // unsigned bytes
  }
  if (!labels_path.empty()) {
    require_file(labels_path);
    IdxIn in(labels_path);
    const IdxHeader h = read_header(in, labels_path);
    if (h.ndim != 1)
      throw FormatError(labels_path + ": a labels IDX file has 1 dimension (magic 0x00000801), this one has " +
                        std::to_string(h.ndim));
    check_claim(in, labels_path, h.ndim, h.dims[0], h.dims[0], "labels");
    int top = -1;
    std::vector<uint8_t> buf(1 << 16);
    for (size_t got; (got = in.read(buf.data(), buf.size())) > 0;)
      top = std::max<int>(top, *std::max_element(buf.begin(), buf.begin() + long(got)));
    if (top >= 1) {
      hint.labels = top + 1;
      hint.labels_from = "the largest label in " + labels_path + " + 1";
    }
  }
  return hint;
}

void write_idx(const Dataset& data, const std::string& path) {
  const Space& space = data.space();
  if (space.variable_length() || space.levels() > 256)
    throw ConfigError(path + ": IDX holds bytes of fixed-shape samples; the space " + space.describe() +
                      " does not fit");
  if (data.size() > 0xffffffffull) throw DataError(path + ": more than 2^32 samples do not fit an IDX header");
  const bool gz = ends_with(lower(path), ".gz");
  auto put_header = [](IdxOut& out, const std::vector<uint64_t>& dims) {
    std::vector<uint8_t> h = {0, 0, 0x08, uint8_t(dims.size())};
    for (uint64_t d : dims)
      for (int s = 24; s >= 0; s -= 8) h.push_back(uint8_t(d >> s));
    out.write(h.data(), h.size());
  };

  std::vector<uint64_t> dims = {data.size()};
  for (int64_t e : space.shape()) dims.push_back(uint64_t(e));
  if (data.has_labels()) {
    for (size_t i = 0; i < data.size(); ++i)
      if (data.label(i) < 0 || data.label(i) > 255)
        throw DataError(path + ": sample " + std::to_string(i) + " has label " + std::to_string(data.label(i)) +
                        "; IDX labels are bytes 0..255");
  }
  // Both files are written before either is put in place: a labels file that
  // cannot be made (a name too long, a full disk) leaves the old pair.
  std::unique_ptr<IdxOut> labels;
  if (data.has_labels()) labels = std::make_unique<IdxOut>(idx_labels_path(path), gz);
  auto images = std::make_unique<IdxOut>(path, gz);
  {
    IdxOut& out = *images;
    put_header(out, dims);
    if (!space.is_binary()) {
      out.write(data.raw().data(), data.raw().size());
    } else {
      std::vector<uint8_t> row(size_t(data.dims()));
      for (size_t i = 0; i < data.size(); ++i) {
        const uint8_t* p = data.row_u8(i);
        for (size_t d = 0; d < row.size(); ++d) row[d] = p[d] ? 255 : 0;
        out.write(row.data(), row.size());
      }
    }
  }
  if (labels) {
    put_header(*labels, {data.size()});
    std::vector<uint8_t> l(data.labels().begin(), data.labels().end());
    labels->write(l.data(), l.size());
    labels->commit();
  }
  images->commit();
}

}  // namespace dgm::io

namespace dgm {

std::string idx_labels_path(const std::string& images_path) {
  const size_t k = images_path.rfind("images-idx");
  if (k != std::string::npos && k + 10 < images_path.size() && std::isdigit((unsigned char)images_path[k + 10]))
    return images_path.substr(0, k) + "labels-idx1" + images_path.substr(k + 11);
  if (io::ends_with(images_path, ".gz")) return idx_labels_path(images_path.substr(0, images_path.size() - 3)) + ".gz";
  if (io::ends_with(images_path, ".idx")) return images_path.substr(0, images_path.size() - 4) + "-labels.idx";
  return images_path + "-labels";
}

}  // namespace dgm
