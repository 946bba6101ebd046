// error.h — the exceptions the library throws. Every message names what was
// wrong and where (file, record or line, key), and where possible a fix; the CLI
// prints it as one line "dgm: error: <message>" and exits 1. No exit() below main.
#pragma once

#include <stdexcept>
#include <string>

namespace dgm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A config file or option that is malformed, unknown or out of range.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A sample that is not in the space, or a dataset that does not fit it.
class DataError : public Error {
 public:
  using Error::Error;
};

// A file whose bytes are not of the format they claim to be (bad magic,
// truncated, corrupted, wrong sizes).
class FormatError : public Error {
 public:
  using Error::Error;
};

// The operating system refused: a missing file, no permission, a full disk.
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace dgm
