// npy.cc — NumPy's .npy format (numpy.lib.format, versions 1.0, 2.0, 3.0):
// the magic "\x93NUMPY", a major and a minor version byte, the header length
// (little-endian uint16 in 1.0, uint32 in 2.0 and 3.0), then the header, a
// Python dict literal padded with spaces and ended by '\n',
//   {'descr': '<u2', 'fortran_order': False, 'shape': (60000, 28, 28), }
// and the array's items in C order. Integer dtypes only: |b1 (bool), i1 u1
// i2 u2 i4 u4 i8 u8 in the byte order the descr gives ('<' little, '>' big,
// '|' or '=' for one byte or the native order). The first axis counts the
// samples; the others are the space's shape, or D flattened, or either with
// axes of extent 1 left out (a (N, 28, 28) array fits {1,28,28}). Labels come
// from a second .npy of N integers (source key "labels"; -1 = unknown).
// Writes u1 for levels <= 256, i2 for <= 32768, else i4 (the dtypes PyTorch
// reads), and the labels as <i8 into npy_labels_path(path).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <ostream>

#include "dgm/io/atomic_file.h"
#include "dgm/io/read.h"
#include "formats.h"

namespace dgm::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
// numpy itself refuses headers over 10000 bytes unless told otherwise; a
// shape of 32 axes needs well under 1 KB.
constexpr uint64_t kMaxHeader = 65536;
constexpr size_t kMaxAxes = 64;

struct Npy {
  std::string descr;  // as written, for messages
  char kind = 0;      // 'b' (bool), 'i' (signed), 'u' (unsigned)
  int item = 0;       // bytes an item: 1, 2, 4, 8
  bool big_endian = false;
  std::vector<uint64_t> shape;
  uint64_t data_offset = 0;  // where the items start
};

std::string join_shape(const std::vector<uint64_t>& s, size_t from = 0) {
  if (s.size() <= from) return "()";
  std::string out;
  for (size_t i = from; i < s.size(); ++i) out += (i > from ? "x" : "") + std::to_string(s[i]);
  return out;
}

// The header dict: a strict reader of the Python literal numpy writes.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  Npy parse() {
    Npy h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip();
    expect('{');
    skip();
    while (peek() != '}') {
      const std::string key = string_literal("a key");
      skip();
      expect(':');
      skip();
      if (key == "descr") {
        if (have_descr) fail("'descr' is given twice");
        if (peek() == '[')
          fail("a structured dtype (a list of fields) is not supported; save one integer array");
        h.descr = string_literal("the 'descr' value");
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_order) fail("'fortran_order' is given twice");
        const bool fortran = boolean();
        if (fortran)
          throw FormatError(path_ + ": the array is in Fortran order (fortran_order: True); dgm reads C order: "
                            "save np.ascontiguousarray(x)");
        have_order = true;
      } else if (key == "shape") {
        if (have_shape) fail("'shape' is given twice");
        h.shape = tuple();
        have_shape = true;
      } else {
        fail("unknown key '" + key + "' (expected descr, fortran_order, shape)");
      }
      skip();
      if (peek() == ',') {
        ++pos_;
        skip();
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    ++pos_;
    skip();
    if (pos_ != s_.size()) fail("text after the closing '}'");
    if (!have_descr || !have_order || !have_shape)
      fail(std::string("missing '") + (!have_descr ? "descr" : !have_order ? "fortran_order" : "shape") + "'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(path_ + ": bad .npy header at byte " + std::to_string(pos_) + ": " + what);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_literal(const char* what) {
    const char q = peek();
    if (q != '\'' && q != '"') fail(std::string("expected ") + what + " in quotes");
    const size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\' || s_[pos_] == '\n') fail("an escape or newline inside a string");
      if (pos_ - start > 64) fail("a string longer than 64 characters");
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    return s_.substr(start, pos_++ - start);
  }
  bool boolean() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  // (), (3,), (3, 28, 28); Python 2's numpy wrote 3L. "(3)" is the integer
  // 3 in Python, not a tuple, and is refused as numpy refuses it.
  std::vector<uint64_t> tuple() {
    std::vector<uint64_t> out;
    bool comma = false;  // after the last extent
    expect('(');
    skip();
    while (peek() != ')') {
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in the shape");
      uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (uint64_t(1) << 50)) fail("a shape extent too large");
        v = v * 10 + uint64_t(s_[pos_++] - '0');
      }
      if (peek() == 'L') ++pos_;
      out.push_back(v);
      if (out.size() > kMaxAxes) fail("more than " + std::to_string(kMaxAxes) + " axes");
      skip();
      comma = peek() == ',';
      if (comma) {
        ++pos_;
        skip();
      } else if (peek() != ')') {
        fail("expected ',' or ')' in the shape");
      }
    }
    if (out.size() == 1 && !comma) fail("the shape (" + std::to_string(out[0]) + ") is not a tuple; write (" +
                                        std::to_string(out[0]) + ",)");
    ++pos_;
    return out;
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

const char* kind_name(char k) {
  switch (k) {
    case 'f': return "floating point";
    case 'c': return "complex";
    case 'U': return "unicode string";
    case 'S': case 'a': return "byte string";
    case 'O': return "Python object";
    case 'M': return "datetime";
    case 'm': return "timedelta";
    case 'V': return "void";
    default: return "unknown";
  }
}

void parse_descr(Npy& h, const std::string& path) {
  const std::string& d = h.descr;
  size_t i = 0;
  char order = '=';
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) order = d[i++];
  const char kind = i < d.size() ? d[i++] : '\0';
  const std::string size = d.substr(std::min(i, d.size()));
  const bool integer = kind == 'i' || kind == 'u' || kind == 'b';
  if (!integer)
    throw FormatError(path + ": dtype '" + d + "' (" + kind_name(kind) +
                      ") is not an integer type; dgm reads b1, i1, u1, i2, u2, i4, u4, i8, u8: save x.astype(np.uint8) "
                      "or another integer type");
  if (size != "1" && size != "2" && size != "4" && size != "8")
    throw FormatError(path + ": dtype '" + d + "' has an item size of " + (size.empty() ? "nothing" : size) +
                      "; integers are 1, 2, 4 or 8 bytes");
  h.kind = kind;
  h.item = size[0] - '0';
  if (kind == 'b' && h.item != 1) throw FormatError(path + ": dtype '" + d + "': a bool is one byte");
  if (order == '|' && h.item != 1)
    throw FormatError(path + ": dtype '" + d + "' has no byte order ('|') but items of " + size + " bytes");
  h.big_endian = order == '>';  // '=' is the machine's order: dgm runs little-endian
}

// A FILE* that closes itself.
struct File {
  FILE* f = nullptr;
  explicit File(const std::string& path) : f(std::fopen(path.c_str(), "rb")) {
    if (!f) throw IoError(path + ": cannot open: " + std::strerror(errno));
  }
  ~File() {
    if (f) std::fclose(f);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
};

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError(path + ": cannot read its size: " + ec.message());
  return size;
}

// Reads and checks the header: magic, version, length against the file, the
// dict, the dtype, and that the file holds exactly the items the shape claims
// (checked before anything is allocated for them).
Npy read_header(File& in, const std::string& path) {
  const uint64_t size = file_size(path);
  if (size == 0) throw FormatError(path + ": empty file, expected a .npy array");
  uint8_t pre[12];
  const size_t got = std::fread(pre, 1, 10, in.f);
  if (got < 6 || std::memcmp(pre, kMagic, 6) != 0)
    throw FormatError(path + ": not a .npy file (it does not start with \\x93NUMPY)");
  if (got < 10) throw FormatError(path + ": truncated .npy header (" + std::to_string(got) + " bytes)");
  const int major = pre[6], minor = pre[7];
  uint64_t len = 0, prefix = 10;
  if (major == 1) {
    len = uint64_t(pre[8]) | (uint64_t(pre[9]) << 8);
  } else if (major == 2 || major == 3) {
    if (std::fread(pre + 10, 1, 2, in.f) != 2) throw FormatError(path + ": truncated .npy header");
    len = uint64_t(pre[8]) | (uint64_t(pre[9]) << 8) | (uint64_t(pre[10]) << 16) | (uint64_t(pre[11]) << 24);
    prefix = 12;
  } else {
    throw FormatError(path + ": .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                      " is not supported (1.0, 2.0 and 3.0 are)");
  }
  if (len > kMaxHeader)
    throw FormatError(path + ": the .npy header claims " + std::to_string(len) + " bytes, more than the " +
                      std::to_string(kMaxHeader) + " a header may have");
  if (prefix + len > size)
    throw FormatError(path + ": truncated: the .npy header claims " + std::to_string(len) + " bytes, the file has " +
                      std::to_string(size - prefix) + " after the magic");
  std::string text(size_t(len), '\0');
  if (std::fread(&text[0], 1, text.size(), in.f) != text.size()) throw IoError(path + ": read error in the header");
  if (text.empty() || text.back() != '\n') throw FormatError(path + ": bad .npy header: it does not end with a newline");
  if (text.find('\0') != std::string::npos) throw FormatError(path + ": bad .npy header: a NUL byte");
  Npy h = HeaderParser(text, path).parse();
  parse_descr(h, path);
  h.data_offset = prefix + len;

  uint64_t items = 1;
  for (uint64_t e : h.shape) {
    if (e != 0 && items > Dataset::kMaxValues / e) {
      throw FormatError(path + ": the array is " + join_shape(h.shape) + ", more than the limit of " +
                        std::to_string(Dataset::kMaxValues) + " values");
    }
    items *= e;
  }
  const uint64_t payload = items * uint64_t(h.item);
  if (size - h.data_offset < payload)
    throw FormatError(path + ": truncated: a " + join_shape(h.shape) + " array of '" + h.descr + "' needs " +
                      std::to_string(payload) + " bytes after the header, the file has " +
                      std::to_string(size - h.data_offset));
  if (size - h.data_offset > payload)
    throw FormatError(path + ": " + std::to_string(size - h.data_offset - payload) + " bytes after the " +
                      join_shape(h.shape) + " array the header describes");
  return h;
}

// Item k of a chunk as a 64-bit integer; *big is set when an unsigned value
// does not fit int64 (then it is outside every space).
int64_t item_at(const Npy& h, const uint8_t* p, bool* big) {
  uint64_t v = 0;
  if (h.big_endian) {
    for (int b = 0; b < h.item; ++b) v = (v << 8) | p[b];
  } else {
    for (int b = h.item - 1; b >= 0; --b) v = (v << 8) | p[b];
  }
  *big = false;
  if (h.kind == 'i') {
    const int shift = 64 - 8 * h.item;  // sign-extend
    return int64_t(v << shift) >> shift;
  }
  if (v > uint64_t(INT64_MAX)) *big = true;
  return int64_t(v);
}

// "(3, 2, 1)": the index of flat item k in an array of this shape.
std::string array_index(const std::vector<uint64_t>& shape, uint64_t k) {
  std::vector<uint64_t> idx(shape.size());
  for (size_t a = shape.size(); a-- > 0;) {
    idx[a] = shape[a] ? k % shape[a] : 0;
    if (shape[a]) k /= shape[a];
  }
  std::string s = "(";
  for (size_t a = 0; a < idx.size(); ++a) s += (a ? ", " : "") + std::to_string(idx[a]);
  return s + (idx.size() == 1 ? ",)" : ")");
}

// Streams items [from, to) in chunks of about 4 MB; fn(first item, values,
// count). The stream stands at the first item (just after the header); items
// before `from` are skipped by seeking.
void for_each_chunk(File& in, const Npy& h, uint64_t from, uint64_t to, const std::string& path,
                    const std::function<void(uint64_t, const uint8_t*, size_t)>& fn) {
  if (from > 0 && fseeko(in.f, off_t(h.data_offset + from * uint64_t(h.item)), SEEK_SET) != 0)
    throw IoError(path + ": cannot seek to item " + std::to_string(from) + ": " + std::strerror(errno));
  const size_t chunk = std::max<size_t>(1, (size_t(1) << 22) / size_t(h.item));
  std::vector<uint8_t> buf(size_t(std::min<uint64_t>(chunk, to - from)) * size_t(h.item));
  for (uint64_t done = from; done < to;) {
    const size_t n = size_t(std::min<uint64_t>(chunk, to - done));
    if (std::fread(buf.data(), size_t(h.item), n, in.f) != n)
      throw FormatError(path + ": truncated while reading item " + std::to_string(done));
    fn(done, buf.data(), n);
    done += n;
  }
}

std::vector<int64_t> squeezed(const std::vector<int64_t>& s) {
  std::vector<int64_t> out;
  for (int64_t e : s)
    if (e != 1) out.push_back(e);
  return out;
}

// Does the part of the array after the first axis fit the space?
bool fits(const std::vector<uint64_t>& shape, const Space& space) {
  if (shape.empty()) return false;
  const std::vector<int64_t> sample(shape.begin() + 1, shape.end());
  if (sample == space.shape()) return true;
  if (sample.size() == 1 && sample[0] == space.dims()) return true;
  return squeezed(sample) == squeezed(space.shape());
}

std::vector<int32_t> read_labels(const std::string& path, uint64_t n, const Space& space) {
  require_file(path);
  File in(path);
  const Npy h = read_header(in, path);
  const bool column = h.shape.size() == 2 && h.shape[1] == 1;
  if (!(h.shape.size() == 1 || column) || h.shape[0] != n)
    throw FormatError(path + ": the labels array is " + join_shape(h.shape) + "; the data has " + std::to_string(n) +
                      " samples, so labels are " + std::to_string(n) + " integers (shape (" + std::to_string(n) +
                      ",))");
  std::vector<int32_t> labels;
  labels.reserve(size_t(n));
  for_each_chunk(in, h, 0, n, path, [&](uint64_t first, const uint8_t* p, size_t count) {
    for (size_t k = 0; k < count; ++k) {
      bool big;
      const int64_t v = item_at(h, p + k * size_t(h.item), &big);
      if (big || v < -1 || v >= space.labels())
        throw DataError(path + ": label " + (big ? std::string("(too large)") : std::to_string(v)) + " at index " +
                        std::to_string(first + k) + " is outside {0.." + std::to_string(space.labels() - 1) +
                        "} (-1 = unknown)");
      labels.push_back(int32_t(v));
    }
  });
  return labels;
}

// Writes a header and items of `item` bytes (little-endian) through fn, to
// `file` (committed by the caller).
void write_array(AtomicFile& file, const std::string& descr, const std::vector<uint64_t>& shape,
                 const std::function<void(std::ostream&)>& items) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t a = 0; a < shape.size(); ++a) dict += (a ? ", " : "") + std::to_string(shape[a]);
  dict += shape.size() == 1 ? ",), }" : "), }";
  // Padded with spaces so that the items start on a multiple of 64 bytes.
  const size_t prefix = dict.size() + 1 + 10 > 65535 ? 12 : 10;
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict += std::string(total - prefix - dict.size() - 1, ' ') + "\n";
  std::string head(kMagic, 6);
  head += prefix == 10 ? std::string("\x01\x00", 2) : std::string("\x02\x00", 2);
  for (size_t b = 0; b < prefix - 8; ++b) head += char((dict.size() >> (8 * b)) & 0xff);
  std::ostream& out = file.stream();
  out.write(head.data(), std::streamsize(head.size()));
  out.write(dict.data(), std::streamsize(dict.size()));
  items(out);
}

}  // namespace

void check_npy_space(const Space& space, const std::string& name) {
  if (space.variable_length())
    throw ConfigError(name + ": .npy holds arrays of fixed-shape samples; the space " + space.describe() +
                      " has sequences of variable length (write lines or jsonl)");
}

void read_npy(const std::string& path, ConfigSection& opts, Records& out) {
  const Space& space = out.data.space();
  const std::string labels_path = opts.get_string("labels", "");
  const int threshold = read_threshold(opts);
  check_npy_space(space, path);
  if (!labels_path.empty() && !space.has_labels())
    throw ConfigError(opts.path() + ".labels: a labels file is given but the space has no labels; add \"labels\": N to the space");
  require_file(path);
  File in(path);
  const Npy h = read_header(in, path);
  if (!fits(h.shape, space)) {
    const std::string want = join_shape(std::vector<uint64_t>(space.shape().begin(), space.shape().end()));
    throw DataError(path + ": the array is " + join_shape(h.shape) + "; the space " + space.describe() +
                    " needs N x " + want + (space.shape().size() > 1 ? " or N x " + std::to_string(space.dims()) : "") +
                    " (N samples first)");
  }
  const uint64_t n = h.shape[0];
  const size_t D = size_t(space.dims());
  std::vector<int32_t> labels;
  if (!labels_path.empty()) labels = read_labels(labels_path, n, space);

  // All samples, or with out.part_of only this rank's [n r / P, n (r+1) / P),
  // by offset.
  uint64_t begin, end;
  out.take_part(n, &begin, &end);
  Dataset& data = out.data;
  const size_t first_sample = data.size();
  with_context(path, [&] { data.reserve(first_sample + size_t(end - begin)); });
  // Bytes into a space of 256 levels cannot be out of range: copied as they are.
  const bool bytes = h.item == 1 && h.kind != 'i' && threshold < 0 && space.levels() == 256;
  std::vector<int32_t> row(D);
  size_t filled = 0;  // values of the current row
  for_each_chunk(in, h, begin * D, end * D, path, [&](uint64_t first, const uint8_t* p, size_t count) {
    if (bytes && filled == 0 && count % D == 0) {  // whole rows of bytes: the fast path
      push_bytes(data, p, count / D, -1, labels.empty() ? nullptr : labels.data() + first / D, path, "sample",
                 size_t(first / D));
      return;
    }
    for (size_t k = 0; k < count; ++k) {
      bool big;
      int64_t v = item_at(h, p + k * size_t(h.item), &big);
      if (threshold >= 0) v = !big && v >= threshold ? 1 : 0;
      if (big || v < 0 || v >= space.levels()) {
        const uint64_t at = first + k;
        throw DataError(path + ": the value at index " + array_index(h.shape, at) + " is " +
                        (big ? "above 2^63" : std::to_string(v)) + ", outside {0.." +
                        std::to_string(space.levels() - 1) + "} (" + path + "#" + std::to_string(at / D + 1) +
                        ", position " + space.position(int64_t(at % D)) + ")");
      }
      row[filled++] = int32_t(v);
      if (filled == D) {
        const size_t i = size_t(begin) + (data.size() - first_sample);  // the sample's index in the file
        with_context(path + "#" + std::to_string(i + 1),
                     [&] { data.push_back(row.data(), int64_t(D), labels.empty() ? -1 : labels[i]); });
        filled = 0;
      }
    }
  });
  out.mark_bulk(first_sample);
}

SpaceHint probe_npy(const std::string& path, ConfigSection& opts) {
  const std::string labels_path = opts.get_string("labels", "");
  (void)read_threshold(opts);
  require_file(path);
  File in(path);
  const Npy h = read_header(in, path);
  SpaceHint hint;
  if (h.shape.size() >= 2) {
    hint.shape.assign(h.shape.begin() + 1, h.shape.end());
    hint.shape_from = "the .npy header of " + path;
  }
  if (h.kind == 'b' || (h.kind == 'u' && h.item == 1)) {
    hint.levels = h.kind == 'b' ? 2 : 256;
    hint.levels_from = "the .npy header of " + path;  // the dtype
  }
  if (!labels_path.empty()) {
    require_file(labels_path);
    File lf(labels_path);
    const Npy lh = read_header(lf, labels_path);
    uint64_t items = 1;
    for (uint64_t e : lh.shape) items *= e;
    int64_t top = -1;
    for_each_chunk(lf, lh, 0, items, labels_path, [&](uint64_t, const uint8_t* p, size_t count) {
      for (size_t k = 0; k < count; ++k) {
        bool big;
        const int64_t v = item_at(lh, p + k * size_t(lh.item), &big);
        if (!big) top = std::max(top, std::min<int64_t>(v, Space::kMaxLabels));
      }
    });
    if (top >= 1) {
      hint.labels = top + 1;
      hint.labels_from = "the largest label in " + labels_path + " + 1";
    }
  }
  return hint;
}

void write_npy(const Dataset& data, const std::string& path) {
  const Space& space = data.space();
  check_npy_space(space, path);
  if (path == "-") throw ConfigError("-: .npy is written to files, not to stdout");
  const int64_t L = space.levels();
  const std::string descr = L <= 256 ? "|u1" : L <= 32768 ? "<i2" : "<i4";
  const size_t item = L <= 256 ? 1 : L <= 32768 ? 2 : 4;
  std::vector<uint64_t> shape = {data.size()};
  for (int64_t e : space.shape()) shape.push_back(uint64_t(e));
  const size_t D = size_t(space.dims());
  // Both files are written before either is put in place: a labels file that
  // cannot be made (a name too long, a full disk) leaves the old pair.
  std::unique_ptr<AtomicFile> labels_file;
  if (data.has_labels()) labels_file = std::make_unique<AtomicFile>(npy_labels_path(path));
  AtomicFile file(path);
  write_array(file, descr, shape, [&](std::ostream& out) {
    if (item == 1) {
      out.write(reinterpret_cast<const char*>(data.raw().data()), std::streamsize(data.raw().size()));
      return;
    }
    std::vector<char> buf(D * item);
    for (size_t i = 0; i < data.size(); ++i) {
      for (size_t d = 0; d < D; ++d) {
        const uint32_t v = uint32_t(data.at(i, int64_t(d)));
        for (size_t b = 0; b < item; ++b) buf[d * item + b] = char((v >> (8 * b)) & 0xff);
      }
      out.write(buf.data(), std::streamsize(buf.size()));
    }
  });
  if (labels_file) {
    write_array(*labels_file, "<i8", {data.size()}, [&](std::ostream& out) {
      for (size_t i = 0; i < data.size(); ++i) {
        const uint64_t v = uint64_t(int64_t(data.label(i)));
        char b[8];
        for (int k = 0; k < 8; ++k) b[k] = char((v >> (8 * k)) & 0xff);
        out.write(b, 8);
      }
    });
    labels_file->commit();
  }
  file.commit();
}

}  // namespace dgm::io

namespace dgm {

std::string npy_labels_path(const std::string& path) {
  if (io::ends_with(io::lower(path), ".npy")) return path.substr(0, path.size() - 4) + "-labels.npy";
  return path + "-labels.npy";
}

}  // namespace dgm
