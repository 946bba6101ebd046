// io_util.cc — helpers shared by the readers and writers: text input with
// line numbers (file or stdin), integer parsing, error context, and the byte-to-level mapping of idx and images.

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

void require_file(const std::string& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || st.type() == fs::file_type::not_found)
    throw IoError(path + ": cannot open (no such file)");
  if (st.type() == fs::file_type::directory) throw IoError(path + ": is a directory, expected a file");
}

const std::string& stdin_bytes() {
  // Read once, so that the format can be detected from the content before a
  // reader reads it; read again only when stdin has new data (a caller that
  // swapped std::cin's buffer, as the in-process tests do).
  static std::string cache;
  if (std::cin.peek() != std::char_traits<char>::eof()) {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    cache = ss.str();
  }
  std::cin.clear();
  return cache;
}

TextFile read_text(const std::string& path, const std::string& format) {
  TextFile f;
  std::ostringstream ss;
  if (path == "-") {
    f.name = shown_name(path);
    ss << stdin_bytes();
  } else {
    f.name = path;
    require_file(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path + ": cannot open: " + std::strerror(errno));
    ss << in.rdbuf();
    if (in.bad()) throw IoError(path + ": read error");
  }
  f.text = ss.str();
  if (f.text.empty()) throw FormatError(f.name + ": empty file, expected " + format + " data");
  const size_t nul = f.text.find('\0');
  if (nul != std::string::npos) {
    const size_t line = 1 + size_t(std::count(f.text.begin(), f.text.begin() + long(nul), '\n'));
    throw FormatError(at_line(f.name, line) + ": binary data (a NUL byte) in a " + format +
                      " text file; is the format right?");
  }
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
  if (big) throw DataError(where + ": " + what + " " + shown + " is too large");
  if (v < 0 && !allow_negative) throw DataError(where + ": " + what + " " + shown + " is negative");
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

void write_text_atomically(const std::string& path, const std::function<void(std::ostream&)>& fn) {
  write_file_atomically(path, fn);
}

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
