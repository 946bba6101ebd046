// read.h — every dataset reader and writer behind two calls. A source is the
// JSON form used in the config's "data" section, e.g.
//   {"path": "data/digits/skewed.txt", "format": "grid"}
//   {"path": "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
//    "labels": "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
//    "format": "idx", "threshold": 128}
// Formats: grid, lines, csv, jsonl, image (PNG, PGM/PPM/PBM, BMP, JPEG; a file,
// a directory with one subfolder per label, or a list file), idx (plain or
// .gz), cifar. An empty format is inferred from the file name. Every error
// names the file, the record or line, and the reason; sizes from headers are
// checked before allocating; nothing is silently truncated, padded or resized.
// Source keys besides "path" and "format": "label_column" (csv), "threshold"
// (image, idx), "labels" (idx); a key the format does not read is a
// ConfigError. docs/formats.md describes every format.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "dgm/comm.h"
#include "dgm/config.h"
#include "dgm/dataset.h"

namespace dgm {

// Reads one source into `space`. "-" as path reads stdin (text formats only).
Dataset read_dataset(const json& source, const Space& space);

// Writes a dataset to `path` in `format` (grid, lines, csv, jsonl, idx, cifar,
// or image: one PNG per sample into the directory `path`). Written to a
// temporary name and renamed into place. "-" writes the text formats to stdout.
// An empty format is inferred from the name as for reading.
void write_dataset(const Dataset& data, const std::string& path, const std::string& format);
// The text formats (grid, lines, csv, jsonl) written to a stream.
void write_dataset(const Dataset& data, std::ostream& out, const std::string& format);

// The format read_dataset infers for a path: image for .png .pgm .ppm .pbm
// .pnm .bmp .jpg .jpeg and directories, idx for *-idx*-ubyte[.gz] and
// *.idx[.gz], cifar for .bin, csv, jsonl, grid for .grid, else lines.
std::string infer_format(const std::string& path);
// Where write_dataset(..., "idx") puts the labels of a labeled dataset:
// "train-images-idx3-ubyte.gz" -> "train-labels-idx1-ubyte.gz",
// "x.idx" -> "x-labels.idx", "x.idx.gz" -> "x-labels.idx.gz", else "<path>-labels".
std::string idx_labels_path(const std::string& images_path);

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
// The same splits for a distributed run: each rank gets its shard of each
// (shard_range of the split's size; comm.h), reading only its part of each
// file by offset (idx, cifar, lines, csv, jsonl; other formats are read whole
// by every rank, which keeps its part). Collective; with one rank, load_data.
DataSplits load_data(const json& data_section, const Space& space, uint64_t seed, Communicator& comm);

}  // namespace dgm
