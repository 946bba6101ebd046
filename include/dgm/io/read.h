// read.h — every dataset reader and writer behind two calls. A source is the
// JSON form used in the config's "data" section, e.g.
//   {"path": "data/digits/skewed.txt", "format": "grid"}
//   {"path": "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
//    "labels": "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
//    "format": "idx", "threshold": 128}
// Formats: grid, lines, csv, jsonl, image (PNG, PGM/PPM/PBM, BMP, JPEG; a file,
// a directory with one subfolder per label, or a list file), idx (plain or
// .gz), cifar, npy (NumPy integer arrays). An empty format is inferred from the file name. Every error
// names the file, the record or line, and the reason; sizes from headers are
// checked before allocating; nothing is silently truncated, padded or resized.
// Source keys besides "path" and "format": "label_column" (csv), "threshold"
// (image, idx, npy), "labels" (idx, npy: the labels file); a key the format does not read is a
// ConfigError. docs/formats.md describes every format.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "dgm/config.h"
#include "dgm/dataset.h"

namespace dgm {

// Reads one source into `space`. "-" as path reads stdin (text formats only).
Dataset read_dataset(const json& source, const Space& space);

// Writes a dataset to `path` in `format` (grid, lines, csv, jsonl, idx, cifar,
// npy, or image: one PNG per sample into the directory `path`). Written to a
// temporary name and renamed into place. "-" writes the text formats to stdout.
// An empty format is inferred from the name as for reading.
void write_dataset(const Dataset& data, const std::string& path, const std::string& format);
// The text formats (grid, lines, csv, jsonl) written to a stream.
void write_dataset(const Dataset& data, std::ostream& out, const std::string& format);

// The format read_dataset infers for a path: image for .png .pgm .ppm .pbm
// .pnm .bmp .jpg .jpeg and directories, idx for *-idx*-ubyte[.gz] and
// *.idx[.gz], cifar for .bin, npy for .npy, csv, jsonl, grid for .grid, else lines.
std::string infer_format(const std::string& path);
// Where write_dataset(..., "idx") puts the labels of a labeled dataset:
// "train-images-idx3-ubyte.gz" -> "train-labels-idx1-ubyte.gz",
// "x.idx" -> "x-labels.idx", "x.idx.gz" -> "x-labels.idx.gz", else "<path>-labels".
std::string idx_labels_path(const std::string& images_path);
// Where write_dataset(..., "npy") puts the labels: "x.npy" -> "x-labels.npy",
// else "<path>-labels.npy".
std::string npy_labels_path(const std::string& path);

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

// Parses one line of the "lines" format (values, then an optional tab and a
// label) into *x and *label (-1 when absent). Errors are prefixed with `where`.
void parse_sample_line(const std::string& line, const Space& space, const std::string& where,
                       std::vector<int32_t>* x, int32_t* label);

// The train / validation / test sets described by a config's "data" section:
//   "train", "validation", "test": a path (or a source object as above);
//   "format", "labels" keys of the train source ("train_labels", "test_labels",
//   "validation_labels" for separate label files), "threshold";
//   "validation_fraction" (taken from the end of train after a seeded shuffle
//   when "shuffle" is true, the default) or "validation_count" (the last N of
//   train, never shuffled); "limit": keep the first N training samples left
//   after the validation split. Every other key ("format", "threshold",
//   "label_column", and the keys of formats added later, such as a text
//   format's "tokenizer") is passed to each split's source, whose reader
//   accepts or refuses it. A split may also be a whole source object.
struct DataSplits {
  Dataset train, validation, test;  // validation / test may be empty
};
DataSplits load_data(const json& data_section, const Space& space, uint64_t seed);

}  // namespace dgm
