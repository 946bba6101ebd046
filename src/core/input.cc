// input.cc — read_whole_input and the errors of opening an input (input.h).
#include "dgm/input.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "dgm/dataset.h"
#include "dgm/error.h"

namespace dgm {

std::string input_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

void require_readable(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) throw IoError(path + ": cannot open (no such file)");
    if (err == ELOOP) throw IoError(path + ": cannot open: too many levels of symbolic links (a symlink loop?)");
    throw IoError(path + ": cannot open: " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) throw IoError(path + ": is a directory, expected a file");
}

std::string read_whole_input(const std::string& path, const InputLimits& limits) {
  const std::string name = input_name(path);
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    require_readable(path);
    file.open(path, std::ios::binary);
    if (!file) throw IoError(path + ": cannot open: " + std::strerror(errno));
    in = &file;
  }
  std::string out;
  const size_t kChunk = size_t(1) << 20;
  size_t lines = 0;  // newlines before the current chunk, for the NUL message
  for (;;) {
    const size_t at = out.size();
    if (at > limits.max_bytes) {
      if (path == "-") std::cin.clear();
      throw DataError(name + ": more than " + byte_size(limits.max_bytes) + " of " + limits.what +
                      (limits.max_bytes >= memory_budget() / 8 ? " (the memory budget allows no more)" : ""));
    }
    out.resize(at + kChunk);
    in->read(&out[at], std::streamsize(kChunk));
    const size_t got = size_t(in->gcount());
    out.resize(at + got);
    if (limits.text) {
      const char* chunk = out.data() + at;
      const void* nul = std::memchr(chunk, '\0', got);
      if (nul) {
        const size_t k = size_t(static_cast<const char*>(nul) - chunk);
        const size_t line = 1 + lines + size_t(std::count(chunk, chunk + k, '\n'));
        if (path == "-") std::cin.clear();
        throw FormatError(name + ":" + std::to_string(line) + ": binary data (a NUL byte) in " + limits.text +
                          "; is the format right?");
      }
      lines += size_t(std::count(chunk, chunk + got, '\n'));
    }
    if (got < kChunk) break;
  }
  if (in->bad()) throw IoError(name + ": read error: " + std::strerror(errno));
  if (path == "-") std::cin.clear();
  if (limits.text && out.compare(0, 3, "\xEF\xBB\xBF") == 0) out.erase(0, 3);
  return out;
}

}  // namespace dgm
