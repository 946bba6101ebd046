// read.cc — read_dataset / write_dataset dispatch over the format table, format
// inference from file names, and load_data: the train / validation / test
// splits of a config's "data" section. Adding a format is one file with its
// reader and writer plus one row in kFormats; its source keys pass through
// load_data untouched and are checked by the ConfigSection its reader gets.
#include "dgm/io/read.h"

#include <algorithm>
#include <ostream>

#include "dgm/distributed.h"
#include "formats.h"

namespace dgm {
namespace {

struct Format {
  const char* name;
  io::Reader read;
  io::TextWriter write_text;  // text formats
  io::FileWriter write_file;  // binary files and image directories
  std::vector<std::string> keys;  // source keys the reader understands
  // Reads one rank's part of the file by offset (distributed runs); without
  // one, each rank reads the whole file and keeps its part.
  io::PartReader read_part = nullptr;
};

const Format kFormats[] = {
    {"grid", io::read_grid, io::write_grid, nullptr, {}},
    {"lines", io::read_lines, io::write_lines, nullptr, {}, io::read_lines_part},
    {"csv", io::read_csv, io::write_csv, nullptr, {"label_column"}, io::read_csv_part},
    {"jsonl", io::read_jsonl, io::write_jsonl, nullptr, {}, io::read_jsonl_part},
    {"image", io::read_images, nullptr, io::write_images, {"threshold"}},
    {"idx", io::read_idx, nullptr, io::write_idx, {"labels", "threshold"}, io::read_idx_part},
    {"cifar", io::read_cifar, nullptr, io::write_cifar, {}, io::read_cifar_part},
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

// One rank's part of a source: its samples, the global index of the first,
// and the number in the whole file.
struct SourcePart {
  Dataset data;
  uint64_t first = 0, total = 0;
};

// With comm null, reads the whole source; else this rank's part of it.
SourcePart read_source_in(const json& source, const Space& space, const std::string& where, Communicator* comm) {
  json src = source.is_string() ? json{{"path", source}} : source;
  if (!src.is_object())
    throw ConfigError(where + ": expected a path or an object {\"path\": ..., \"format\": ...}, got " + source.dump());
  ConfigSection opts(src, where);
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
  SourcePart part;
  if (!comm) {
    part.data = format.read(path, space, opts);
    part.total = part.data.size();
  } else {
    // Every rank reads; a failure on any (a missing or unreadable shard) is
    // reported by all, with the first failing rank's message.
    std::string error;
    try {
      if (format.read_part) {
        io::FilePart fp;
        fp.comm = comm;
        part.data = format.read_part(path, space, opts, fp);
        part.first = fp.first;
        part.total = fp.total;
      } else {
        Dataset all = format.read(path, space, opts);
        part.total = all.size();
        const uint64_t P = uint64_t(comm->size()), r = uint64_t(comm->rank());
        part.first = part.total * r / P;
        part.data = all.slice(size_t(part.first), size_t(part.total * (r + 1) / P));
      }
    } catch (const CollectiveError&) {
      throw;
    } catch (const std::exception& e) {
      error = e.what();
    }
    comm->check(error);
  }
  if (part.total == 0) throw FormatError(path + ": no samples");
  return part;
}

Dataset read_source(const json& source, const Space& space, const std::string& where) {
  return read_source_in(source, space, where, nullptr).data;
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
  if (io::ends_with(p, ".csv")) return "csv";
  if (io::ends_with(p, ".jsonl")) return "jsonl";
  if (io::ends_with(p, ".grid")) return "grid";
  return "lines";
}

Dataset read_dataset(const json& source, const Space& space) { return read_source(source, space, "data"); }

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

namespace {

// What a config's "data" section asks for, checked before reading anything.
struct DataPlan {
  json train, validation, test;
  std::string train_labels, validation_labels, test_labels;
  bool has_fraction = false, has_count = false, shuffle = false;
  double fraction = 0;
  int64_t count = 0, limit = 0;
  json shared = json::object();  // the keys passed to every split's source

  json source_for(const json& v, const std::string& labels, const std::string& name) const {
    json src = shared;
    if (v.is_string()) {
      src["path"] = v;
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) src[it.key()] = it.value();
    } else {
      throw ConfigError("data." + name + ": expected a path or a source object, got " + v.dump());
    }
    if (!labels.empty()) src["labels"] = labels;
    return src;
  }
  // Samples of a train file of n taken for validation.
  size_t validation_take(size_t n) const {
    size_t take = 0;
    if (has_fraction) take = size_t(double(n) * fraction + 0.5);
    else if (has_count) take = size_t(count);
    if (take >= n && (has_fraction || has_count))
      throw ConfigError("data: the validation split takes " + std::to_string(take) + " of the " + std::to_string(n) +
                        " training samples, leaving none to train on");
    return take;
  }
};

DataPlan plan_data(const json& data_section) {
  DataPlan d;
  ConfigSection sec(data_section, "data");
  if (!sec.has("train")) throw ConfigError("data.train: missing (the training data: a path or a source object)");
  d.train = sec.get_json("train");
  d.validation = sec.get_json("validation");
  d.test = sec.get_json("test");
  d.train_labels = sec.get_string("labels", "");
  const std::string train_labels2 = sec.get_string("train_labels", "");
  if (!d.train_labels.empty() && !train_labels2.empty())
    throw ConfigError("data: give the training labels once, as 'labels' or 'train_labels'");
  if (d.train_labels.empty()) d.train_labels = train_labels2;
  d.validation_labels = sec.get_string("validation_labels", "");
  d.test_labels = sec.get_string("test_labels", "");
  d.has_fraction = sec.has("validation_fraction");
  d.has_count = sec.has("validation_count");
  d.fraction = sec.get_double("validation_fraction", 0.0, 0.0, 0.999999);
  d.count = sec.get_int("validation_count", 0, 0, int64_t(1) << 40);
  d.shuffle = sec.get_bool("shuffle", d.has_fraction);
  d.limit = sec.get_int("limit", 0, 0, int64_t(1) << 40);
  if (int(d.has_fraction) + int(d.has_count) + int(!d.validation.is_null()) > 1)
    throw ConfigError("data: give at most one of 'validation', 'validation_fraction' and 'validation_count'");
  if (d.shuffle && !d.has_fraction)
    throw ConfigError("data.shuffle: only used with 'validation_fraction' (the split takes the last rows after a shuffle)");

  // Every other key belongs to the sources (format, threshold, label_column,
  // and whatever keys a format reads); each split's reader checks them.
  if (data_section.is_object()) {
    for (auto it = data_section.begin(); it != data_section.end(); ++it)
      if (std::find(kSplitKeys.begin(), kSplitKeys.end(), it.key()) == kSplitKeys.end()) d.shared[it.key()] = it.value();
  }
  std::vector<std::string> passed;
  for (auto it = d.shared.begin(); it != d.shared.end(); ++it) passed.push_back(it.key());
  sec.allow(passed);
  sec.finish();
  if (d.validation.is_null() && !d.validation_labels.empty())
    throw ConfigError("data.validation_labels: given without data.validation");
  if (d.test.is_null() && !d.test_labels.empty()) throw ConfigError("data.test_labels: given without data.test");
  return d;
}

// Distributed: every rank reads its part of each file, then the rows move to
// the ranks whose shards hold them (shard_range over each split, so the
// splits are those one process makes, cut in blocks).
DataSplits load_data_sharded(const DataPlan& d, const Space& space, uint64_t seed, Communicator& comm) {
  const int P = comm.size();
  constexpr uint64_t kValidKey = uint64_t(1) << 63;  // validation rows sort after the training rows
  DataSplits s;
  {
    SourcePart train = read_source_in(d.source_for(d.train, d.train_labels, "train"), space, "data.train", &comm);
    const size_t n = size_t(train.total);
    const size_t take = d.validation_take(n);
    size_t n_train = n - take;
    if (d.limit > 0 && size_t(d.limit) < n_train) n_train = size_t(d.limit);
    std::vector<size_t> position;  // file index -> position after the seeded shuffle
    if (d.has_fraction && d.shuffle) {
      const std::vector<size_t> order = Dataset::shuffle_order(n, seed);
      position.resize(n);
      for (size_t j = 0; j < n; ++j) position[order[j]] = j;
    }
    std::vector<int> dest;
    std::vector<uint64_t> key;
    std::vector<size_t> rows;
    for (size_t k = 0; k < train.data.size(); ++k) {
      const size_t g = size_t(train.first) + k;
      const size_t p = position.empty() ? g : position[g];
      if (p < n - take) {
        if (p >= n_train) continue;  // past data.limit
        dest.push_back(shard_owner(n_train, p, P));
        key.push_back(p);
      } else {
        dest.push_back(shard_owner(take, p - (n - take), P));
        key.push_back(kValidKey | (p - (n - take)));
      }
      rows.push_back(k);
    }
    const Dataset kept = train.data.subset(rows);
    train.data = Dataset();
    ReceivedRows got = exchange_rows(comm, kept, dest, key);
    const size_t split = size_t(std::lower_bound(got.keys.begin(), got.keys.end(), kValidKey) - got.keys.begin());
    s.train = got.rows.slice(0, split);
    s.validation = got.rows.slice(split, got.rows.size());
    if (s.train.size() != shard_range(n_train, comm.rank(), P).size() ||
        s.validation.size() != shard_range(take, comm.rank(), P).size())
      throw Error("load_data: rows lost while sharing out the training file");
  }
  auto whole = [&](const json& v, const std::string& labels, const std::string& name) {
    SourcePart part = read_source_in(d.source_for(v, labels, name), space, "data." + name, &comm);
    std::vector<int> dest(part.data.size());
    std::vector<uint64_t> key(part.data.size());
    for (size_t k = 0; k < part.data.size(); ++k) {
      key[k] = part.first + k;
      dest[k] = shard_owner(part.total, key[k], P);
    }
    return exchange_rows(comm, part.data, dest, key).rows;
  };
  if (!d.validation.is_null()) s.validation = whole(d.validation, d.validation_labels, "validation");
  if (!d.test.is_null()) s.test = whole(d.test, d.test_labels, "test");
  return s;
}

}  // namespace

DataSplits load_data(const json& data_section, const Space& space, uint64_t seed) {
  const DataPlan d = plan_data(data_section);
  DataSplits s;
  s.train = read_source(d.source_for(d.train, d.train_labels, "train"), space, "data.train");
  if (!d.validation.is_null())
    s.validation = read_source(d.source_for(d.validation, d.validation_labels, "validation"), space, "data.validation");
  if (!d.test.is_null()) s.test = read_source(d.source_for(d.test, d.test_labels, "test"), space, "data.test");

  const size_t n = s.train.size();
  const size_t take = d.validation_take(n);
  if (d.has_fraction && d.shuffle) s.train.shuffle(seed);
  if (take > 0) s.validation = s.train.split_tail(take);
  if (d.limit > 0 && size_t(d.limit) < s.train.size()) s.train = s.train.slice(0, size_t(d.limit));
  return s;
}

DataSplits load_data(const json& data_section, const Space& space, uint64_t seed, Communicator& comm) {
  if (comm.size() == 1) return load_data(data_section, space, seed);
  return load_data_sharded(plan_data(data_section), space, seed, comm);
}

}  // namespace dgm
