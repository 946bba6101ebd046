// read.h — every dataset reader and writer behind a few calls. A source is the
// JSON form used in the config's "data" section, e.g.
//   {"path": "data/digits/skewed.txt", "format": "grid"}
//   {"path": "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
//    "labels": "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
//    "format": "idx", "threshold": 128}
// Formats: grid, lines, csv, jsonl, image (PNG, PGM/PPM/PBM, BMP, JPEG; a file,
// a directory with one subfolder per label, or a list file), idx (plain or
// .gz), cifar, npy (NumPy integer arrays), plus the formats of a codec
// (codec.h: "text"). Each format has one name for reading and writing.
// Without a format, detect_format() decides from the content, then the file
// name. Every error names the file, the record or line, and the reason; sizes
// from headers are checked before allocating; nothing is silently truncated,
// padded or resized. Source keys besides "path" and "format": "label_column"
// (csv), "threshold" (image, idx, npy), "labels" (idx, npy: the labels file),
// a codec's keys; a key the format does not read is a ConfigError.
// docs/formats.md describes every format.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dgm/config.h"
#include "dgm/dataset.h"

namespace dgm {

class Codec;
class Communicator;

// Samples read from one source, each with the record it came from, and the
// policy for a bad record. Readers fill it through record() and push().
class Records {
 public:
  Records(const Space& space, std::string name);

  Dataset data;
  std::string name;  // the path as messages show it: "<stdin>" for "-"

  // Where sample i came from: "name:LINE" for line-based formats, "name#K"
  // (1-based) for the records of binary files, the file of an image in a
  // folder, and the bare name for a file that holds one sample.
  std::string source(size_t i) const;

  // Filled by codecs, for their figures (metrics.h): (values, as data's
  // values) 1 where the outside value had no code and was stored as the
  // codec's "unknown" value (a text OOV as <unk>); (N) characters of the
  // outside text of each sample, its newline included. Empty when not known.
  std::vector<uint8_t> unknown;
  std::vector<int64_t> chars;

  // Outside items that become several samples (a sound clip cut into
  // frames), for figures per item (`dgm score`, `dgm eval`): (N) the item
  // of each sample, an index into `items` (their names: the clip's file);
  // each item's samples are consecutive. Empty when every sample is its own
  // item. Readers call begin_item() before pushing an item's samples; the
  // sources of its samples are then "ITEM#K" (K from 1 within the item).
  std::vector<uint32_t> item;
  std::vector<std::string> items;
  void begin_item(const std::string& name);
  // The samples [first, end) of item k.
  std::pair<size_t, size_t> item_range(size_t k) const;

  // The error policy. With max_errors == 0 (the default) the first bad
  // record throws. Otherwise each bad record is given to on_error and
  // skipped, and reading stops with a DataError (the count, and `hint` when
  // set) at the max_errors-th.
  size_t max_errors = 0;
  std::function<void(const std::string& message)> on_error;
  std::string hint;
  size_t errors() const { return errors_; }

  // --- for readers ---
  // Runs `parse` for record `number` (its line, or its index from 1): a
  // DataError or FormatError from it is thrown or reported by the policy.
  void record(uint64_t number, const std::function<void()>& parse);
  // Appends one sample of the current record (validated by the dataset).
  void push(const int32_t* x, int64_t length, int32_t label);
  void push(const std::vector<int32_t>& x, int32_t label) { push(x.data(), int64_t(x.size()), label); }
  // Line-based sources number records by line ("name:12"), others by index ("name#12").
  void set_by_line(bool by_line) { by_line_ = by_line; }
  // Names sample i by its own file (images of a folder).
  void set_source(size_t i, const std::string& source);
  // Records of a bulk read: samples [first, data.size()) are records first+1.. (no names stored).
  void mark_bulk(size_t first);

  // --- distributed reading (comm.h) ---
  // Set part_of before reading to read part part_of->rank() of
  // part_of->size() of the file. Readers that can read only their part by
  // offset (idx, cifar: samples [total r / P, total (r+1) / P); lines, csv,
  // jsonl, text: the lines that start in the r-th of P byte ranges) and set
  // `part`, and `counted` when they also know `total` (samples in the whole
  // file) and `first` (the global index of their first sample); read_records
  // counts the others. A reader that cannot reads the whole file; then
  // read_records keeps the part.
  Communicator* part_of = nullptr;
  bool part = false, counted = false;
  uint64_t first = 0, total = 0;
  // For a reader by offset of a file of n samples: the samples
  // [*begin, *end) it reads, all of them or, with part_of, this rank's
  // [n r / P, n (r+1) / P); with part_of it also sets part, counted, first
  // and total.
  void take_part(uint64_t n, uint64_t* begin, uint64_t* end);
  // Keeps samples [begin, end) (read_records, for the readers that read all).
  void keep(size_t begin, size_t end);

 private:
  std::vector<uint64_t> record_;  // (N) the record number of each sample
  std::vector<size_t> item_first_;  // (items) the first sample of each item
  std::vector<std::string> own_;  // (N) or empty: each sample's own source
  uint64_t current_ = 0;
  bool by_line_ = true;
  size_t errors_ = 0;
};

// Reads one source into `space`. "-" as path reads stdin (text formats only).
// `codec` (may be null) adds its formats. A source of no samples is a FormatError.
Records read_records(const json& source, const Space& space, const Codec* codec = nullptr,
                     const std::function<void(Records&)>& policy = {});
Dataset read_dataset(const json& source, const Space& space, const Codec* codec = nullptr);

// Writes a dataset to `path` in `format` (any format that writes; "image"
// writes one PNG per sample into the directory `path`; a codec's file
// formats write as the codec says). Written to a
// temporary name and renamed into place. "-" writes the text formats to
// stdout. An empty format is inferred from the name.
void write_dataset(const Dataset& data, const std::string& path, const std::string& format,
                   const Codec* codec = nullptr);
// The text formats (grid, lines, csv, jsonl, a codec's text formats) written to a stream.
void write_dataset(const Dataset& data, std::ostream& out, const std::string& format, const Codec* codec = nullptr);

// The format of a source, in this order: `preferred` (the model's own format)
// when the content fits it; else a codec's format the name ends in (.wav,
// .gif); else what the content says (PNG/JPEG/BMP/PNM
// magic, IDX and gzip, '#'/'.' grids, digit lines — grids when their length
// is a grid row of `space` —, JSON lines, commas, the codec's formats); else
// the file name (infer_format). A folder is of `preferred` when the codec
// owns it (a folder of sound clips), else of images. "-" is stdin, read once
// and kept for the reader.
std::string detect_format(const std::string& path, const std::string& preferred = "", const Codec* codec = nullptr,
                          const Space* space = nullptr);
// The format read_dataset infers from a name alone: image for .png .pgm .ppm
// .pbm .pnm .bmp .jpg .jpeg, directories and names ending in '/', idx for *-idx*-ubyte[.gz] and
// *.idx[.gz], cifar for .bin, npy for .npy, csv, jsonl, grid for .grid, else
// lines.
std::string infer_format(const std::string& path);
// Every format name dgm reads and writes (with the codec's), for --help and errors.
std::vector<std::string> format_names(const Codec* codec = nullptr);
// Why `format` cannot hold samples of `space` (an unknown name included), or
// "" when it can.
std::string format_problem(const std::string& format, const Space& space, const Codec* codec = nullptr);
// Whether `format` is written as text to a stream (grid, lines, csv, jsonl,
// a codec's text formats) rather than to files (image, idx, cifar, a codec's
// file formats such as wav and gif).
bool is_stream_format(const std::string& format, const Codec* codec = nullptr);
// Where write_dataset(..., "idx") puts the labels of a labeled dataset:
// "train-images-idx3-ubyte.gz" -> "train-labels-idx1-ubyte.gz",
// "x.idx" -> "x-labels.idx", "x.idx.gz" -> "x-labels.idx.gz", else "<path>-labels".
std::string idx_labels_path(const std::string& images_path);
// Where write_dataset(..., "npy") puts the labels: "x.npy" -> "x-labels.npy",
// else "<path>-labels.npy".
std::string npy_labels_path(const std::string& path);
// Where write_dataset(data, path, format) puts the labels: the second file of
// idx and npy, "" for the formats that hold them inline.
std::string labels_path(const std::string& path, const std::string& format);

// What a file itself says about the space of its samples, for the formats
// whose headers define it (probe_space). A field the file does not define is
// empty or 0; each *_from says where the value came from, for messages.
//   idx    shape from the header, levels 256 (bytes)
//   npy    shape from the header, levels 256 for u1, 2 for b1 (other dtypes
//          do not define them)
//   cifar  {3,32,32}, 256 levels, 10 labels when the file is whole CIFAR-10
//          records (3073 bytes each)
//   image  {H,W} or {3,H,W} and 256 levels (2 for PBM) from the first image;
//          labels: the number of label subfolders (the largest + 1 when they
//          are numbers)
// With a "labels" file (idx, npy) the labels are its largest value + 1.
struct SpaceHint {
  std::vector<int64_t> shape;
  int64_t levels = 0;
  int64_t labels = 0;
  std::string shape_from, levels_from, labels_from;
};
// The source as for read_dataset; formats without a header (grid, lines,
// csv, jsonl) give an empty hint. Errors as read_dataset's.
SpaceHint probe_space(const json& source);

// The train / validation / test sets described by a config's "data" section:
//   "train", "validation", "test": a path (or a source object as above);
//   "format", "labels" keys of the train source ("train_labels", "test_labels",
//   "validation_labels" for separate label files), "threshold";
//   "validation_fraction" or "validation_count": a validation set split off
//   the training data, drawn at random under the seed unless
//   "validation_split": "tail" (the last rows of the file, for a fixed split);
//   "limit": keep the first N training samples left after the validation
//   split. Every other key ("format", "threshold", "label_column", a codec's
//   keys such as "tokenizer") is passed to each split's source, whose reader
//   accepts or refuses it. A split may also be a whole source object.
struct DataSplits {
  Dataset train, validation, test;  // validation / test may be empty
};
DataSplits load_data(const json& data_section, const Space& space, uint64_t seed, const Codec* codec = nullptr);
// The same splits for a distributed run: each rank gets its shard of each
// (shard_range of the split's size, comm.h), reading only its part of each
// file (Records::part_of; formats that cannot are read whole by every rank,
// which keeps its part), the rows then moving to their shard owners.
// Collective; with one rank, load_data above.
DataSplits load_data(const json& data_section, const Space& space, uint64_t seed, const Codec* codec,
                     Communicator& comm);
// One split ("train", "validation" or "test") of a data section read as its
// own source, with its records (for per-record figures), before any split-off.
Records read_split(const json& data_section, const std::string& split, const Space& space,
                   const Codec* codec = nullptr);

// Everything a config's "space" and "data" sections describe for training:
// the codec fitted to the training data when the data's format belongs to
// one (codec.h; null for plain tensors), the space (the codec's where it sets
// it, e.g. a vocabulary's size), and the splits read through the codec.
struct TrainingData {
  Space space;
  std::shared_ptr<const Codec> codec;
  Dataset train, validation, test;
};
TrainingData load_training_data(const json& data_section, const json& space_section, uint64_t seed);
// Distributed: the codec fitted to what all ranks read, each rank's shards.
TrainingData load_training_data(const json& data_section, const json& space_section, uint64_t seed,
                                Communicator& comm);

// Data paths of a config's "data" section (train, validation, test, the
// label files, and "path"/"labels" of source objects) made absolute against
// `base` (the config file's folder); "-" and absolute paths stay.
void resolve_data_paths(json& data_section, const std::string& base);

}  // namespace dgm
