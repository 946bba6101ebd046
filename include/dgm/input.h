// input.h — reading a whole input (a file, or stdin for "-") for the readers
// that need all of it: config files, text formats, model files on stdin.
// Chunked, so that an endless input (/dev/zero, a pipe that never ends) stops
// at a limit instead of exhausting memory, and text refuses a NUL byte at the
// first chunk. Every error names the input ("<stdin>" for "-") and the reason:
// no such file, a directory, permission, a symlink loop, a read error.
#pragma once

#include <cstdint>
#include <string>

namespace dgm {

// How `path` is named in messages: the path, or "<stdin>" for "-".
std::string input_name(const std::string& path);

// IoError "<path>: cannot open: <reason>" unless path names something that
// can be read as a file (a regular file, a device, a FIFO); "is a directory"
// for a directory; "too many levels of symbolic links (a symlink loop?)".
void require_readable(const std::string& path);

struct InputLimits {
  uint64_t max_bytes;          // past it: DataError "<name>: more than <size> ..."
  const char* text = nullptr;  // when set, a NUL byte is a FormatError "binary data ... in <text>"
  const char* what = "input";  // for the size message: "more than 64.0 MiB of <what>"
};

// The whole input. A UTF-8 byte-order mark at the start of text is dropped
// (editors add it; it is not data).
std::string read_whole_input(const std::string& path, const InputLimits& limits);

}  // namespace dgm
