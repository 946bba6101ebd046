// io_util.cc — helpers shared by the readers and writers: text input with
// line numbers (file or stdin), integer parsing, error context, and the byte-to-level mapping of idx and images.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/atomic_file.h"
#include "formats.h"

namespace dgm::io {

namespace fs = std::filesystem;

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower((unsigned char)c));
  return s;
}

void require_file(const std::string& path) { require_readable(path); }

const std::string& stdin_bytes() {
  // Read once, so that the format can be detected from the content before a
  // reader reads it; read again only when stdin has new data (a caller that
  // swapped std::cin's buffer, as the in-process tests do).
  static std::string cache;
  if (std::cin.peek() != std::char_traits<char>::eof()) cache = read_whole_input("-", {memory_budget() / 4});
  std::cin.clear();
  return cache;
}

TextFile read_text(const std::string& path, const std::string& format) {
  TextFile f;
  f.name = input_name(path);
  const std::string what = format == "text" ? "a text file" : "a " + format + " text file";
  if (path == "-") {
    f.text = stdin_bytes();
    const size_t nul = f.text.find('\0');
    if (nul != std::string::npos) {
      const size_t line = 1 + size_t(std::count(f.text.begin(), f.text.begin() + long(nul), '\n'));
      throw FormatError(at_line(f.name, line) + ": binary data (a NUL byte) in " + what + "; is the format right?");
    }
    if (f.text.compare(0, 3, "\xEF\xBB\xBF") == 0) f.text.erase(0, 3);
  } else {
    // A quarter of the budget: the text, the samples parsed from it and
    // their temporaries must all fit.
    f.text = read_whole_input(path, {memory_budget() / 4, what.c_str(), (format + " text").c_str()});
  }
  if (f.text.empty()) throw FormatError(f.name + ": empty file, expected " + format + " data");
  check_text(f, format);
  return f;
}

void check_text(const TextFile& f, const std::string& format) {
  const size_t nul = f.text.find('\0');
  if (nul != std::string::npos) {
    const size_t line = f.first_line + 1 + size_t(std::count(f.text.begin(), f.text.begin() + long(nul), '\n'));
    throw FormatError(at_line(f.name, line) + ": binary data (a NUL byte) in a " + format +
                      " text file; is the format right?");
  }
}

namespace {

// Reads bytes [off, off + n) of an open file (short only at the end).
std::string pread_all(int fd, uint64_t off, uint64_t n, const std::string& path) {
  std::string buf(size_t(n), '\0');
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, &buf[done], size_t(n) - done, off_t(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw IoError(path + ": read error: " + std::strerror(errno));
    }
    if (r == 0) break;
    done += size_t(r);
  }
  buf.resize(done);
  return buf;
}

std::string encode_u64s(std::initializer_list<uint64_t> v) {
  std::string s(v.size() * 8, '\0');
  size_t k = 0;
  for (uint64_t x : v) std::memcpy(&s[8 * k++], &x, 8);
  return s;
}
uint64_t decode_u64(const std::string& s, size_t k) {
  uint64_t x;
  std::memcpy(&x, s.data() + 8 * k, 8);
  return x;
}

}  // namespace

TextFile read_text_part(const std::string& path, const std::string& format, Communicator& comm, bool allow_empty) {
  TextFile f;
  f.name = path;
  f.part = true;
  const std::vector<std::string> all = comm.gather_checked([&] {
    if (path == "-")
      throw ConfigError("-: stdin cannot be shared by several MPI processes; give the data as a file");
    require_file(path);
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      throw IoError(path + ": cannot read its size: " + std::strerror(errno));
    }
    const uint64_t size = uint64_t(st.st_size);
    const uint64_t P = uint64_t(comm.size()), r = uint64_t(comm.rank());
    uint64_t lines = 0;
    try {
      if (size == 0 && !allow_empty) throw FormatError(path + ": empty file, expected " + format + " data");
      const uint64_t s = size * r / P, e = size * (r + 1) / P;  // size < 2^63 / P for any real file
      if (s < e) {
        // Byte s - 1 tells whether a line starts at s.
        const uint64_t from = s == 0 ? 0 : s - 1;
        std::string buf = pread_all(fd, from, e - from, path);
        // A newline at buf[i] (i < buf.size() - 1) starts a line inside [s, e).
        for (size_t i = 0; i + 1 < buf.size(); ++i) lines += buf[i] == '\n';
        size_t start = 0;  // the first line start in [s, e), as an index into buf
        if (s == 0) {
          ++lines;
        } else {
          const size_t nl = buf.find('\n');
          start = nl == std::string::npos ? buf.size() : nl + 1;
        }
        if (start < buf.size()) {
          f.text = buf.substr(start);
          // The last line goes on past e, into the next range.
          if (e < size && f.text.back() != '\n') {
            for (uint64_t at = e; at < size;) {
              const std::string more = pread_all(fd, at, std::min<uint64_t>(size - at, 1 << 16), path);
              if (more.empty()) break;
              const size_t nl = more.find('\n');
              f.text += more.substr(0, nl == std::string::npos ? more.size() : nl + 1);
              if (nl != std::string::npos) break;
              at += more.size();
            }
          }
        }
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    const bool content = f.text.find_first_not_of("\r\n \t") != std::string::npos;
    return encode_u64s({lines, content ? 1u : 0u});
  });
  for (int q = 0; q < comm.size(); ++q) {
    if (q < comm.rank()) f.first_line += size_t(decode_u64(all[size_t(q)], 0));
    if (q > comm.rank() && decode_u64(all[size_t(q)], 1)) f.more_follows = true;
  }
  return f;
}

TextFile read_text_for(const std::string& path, const std::string& format, Records& out) {
  if (!out.part_of) return read_text(path, format);
  TextFile f = read_text_part(path, format, *out.part_of);
  check_text(f, format);
  out.part = true;
  return f;
}

bool LineReader::next(std::string_view* line) {
  if (pos_ >= text_.size()) return false;
  size_t end = text_.find('\n', pos_);
  if (end == std::string::npos) end = text_.size();
  size_t stop = end;
  if (stop > pos_ && text_[stop - 1] == '\r') --stop;
  *line = std::string_view(text_).substr(pos_, stop - pos_);
  pos_ = end + 1;
  ++line_;
  return true;
}

bool parse_int(std::string_view t, int64_t* value, bool* too_large) {
  *too_large = false;
  size_t i = 0;
  bool neg = false;
  if (i < t.size() && (t[i] == '-' || t[i] == '+')) neg = t[i++] == '-';
  if (i == t.size()) return false;
  int64_t v = 0;
  for (; i < t.size(); ++i) {
    if (t[i] < '0' || t[i] > '9') return false;
    if (v < (int64_t(1) << 40)) v = v * 10 + (t[i] - '0');
    else *too_large = true;
  }
  if (v > INT32_MAX) *too_large = true;
  *value = neg ? -v : v;
  return true;
}

int32_t parse_value(std::string_view token, const std::string& where, const char* what, bool allow_negative) {
  int64_t v;
  bool big;
  std::string shown(token.substr(0, 40));
  if (token.size() > 40) shown += "...";
  if (!parse_int(token, &v, &big)) throw FormatError(where + ": " + what + " '" + shown + "' is not an integer");
  // A negative value is reported as negative, however large its magnitude.
  if (v < 0 && !allow_negative) throw DataError(where + ": " + what + " " + shown + " is negative");
  if (big) throw DataError(where + ": " + what + " " + shown + " is too " + (v < 0 ? "small" : "large"));
  return int32_t(v);
}

void with_context(const std::string& where, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const DataError& e) {
    throw DataError(where + ": " + e.what());
  } catch (const FormatError& e) {
    throw FormatError(where + ": " + e.what());
  }
}

std::string at_line(const std::string& name, size_t line) { return name + ":" + std::to_string(line); }

int read_threshold(ConfigSection& opts) { return int(opts.get_int("threshold", -1, 0, 256)); }

int default_threshold(const Space& space, int threshold) {
  if (threshold >= 0) return threshold;
  return space.is_binary() ? 128 : -1;
}

void push_bytes(Dataset& data, const uint8_t* bytes, size_t n, int threshold, const int32_t* labels,
                const std::string& name, const char* item, size_t first) {
  const size_t D = size_t(data.dims());
  // A lookup table keeps the inner loop branch-free.
  uint8_t table[256];
  for (int v = 0; v < 256; ++v) table[v] = v >= threshold ? 1 : 0;
  std::vector<uint8_t> row(threshold >= 0 ? D : 0);
  size_t i = 0;
  try {
    for (; i < n; ++i) {
      const uint8_t* p = bytes + i * D;
      if (threshold >= 0) {
        for (size_t d = 0; d < D; ++d) row[d] = table[p[d]];
        p = row.data();
      }
      data.push_back_u8(p, labels ? labels[i] : -1);
    }
  } catch (const DataError& e) {
    throw DataError(name + ": " + item + " " + std::to_string(first + i) + ": " + e.what());
  }
}

}  // namespace dgm::io
