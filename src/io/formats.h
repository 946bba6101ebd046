// formats.h — the private interface between read_records/write_dataset
// (read.cc) and the one-file-per-format readers and writers in src/io/, plus
// the helpers they share: reading text (or stdin) with line numbers, parsing
// integers, and putting file and line into error messages.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "dgm/comm.h"
#include "dgm/config.h"
#include "dgm/dataset.h"
#include "dgm/error.h"
#include "dgm/io/read.h"

namespace dgm::io {

// A reader gets the path and the source's keys; it reads the keys it knows
// (read_records calls opts.finish() afterwards, so a key nobody read is a
// ConfigError) and puts its samples into `out` (whose dataset has the space)
// through out.record() and out.push(), or a bulk push_bytes() followed by
// out.mark_bulk(). Text writers write to a stream (a file or stdout); file
// writers own the path (binary files, image directories).
using Reader = void (*)(const std::string& path, ConfigSection& opts, Records& out);
using TextWriter = void (*)(const Dataset& data, std::ostream& out);
using FileWriter = void (*)(const Dataset& data, const std::string& path);
// What the file's header says about the space (probe_space in dgm/io/read.h).
using Prober = SpaceHint (*)(const std::string& path, ConfigSection& opts);

// Each format's space check (ConfigError naming `name` and saying why the
// format cannot hold samples of `space`); null in the table: any space.
using SpaceCheck = void (*)(const Space& space, const std::string& name);
void check_grid_space(const Space& space, const std::string& name);
void check_image_space(const Space& space, const std::string& name);
void check_byte_space(const Space& space, const std::string& name);  // idx, cifar

void read_grid(const std::string& path, ConfigSection& opts, Records& out);
void write_grid(const Dataset& data, std::ostream& out);
void read_lines(const std::string& path, ConfigSection& opts, Records& out);
void write_lines(const Dataset& data, std::ostream& out);
void read_csv(const std::string& path, ConfigSection& opts, Records& out);
void write_csv(const Dataset& data, std::ostream& out);
void read_jsonl(const std::string& path, ConfigSection& opts, Records& out);
void write_jsonl(const Dataset& data, std::ostream& out);
void read_images(const std::string& path, ConfigSection& opts, Records& out);
void write_images(const Dataset& data, const std::string& path);
void read_idx(const std::string& path, ConfigSection& opts, Records& out);
void write_idx(const Dataset& data, const std::string& path);
void read_cifar(const std::string& path, ConfigSection& opts, Records& out);
void write_cifar(const Dataset& data, const std::string& path);
void check_npy_space(const Space& space, const std::string& name);
void read_npy(const std::string& path, ConfigSection& opts, Records& out);
void write_npy(const Dataset& data, const std::string& path);
SpaceHint probe_images(const std::string& path, ConfigSection& opts);
SpaceHint probe_idx(const std::string& path, ConfigSection& opts);
SpaceHint probe_cifar(const std::string& path, ConfigSection& opts);
SpaceHint probe_npy(const std::string& path, ConfigSection& opts);

// ---- shared helpers (io_util.cc) ----

// The whole text of a file, or of stdin for "-" (named "<stdin>" in errors).
// IoError for a missing file or a directory; FormatError for an empty file or
// bytes that are not text (a NUL byte), with `format` in the hint.
struct TextFile {
  std::string name;  // the path, or "<stdin>"
  std::string text;
  // For part of a file (read_text_part): the lines before it, and whether a
  // later part holds more than blank lines. A part may be empty.
  bool part = false;
  size_t first_line = 0;
  bool more_follows = false;
};
TextFile read_text(const std::string& path, const std::string& format);
// The lines of part comm.rank() of a text file cut into comm.size() byte
// ranges: those that start in this rank's range, read by offset (about
// size / P bytes, plus the rest of the last line). Collective: every rank
// calls it; an error on any rank is thrown on all (CollectiveError).
TextFile read_text_part(const std::string& path, const std::string& format, Communicator& comm,
                        bool allow_empty = false);
// FormatError naming the line when the text holds a NUL byte (binary data).
void check_text(const TextFile& f, const std::string& format);
// The text a line-based reader parses: the whole file, or with out.part_of
// this rank's part (read_text_part, NUL-checked; then out.part is set and the
// reader numbers its records from f.first_line and skips its "no samples"
// check, which read_records makes over all ranks).
TextFile read_text_for(const std::string& path, const std::string& format, Records& out);
// All of stdin, read once and kept (for format detection before reading).
const std::string& stdin_bytes();

// Iterates over lines (without '\n' and a trailing '\r'), counting from
// first_line + 1.
class LineReader {
 public:
  explicit LineReader(const std::string& text, size_t first_line = 0) : text_(text), line_(first_line) {}
  bool next(std::string_view* line);
  size_t line_number() const { return line_; }

 private:
  const std::string& text_;
  size_t pos_ = 0;
  size_t line_ = 0;
};

// Parses a decimal integer (optional '-') filling the whole token. Returns
// false when it is not one; sets *too_large when it does not fit an int32.
bool parse_int(std::string_view token, int64_t* value, bool* too_large);
// parse_int or a DataError/FormatError "<where>: <what> ..." naming the token.
int32_t parse_value(std::string_view token, const std::string& where, const char* what,
                    bool allow_negative = false);

// Runs fn; a DataError or FormatError it throws gets "<where>: " in front.
void with_context(const std::string& where, const std::function<void()>& fn);
// "file:line".
std::string at_line(const std::string& name, size_t line);

bool is_directory(const std::string& path);
bool ends_with(const std::string& s, const std::string& suffix);
std::string lower(std::string s);
// Throws IoError unless `path` names an existing regular (or special) file.
void require_file(const std::string& path);

// ---- files of a source, one sample or clip a file (listing.cc) ----

// What kind of file a format reads: its name in messages and its extensions.
struct FileKind {
  std::string what;                     // "image", "sound": "not an image file", "no images"
  std::string article;                  // "an", "a"
  std::vector<std::string> extensions;  // lowercase, with the dot: ".png"
  bool member(const std::string& name) const;  // by its extension
};
struct FileItem {
  std::string path;
  int32_t label;  // -1: none
};
// The files of `path`: the file itself (*single = true); a folder of files
// (sorted by name; each must be of `kind`) or of label subfolders (numeric
// names are the labels, other names are sorted and numbered 0..L-1); a list
// file (.txt or .list) of paths, one a line, relative to the list's folder,
// optionally "path<TAB>label".
std::vector<FileItem> list_source_files(const std::string& path, const Space& space, const FileKind& kind,
                                        bool* single);
// The files and subfolders of a folder (names not starting with '.'), sorted.
void list_dir(const std::string& dir, std::vector<std::string>* files, std::vector<std::string>* subdirs);
// Whether the samples have labels: true when all do, false when none does;
// DataError naming `dir` when some do.
bool labels_all_or_none(const Dataset& data, const std::string& dir);
// Makes the folder an output of one file a sample: created with its parents;
// IoError when it exists and is not an empty folder.
void prepare_output_dir(const std::string& dir);
// DIR/[LABEL/]000042.EXT for sample i of n (six digits, more for n >= 10^6);
// the label folder is created.
std::string sample_file_path(const std::string& dir, size_t i, size_t n, int32_t label, const std::string& ext);

// "threshold" from the source keys: -1 when absent, else 0..256 (256 maps
// every byte to 0). With it, a byte v becomes 1 when v >= threshold, else 0.
int read_threshold(ConfigSection& opts);
// The threshold to apply: the given one, else 128 for binary spaces, else -1
// (bytes are kept as they are).
int default_threshold(const Space& space, int threshold);
// Appends n samples of D bytes each from `bytes` to `data`, thresholding when
// threshold >= 0 (values are checked by push_back_u8). A DataError names
// "<name>: <item> <first + i>".
void push_bytes(Dataset& data, const uint8_t* bytes, size_t n, int threshold, const int32_t* labels,
                const std::string& name, const char* item, size_t first);

}  // namespace dgm::io
