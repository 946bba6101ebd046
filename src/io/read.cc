// read.cc — read_dataset / write_dataset dispatch over the format table, format
// inference from file names, and load_data: the train / validation / test
// splits of a config's "data" section. Adding a format is one file with its
// reader and writer plus one row in kFormats; its source keys pass through
// load_data untouched and are checked by the ConfigSection its reader gets.
#include "dgm/io/read.h"

#include <algorithm>
#include <ostream>

#include "formats.h"

namespace dgm {
namespace {

struct Format {
  const char* name;
  io::Reader read;
  io::TextWriter write_text;  // text formats
  io::FileWriter write_file;  // binary files and image directories
  std::vector<std::string> keys;  // source keys the reader understands
  io::Prober probe = nullptr;     // formats whose header defines the space
};

const Format kFormats[] = {
    {"grid", io::read_grid, io::write_grid, nullptr, {}},
    {"lines", io::read_lines, io::write_lines, nullptr, {}},
    {"csv", io::read_csv, io::write_csv, nullptr, {"label_column"}},
    {"jsonl", io::read_jsonl, io::write_jsonl, nullptr, {}},
    {"image", io::read_images, nullptr, io::write_images, {"threshold"}, io::probe_images},
    {"idx", io::read_idx, nullptr, io::write_idx, {"labels", "threshold"}, io::probe_idx},
    {"cifar", io::read_cifar, nullptr, io::write_cifar, {}, io::probe_cifar},
    {"npy", io::read_npy, nullptr, io::write_npy, {"labels", "threshold"}, io::probe_npy},
};

std::string format_names() {
  std::string s;
  for (const auto& f : kFormats) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

const Format& find_format(const std::string& name, const std::string& where) {
  for (const auto& f : kFormats)
    if (name == f.name) return f;
  throw ConfigError(where + ": unknown format '" + name + "' (known: " + format_names() + ")");
}

// Keys of the "data" section that load_data itself reads; every other key is
// a source key (format, threshold, label_column, ...) passed to each split.
const std::vector<std::string> kSplitKeys = {
    "train", "validation", "test", "labels", "train_labels", "validation_labels", "test_labels",
    "validation_fraction", "validation_count", "shuffle", "limit"};

// A source's path and format, its keys checked against what the format reads.
struct Source {
  std::string path;
  const Format* format;
};
json as_source(const json& source, const std::string& where) {
  json src = source.is_string() ? json{{"path", source}} : source;
  if (!src.is_object())
    throw ConfigError(where + ": expected a path or an object {\"path\": ..., \"format\": ...}, got " + source.dump());
  return src;
}
Source open_source(ConfigSection& opts, const std::string& where) {
  const json path_json = opts.get_json("path");
  if (!path_json.is_string() || path_json.get<std::string>().empty())
    throw ConfigError(where + ".path: missing (a file name, a directory, or - for stdin)");
  const std::string path = path_json.get<std::string>();
  const std::string name = opts.get_string("format", "");
  const Format& format = find_format(name.empty() ? infer_format(path) : name, where + ".format");
  if (path == "-" && !format.write_text)
    throw ConfigError(where + ".path: '-' (stdin) is read only by the text formats (grid, lines, csv, jsonl), not " +
                      std::string(format.name));
  // Unknown keys are refused before reading anything.
  opts.allow(format.keys);
  opts.finish();
  return {path, &format};
}

Dataset read_source(const json& source, const Space& space, const std::string& where) {
  const json src = as_source(source, where);
  ConfigSection opts(src, where);
  const Source s = open_source(opts, where);
  Dataset data = s.format->read(s.path, space, opts);
  if (data.empty()) throw FormatError(s.path + ": no samples");
  return data;
}

}  // namespace

std::string infer_format(const std::string& path) {
  if (path != "-" && io::is_directory(path)) return "image";
  const std::string p = io::lower(path);
  for (const char* e : {".png", ".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".jpg", ".jpeg"})
    if (io::ends_with(p, e)) return "image";
  const std::string stem = io::ends_with(p, ".gz") ? p.substr(0, p.size() - 3) : p;
  const size_t idx = stem.find("-idx");
  if (io::ends_with(stem, ".idx") || (idx != std::string::npos && io::ends_with(stem, "-ubyte"))) return "idx";
  if (io::ends_with(p, ".bin")) return "cifar";
  if (io::ends_with(p, ".npy")) return "npy";
  if (io::ends_with(p, ".csv")) return "csv";
  if (io::ends_with(p, ".jsonl")) return "jsonl";
  if (io::ends_with(p, ".grid")) return "grid";
  return "lines";
}

Dataset read_dataset(const json& source, const Space& space) { return read_source(source, space, "data"); }

SpaceHint probe_space(const json& source) {
  const json src = as_source(source, "data");
  ConfigSection opts(src, "data");
  const Source s = open_source(opts, "data");
  return s.format->probe ? s.format->probe(s.path, opts) : SpaceHint{};
}

void write_dataset(const Dataset& data, std::ostream& out, const std::string& format) {
  const Format& f = find_format(format, "write");
  if (!f.write_text) throw ConfigError("write: the " + format + " format is written to files, not to a stream");
  f.write_text(data, out);
  if (!out) throw IoError("write error");
}

void write_dataset(const Dataset& data, const std::string& path, const std::string& format) {
  const Format& f = find_format(format.empty() ? infer_format(path) : format, "write " + path);
  if (f.write_text) {
    io::write_text_atomically(path, [&](std::ostream& out) { f.write_text(data, out); });
  } else {
    if (path == "-") throw ConfigError("-: the " + std::string(f.name) + " format cannot be written to stdout");
    f.write_file(data, path);
  }
}

DataSplits load_data(const json& data_section, const Space& space, uint64_t seed) {
  ConfigSection sec(data_section, "data");
  if (!sec.has("train")) throw ConfigError("data.train: missing (the training data: a path or a source object)");
  const json train = sec.get_json("train");
  const json validation = sec.get_json("validation");
  const json test = sec.get_json("test");
  std::string train_labels = sec.get_string("labels", "");
  const std::string train_labels2 = sec.get_string("train_labels", "");
  if (!train_labels.empty() && !train_labels2.empty())
    throw ConfigError("data: give the training labels once, as 'labels' or 'train_labels'");
  if (train_labels.empty()) train_labels = train_labels2;
  const std::string validation_labels = sec.get_string("validation_labels", "");
  const std::string test_labels = sec.get_string("test_labels", "");
  const bool has_fraction = sec.has("validation_fraction");
  const bool has_count = sec.has("validation_count");
  const double fraction = sec.get_double("validation_fraction", 0.0, 0.0, 0.999999);
  const int64_t count = sec.get_int("validation_count", 0, 0, int64_t(1) << 40);
  const bool shuffle = sec.get_bool("shuffle", has_fraction);
  const int64_t limit = sec.get_int("limit", 0, 0, int64_t(1) << 40);
  if (int(has_fraction) + int(has_count) + int(!validation.is_null()) > 1)
    throw ConfigError("data: give at most one of 'validation', 'validation_fraction' and 'validation_count'");
  if (shuffle && !has_fraction)
    throw ConfigError("data.shuffle: only used with 'validation_fraction' (the split takes the last rows after a shuffle)");

  // Every other key belongs to the sources (format, threshold, label_column,
  // and whatever keys a format reads); each split's reader checks them.
  json shared = json::object();
  if (data_section.is_object()) {
    for (auto it = data_section.begin(); it != data_section.end(); ++it)
      if (std::find(kSplitKeys.begin(), kSplitKeys.end(), it.key()) == kSplitKeys.end()) shared[it.key()] = it.value();
  }
  std::vector<std::string> passed;
  for (auto it = shared.begin(); it != shared.end(); ++it) passed.push_back(it.key());
  sec.allow(passed);
  sec.finish();

  auto source_for = [&](const json& v, const std::string& labels, const std::string& name) {
    json src = shared;
    if (v.is_string()) {
      src["path"] = v;
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) src[it.key()] = it.value();
    } else {
      throw ConfigError("data." + name + ": expected a path or a source object, got " + v.dump());
    }
    if (!labels.empty()) src["labels"] = labels;
    return read_source(src, space, "data." + name);
  };

  DataSplits s;
  s.train = source_for(train, train_labels, "train");
  if (!validation.is_null()) s.validation = source_for(validation, validation_labels, "validation");
  else if (!validation_labels.empty()) throw ConfigError("data.validation_labels: given without data.validation");
  if (!test.is_null()) s.test = source_for(test, test_labels, "test");
  else if (!test_labels.empty()) throw ConfigError("data.test_labels: given without data.test");

  const size_t n = s.train.size();
  size_t take = 0;
  if (has_fraction) {
    if (shuffle) s.train.shuffle(seed);
    take = size_t(double(n) * fraction + 0.5);
  } else if (has_count) {
    take = size_t(count);
  }
  if (take >= n && (has_fraction || has_count))
    throw ConfigError("data: the validation split takes " + std::to_string(take) + " of the " + std::to_string(n) +
                      " training samples, leaving none to train on");
  if (take > 0) s.validation = s.train.split_tail(take);
  if (limit > 0 && size_t(limit) < s.train.size()) s.train = s.train.slice(0, size_t(limit));
  return s;
}

}  // namespace dgm
