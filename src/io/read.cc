// read.cc — read_records / write_dataset dispatch over the format table (and a
// codec's formats), format detection from content and names, the record error
// policy, and load_data: the train / validation / test splits of a config's
// "data" section. Adding a format is one file with its reader and writer plus
// one row in kFormats; its source keys pass through load_data untouched and
// are checked by the ConfigSection its reader gets.
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/read.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <utility>

#include "dgm/codec.h"
#include "dgm/comm.h"
#include "dgm/distributed.h"
#include "dgm/rng.h"
#include "dgm/io/atomic_file.h"
#include "formats.h"

namespace dgm {

// ---------------------------------------------------------------- Records

Records::Records(const Space& space, std::string n) : data(space), name(std::move(n)) {}

std::string Records::source(size_t i) const {
  if (!item.empty()) return items[item[i]] + "#" + std::to_string(i - item_first_[item[i]] + 1);
  if (!own_.empty() && !own_[i].empty()) return own_[i];
  if (!by_line_ && data.size() == 1) return name;
  return name + (by_line_ ? ":" : "#") + std::to_string(record_[i]);
}

void Records::record(uint64_t number, const std::function<void()>& parse) {
  current_ = number;
  const size_t before = data.size(), items_before = items.size();
  try {
    parse();
  } catch (const Error& e) {
    if (!dynamic_cast<const DataError*>(&e) && !dynamic_cast<const FormatError*>(&e)) throw;
    if (max_errors == 0) throw;
    // The record's samples (and items) are dropped; the policy decides whether to go on.
    if (data.size() > before) data = data.slice(0, before);
    record_.resize(before);
    if (!own_.empty()) own_.resize(before);
    if (!item.empty()) item.resize(before);
    items.resize(items_before);
    item_first_.resize(items_before);
    ++errors_;
    if (on_error) on_error(e.what());
    if (errors_ >= max_errors)
      throw DataError(name + ": stopped after " + std::to_string(errors_) + " bad records" +
                      (hint.empty() ? "" : "; " + hint));
  }
}

void Records::push(const int32_t* x, int64_t length, int32_t label) {
  data.push_back(x, length, label);
  record_.push_back(current_);
  if (!items.empty()) item.push_back(uint32_t(items.size() - 1));
}

void Records::begin_item(const std::string& name) {
  if (items.empty() && !data.empty())
    throw std::logic_error("Records::begin_item: samples were pushed outside any item");
  items.push_back(name);
  item_first_.push_back(data.size());
}

std::pair<size_t, size_t> Records::item_range(size_t k) const {
  return {item_first_[k], k + 1 < item_first_.size() ? item_first_[k + 1] : data.size()};
}

void Records::set_source(size_t i, const std::string& source) {
  if (own_.size() < data.size()) own_.resize(data.size());
  own_[i] = source;
}

void Records::mark_bulk(size_t first_sample) {
  // A part's records are numbered as in the whole file.
  const uint64_t base = part ? this->first : 0;
  for (size_t i = first_sample; i < data.size(); ++i) record_.push_back(base + uint64_t(i - first_sample + 1));
  by_line_ = false;
}

void Records::take_part(uint64_t n, uint64_t* begin, uint64_t* end) {
  *begin = 0;
  *end = n;
  if (!part_of) return;
  const uint64_t P = uint64_t(part_of->size()), r = uint64_t(part_of->rank());
  *begin = n * r / P;
  *end = n * (r + 1) / P;
  part = counted = true;
  first = *begin;
  total = n;
}

void Records::keep(size_t begin, size_t end) {
  if (!unknown.empty()) {  // one flag a value: the values of rows [begin, end)
    size_t v0 = 0, v1 = 0;
    for (size_t i = 0; i < end; ++i) (i < begin ? v0 : v1) += size_t(data.length(i));
    unknown = std::vector<uint8_t>(unknown.begin() + long(v0), unknown.begin() + long(v0 + v1));
  }
  data = data.slice(begin, end);
  record_ = std::vector<uint64_t>(record_.begin() + long(begin), record_.begin() + long(end));
  if (!own_.empty()) own_ = std::vector<std::string>(own_.begin() + long(begin), own_.begin() + long(end));
  if (!chars.empty()) chars = std::vector<int64_t>(chars.begin() + long(begin), chars.begin() + long(end));
}

namespace {

struct Format {
  const char* name;
  io::Reader read;
  io::TextWriter write_text;  // text formats
  io::FileWriter write_file;  // binary files and image directories
  std::vector<std::string> keys;  // source keys the reader understands
  io::SpaceCheck check;           // the spaces it holds (null: any)
  io::Prober probe = nullptr;     // formats whose header defines the space
};

const Format kFormats[] = {
    {"grid", io::read_grid, io::write_grid, nullptr, {}, io::check_grid_space},
    {"lines", io::read_lines, io::write_lines, nullptr, {}, nullptr},
    {"csv", io::read_csv, io::write_csv, nullptr, {"label_column"}, nullptr},
    {"jsonl", io::read_jsonl, io::write_jsonl, nullptr, {}, nullptr},
    {"image", io::read_images, nullptr, io::write_images, {"threshold"}, io::check_image_space, io::probe_images},
    {"idx", io::read_idx, nullptr, io::write_idx, {"labels", "threshold"}, io::check_byte_space, io::probe_idx},
    {"cifar", io::read_cifar, nullptr, io::write_cifar, {}, io::check_byte_space, io::probe_cifar},
    {"npy", io::read_npy, nullptr, io::write_npy, {"labels", "threshold"}, io::check_npy_space, io::probe_npy},
};

const Format* find_plain(const std::string& name) {
  for (const auto& f : kFormats)
    if (name == f.name) return &f;
  return nullptr;
}

bool codec_owns(const Codec* codec, const std::string& name) {
  if (!codec) return false;
  const auto f = codec->formats();
  return std::find(f.begin(), f.end(), name) != f.end();
}

void check_format(const std::string& name, const std::string& where, const Codec* codec) {
  if (codec_owns(codec, name) || find_plain(name)) return;
  std::string known;
  for (const auto& n : format_names(codec)) known += (known.empty() ? "" : ", ") + n;
  std::string hint;
  if (name == "png") hint = " ('image' reads and writes PNG files)";
  else if (name == "text" && !codec) hint = " (text needs a model trained on text, or a config with \"format\": \"text\")";
  throw ConfigError(where + ": unknown format '" + name + "'" + hint + " (known: " + known + ")");
}

// Keys of the "data" section that load_data itself reads; every other key is
// a source key (format, threshold, label_column, ...) passed to each split.
const std::vector<std::string> kSplitKeys = {
    "train", "validation", "test", "labels", "train_labels", "validation_labels", "test_labels",
    "validation_fraction", "validation_count", "validation_split", "limit"};

// The first bytes of a file (up to 4 KiB); empty for a directory or a file that cannot be read.
std::string head_of(const std::string& path) {
  if (io::is_directory(path)) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string buf(4096, '\0');
  in.read(&buf[0], std::streamsize(buf.size()));
  buf.resize(size_t(in.gcount()));
  return buf;
}

bool starts(const std::string& s, const char* prefix, size_t n) { return s.size() >= n && std::memcmp(s.data(), prefix, n) == 0; }

// The format the first bytes of a file show, or "" when they do not say.
// Lines of digits are grids when their length is a grid row of `space`
// (separated by blank lines), else one sample a line.
std::string sniff(const std::string& head, const Space* space) {
  if (head.empty()) return "";
  if (starts(head, "\x89PNG\r\n\x1a\n", 8) || starts(head, "\xff\xd8\xff", 3) || starts(head, "BM", 2) ||
      (head.size() >= 3 && head[0] == 'P' && head[1] >= '1' && head[1] <= '6' && std::isspace((unsigned char)head[2])))
    return "image";
  if (starts(head, "\x93NUMPY", 6)) return "npy";
  if (starts(head, "\x1f\x8b", 2)) return "idx";  // gzip: the only compressed format dgm reads
  if (head.size() >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] >= 1 && head[3] <= 8) return "idx";
  if (head.find('\0') != std::string::npos) return "";
  // Text: look at the complete lines of the head (the last one may be cut).
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find('\n', pos);
    if (end == std::string::npos) {
      if (head.size() < 4096) lines.push_back(head.substr(pos));
      break;
    }
    lines.push_back(head.substr(pos, end - pos));
    pos = end + 1;
  }
  bool grid = true, digits = true, json_lines = true, commas = true, any = false, blank = false;
  size_t shortest = SIZE_MAX, longest = 0;
  for (std::string l : lines) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (l.find_first_not_of(" \t") == std::string::npos) {
      blank = any;
      continue;
    }
    any = true;
    const size_t value_part = std::min(l.size(), l.find('\t'));
    shortest = std::min(shortest, value_part);
    longest = std::max(longest, value_part);
    const bool label = l.compare(0, 6, "label ") == 0;
    if (!label && l.find_first_not_of("#. \t") != std::string::npos) grid = false;
    if (l.find_first_not_of("0123456789 \t") != std::string::npos) digits = false;
    if (l.find_first_not_of(" \t") != l.find('{')) json_lines = false;
    if (l.find(',') == std::string::npos || l.find_first_not_of("0123456789,- \t") != std::string::npos) commas = false;
  }
  if (!any) return "";
  if (grid) return "grid";
  if (json_lines) return "jsonl";
  if (commas) return "csv";
  if (digits) {
    if (space && !space->variable_length() && space->levels() <= 10 && space->shape().size() <= 3) {
      const int64_t cols = space->shape().back();
      if (int64_t(longest) == cols && int64_t(shortest) == cols && cols != space->dims() && (blank || lines.size() > 1))
        return "grid";
    }
    return "lines";
  }
  return "";
}

// Whether a file whose head is `head` can be of format `f` (the model's
// own): the content must not point elsewhere. Digit grids sniff as lines.
bool fits(const std::string& f, const std::string& head, const std::string& sniffed, const Codec* codec) {
  if (codec_owns(codec, f)) return codec->recognise(head) == f;
  if (f == "cifar") return sniffed.empty() && !head.empty();
  return sniffed == f;
}

json source_object(const json& source, const std::string& where) {
  json src = source.is_string() ? json{{"path", source}} : source;
  if (!src.is_object())
    throw ConfigError(where + ": expected a path or an object {\"path\": ..., \"format\": ...}, got " + source.dump());
  return src;
}

// A source's path, and its format: the one given, else detected; checked.
std::pair<std::string, std::string> path_and_format(ConfigSection& opts, const std::string& where,
                                                    const Codec* codec, const Space* space) {
  const json path_json = opts.get_json("path");
  if (!path_json.is_string() || path_json.get<std::string>().empty())
    throw ConfigError(where + ".path: missing (a file name, a directory, or - for stdin)");
  const std::string path = path_json.get<std::string>();
  std::string name = opts.get_string("format", "");
  if (name.empty()) name = detect_format(path, "", codec, space);
  check_format(name, where + ".format", codec);
  return {path, name};
}

void read_into(const json& source, const std::string& where, const Codec* codec, Records& out) {
  const json src = source_object(source, where);
  ConfigSection opts(src, where);
  // Named, not a structured binding: the lambda below captures them (C++17
  // allows no capture of a binding; clang refuses it).
  const std::pair<std::string, std::string> source_format = path_and_format(opts, where, codec, &out.data.space());
  const std::string& path = source_format.first;
  const std::string& name = source_format.second;
  const Format* format = codec_owns(codec, name) ? nullptr : find_plain(name);
  if (format) {
    if (path == "-" && !format->write_text)
      throw ConfigError(where + ".path: '-' (stdin) is read only by the text formats (grid, lines, csv, jsonl), not " +
                        std::string(format->name));
    // Unknown keys are refused before reading anything.
    opts.allow(format->keys);
    opts.finish();
  }
  auto read = [&] {
    // Memory the budget did not foresee runs out here as a line naming the input.
    try {
      if (format) format->read(path, opts, out);
      else codec->read(path, name, opts, out);
    } catch (const std::bad_alloc&) {
      throw DataError(out.name + ": out of memory reading it (after " + std::to_string(out.data.size()) + " samples)");
    } catch (const DataError& e) {
      // The dataset's own size checks name no file.
      if (std::string(e.what()).rfind("dataset ", 0) == 0) throw DataError(out.name + ": " + e.what());
      throw;
    }
  };
  if (!out.part_of) {
    read();
    if (out.data.empty() && out.errors() == 0) throw FormatError(out.name + ": no samples");
    return;
  }
  // A part on each rank: every rank reads, and a failure on any (a missing or
  // unreadable shard, a bad record) stops all, with the first failing rank's
  // message (the earliest in the file).
  Communicator& comm = *out.part_of;
  std::string error;
  try {
    read();
  } catch (const CollectiveError&) {
    throw;
  } catch (const std::exception& e) {
    error = e.what();
  }
  comm.check(error);
  if (!out.part) {  // read whole: keep this rank's part
    out.total = out.data.size();
    const uint64_t P = uint64_t(comm.size()), r = uint64_t(comm.rank());
    out.first = out.total * r / P;
    out.keep(size_t(out.first), size_t(out.total * (r + 1) / P));
    out.part = out.counted = true;
  } else if (!out.counted) {
    const ShardPlace place = shard_place(comm, out.data.size());
    out.first = place.offset;
    out.total = place.total;
    out.counted = true;
  }
  if (out.total == 0 && out.errors() == 0) throw FormatError(out.name + ": no samples");
}

}  // namespace

std::vector<std::string> format_names(const Codec* codec) {
  std::vector<std::string> names;
  if (codec) names = codec->formats();
  for (const auto& f : kFormats) names.push_back(f.name);
  return names;
}

std::string format_problem(const std::string& format, const Space& space, const Codec* codec) {
  if (codec_owns(codec, format)) return "";
  const Format* f = find_plain(format);
  if (!f) {
    try {
      check_format(format, "format", codec);
    } catch (const ConfigError& e) {
      return e.what();
    }
  }
  if (!f->check) return "";
  try {
    f->check(space, format);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool is_stream_format(const std::string& format, const Codec* codec) {
  if (codec_owns(codec, format)) return codec->streams(format);
  const Format* f = find_plain(format);
  return f && f->write_text;
}

std::string infer_format(const std::string& path) {
  // A folder, or a name that ends in '/' (a folder to be written), holds images.
  if (path != "-" && (io::is_directory(path) || path.back() == '/')) return "image";
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

std::string detect_format(const std::string& path, const std::string& preferred, const Codec* codec,
                          const Space* space) {
  // A folder: of the model's own files (a codec's format), else of images.
  if (path != "-" && io::is_directory(path)) return codec_owns(codec, preferred) ? preferred : "image";
  const std::string head = path == "-" ? io::stdin_bytes().substr(0, 4096) : head_of(path);
  const std::string sniffed = sniff(head, space);
  if (!preferred.empty() && fits(preferred, head, sniffed, codec)) return preferred;
  // A name ending in one of the codec's formats (clip.wav, clip.gif) is read in it, whatever its bytes.
  if (codec) {
    const std::string ext = io::lower(std::filesystem::path(path).extension().string());
    if (ext.size() > 1 && codec_owns(codec, ext.substr(1))) return ext.substr(1);
  }
  if (codec) {
    const std::string c = codec->recognise(head);
    // The codec's reading wins over the plain reading of the same bytes (text
    // a text codec tokenizes, an image a video codec takes as a frame).
    if (!c.empty() && (sniffed.empty() || sniffed == "lines" || sniffed == "csv" || sniffed == "image")) return c;
  }
  if (!sniffed.empty()) return sniffed;
  if (path == "-") return !preferred.empty() ? preferred : codec ? codec->formats().front() : "lines";
  return infer_format(path);
}

Records read_records(const json& source, const Space& space, const Codec* codec,
                     const std::function<void(Records&)>& policy) {
  std::string path;
  if (source.is_string()) path = source.get<std::string>();
  else if (source.is_object() && source.contains("path") && source["path"].is_string()) path = source["path"].get<std::string>();
  Records out(space, input_name(path));
  if (policy) policy(out);
  read_into(source, "data", codec, out);
  return out;
}

SpaceHint probe_space(const json& source) {
  const json src = source_object(source, "data");
  ConfigSection opts(src, "data");
  const auto [path, name] = path_and_format(opts, "data", nullptr, nullptr);
  const Format& format = *find_plain(name);
  opts.allow(format.keys);
  opts.finish();
  return format.probe && path != "-" ? format.probe(path, opts) : SpaceHint{};
}

Dataset read_dataset(const json& source, const Space& space, const Codec* codec) {
  return std::move(read_records(source, space, codec).data);
}

void write_dataset(const Dataset& data, std::ostream& out, const std::string& format, const Codec* codec) {
  check_format(format, "write", codec);
  if (codec_owns(codec, format)) {
    if (!codec->streams(format)) throw ConfigError("write: the " + format + " format is written to files, not to a stream");
    codec->write(data, format, out);
  } else {
    const Format& f = *find_plain(format);
    if (!f.write_text) throw ConfigError("write: the " + format + " format is written to files, not to a stream");
    f.write_text(data, out);
  }
  if (!out) throw IoError("write error");
}

void write_dataset(const Dataset& data, const std::string& path, const std::string& format, const Codec* codec) {
  const std::string name = format.empty() ? infer_format(path) : format;
  check_format(name, "write " + path, codec);
  if (is_stream_format(name, codec)) {
    write_file_atomically(path, [&](std::ostream& out) { write_dataset(data, out, name, codec); });
  } else if (codec_owns(codec, name)) {
    if (path == "-") throw ConfigError("-: the " + name + " format cannot be written to stdout");
    codec->write_file(data, name, path);
  } else {
    const Format& f = *find_plain(name);
    if (path == "-") throw ConfigError("-: the " + std::string(f.name) + " format cannot be written to stdout");
    f.write_file(data, path);
  }
}

std::string labels_path(const std::string& path, const std::string& format) {
  if (format == "idx") return idx_labels_path(path);
  if (format == "npy") return npy_labels_path(path);
  return "";
}

namespace {

// read_split, or with comm this rank's part of the split's file.
Records read_split_in(const json& data_section, const std::string& split, const Space& space, const Codec* codec,
                      Communicator* comm);

}  // namespace

Records read_split(const json& data_section, const std::string& split, const Space& space, const Codec* codec) {
  return read_split_in(data_section, split, space, codec, nullptr);
}

namespace {

Records read_split_in(const json& data_section, const std::string& split, const Space& space, const Codec* codec,
                      Communicator* comm) {
  if (!data_section.is_object() || !data_section.contains(split))
    throw ConfigError("data." + split + ": missing");
  // The split's source: its path or object, the shared source keys, its labels.
  json src = json::object();
  for (auto it = data_section.begin(); it != data_section.end(); ++it)
    if (std::find(kSplitKeys.begin(), kSplitKeys.end(), it.key()) == kSplitKeys.end()) src[it.key()] = it.value();
  const json& v = data_section[split];
  if (v.is_string()) {
    src["path"] = v;
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) src[it.key()] = it.value();
  } else {
    throw ConfigError("data." + split + ": expected a path or a source object, got " + v.dump());
  }
  auto str = [&](const std::string& key) {
    if (!data_section.contains(key)) return std::string();
    if (!data_section[key].is_string()) throw ConfigError("data." + key + ": expected a path");
    return data_section[key].get<std::string>();
  };
  std::string labels = split == "train" ? str("labels") : "";
  if (labels.empty()) labels = str(split + "_labels");
  if (!labels.empty()) src["labels"] = labels;
  const std::string path = src.contains("path") && src["path"].is_string() ? src["path"].get<std::string>() : "";
  Records r(space, input_name(path));
  r.part_of = comm;
  read_into(src, "data." + split, codec, r);
  return r;
}

}  // namespace

namespace {

// The validation rows, `take` of n drawn under the seed, sorted: the same
// rows in one process and over any number of ranks.
std::vector<size_t> drawn_validation_rows(size_t n, size_t take, uint64_t seed) {
  Rng rng(seed, 0x5EED5B17ULL);
  std::vector<size_t> rows = draw_distinct(rng, n, take);
  std::sort(rows.begin(), rows.end());
  return rows;
}

// How many training samples validation_fraction or validation_count take.
size_t validation_take(size_t n, bool has_fraction, double fraction, bool has_count, int64_t count) {
  size_t take = 0;
  if (has_fraction) take = size_t(double(n) * fraction + 0.5);
  else if (has_count) take = size_t(count);
  if (take >= n && (has_fraction || has_count))
    throw ConfigError("data: the validation split takes " + std::to_string(take) + " of the " + std::to_string(n) +
                      " training samples, leaving none to train on");
  return take;
}

}  // namespace

DataSplits load_data(const json& data_section, const Space& space, uint64_t seed, const Codec* codec) {
  LocalCommunicator one;
  return load_data(data_section, space, seed, codec, one);
}

DataSplits load_data(const json& data_section, const Space& space, uint64_t seed, const Codec* codec,
                     Communicator& comm) {
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
  const bool has_split = sec.has("validation_split");
  const std::string split = sec.get_choice("validation_split", "random", {"random", "tail"});
  const int64_t limit = sec.get_int("limit", 0, 0, int64_t(1) << 40);
  if (int(has_fraction) + int(has_count) + int(!validation.is_null()) > 1)
    throw ConfigError("data: give at most one of 'validation', 'validation_fraction' and 'validation_count'");
  if (has_split && !has_fraction && !has_count)
    throw ConfigError("data.validation_split: only used with 'validation_fraction' or 'validation_count'");

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

  if (validation.is_null() && !validation_labels.empty())
    throw ConfigError("data.validation_labels: given without data.validation");
  if (test.is_null() && !test_labels.empty()) throw ConfigError("data.test_labels: given without data.test");
  if (comm.size() > 1) {
    // Distributed: each rank reads its part of each file; the rows then go
    // to the ranks whose shards (shard_range of each split) hold them, so
    // that the splits are those one process makes, cut in blocks.
    const int P = comm.size();
    constexpr uint64_t kValidKey = uint64_t(1) << 63;  // validation rows sort after the training rows
    DataSplits s;
    Records train_part = read_split_in(data_section, "train", space, codec, &comm);
    const size_t n = size_t(train_part.total);
    const size_t take = validation_take(n, has_fraction, fraction, has_count, count);
    size_t n_train = n - take;
    if (limit > 0 && size_t(limit) < n_train) n_train = size_t(limit);
    const std::vector<size_t> drawn =
        take > 0 && split != "tail" ? drawn_validation_rows(n, take, seed) : std::vector<size_t>();
    std::vector<int> dest;
    std::vector<uint64_t> key;
    std::vector<size_t> rows;
    for (size_t k = 0; k < train_part.data.size(); ++k) {
      const size_t g = size_t(train_part.first) + k;
      bool valid;
      size_t pos;  // in its split, in file order
      if (split == "tail" || take == 0) {
        valid = g >= n - take;
        pos = valid ? g - (n - take) : g;
      } else {
        const size_t before = size_t(std::lower_bound(drawn.begin(), drawn.end(), g) - drawn.begin());
        valid = before < drawn.size() && drawn[before] == g;
        pos = valid ? before : g - before;
      }
      if (!valid && pos >= n_train) continue;  // past data.limit
      dest.push_back(valid ? shard_owner(take, pos, P) : shard_owner(n_train, pos, P));
      key.push_back(valid ? kValidKey | pos : pos);
      rows.push_back(k);
    }
    const Dataset kept = train_part.data.subset(rows);
    const std::string train_name = train_part.name;
    train_part = Records(space, "");
    ReceivedRows got = exchange_rows(comm, kept, dest, key);
    const size_t cut = size_t(std::lower_bound(got.keys.begin(), got.keys.end(), kValidKey) - got.keys.begin());
    s.train = got.rows.slice(0, cut);
    s.validation = got.rows.slice(cut, got.rows.size());
    if (s.train.size() != shard_range(n_train, comm.rank(), P).size() ||
        s.validation.size() != shard_range(take, comm.rank(), P).size())
      throw Error("load_data: rows lost while sharing out " + train_name);
    auto whole = [&](const std::string& name) {
      Records part = read_split_in(data_section, name, space, codec, &comm);
      std::vector<int> to(part.data.size());
      std::vector<uint64_t> at(part.data.size());
      for (size_t k = 0; k < part.data.size(); ++k) {
        at[k] = part.first + k;
        to[k] = shard_owner(part.total, at[k], P);
      }
      return exchange_rows(comm, part.data, to, at).rows;
    };
    if (!validation.is_null()) s.validation = whole("validation");
    s.test = test.is_null() ? Dataset(space) : whole("test");
    return s;
  }

  auto source_for = [&](const std::string& name) {
    Records r = read_split(data_section, name, space, codec);
    return std::move(r.data);
  };

  DataSplits s;
  s.validation = Dataset(space);
  s.test = Dataset(space);
  s.train = source_for("train");
  if (!validation.is_null()) s.validation = source_for("validation");
  else if (!validation_labels.empty()) throw ConfigError("data.validation_labels: given without data.validation");
  if (!test.is_null()) s.test = source_for("test");
  else if (!test_labels.empty()) throw ConfigError("data.test_labels: given without data.test");

  const size_t n = s.train.size();
  const size_t take = validation_take(n, has_fraction, fraction, has_count, count);
  if (take > 0) {
    if (split == "tail") {
      s.validation = s.train.split_tail(take);
    } else {
      // The drawn rows, and the rest; both keep the file's order.
      const std::vector<size_t> val = drawn_validation_rows(n, take, seed);
      std::vector<size_t> keep;
      keep.reserve(n - take);
      for (size_t i = 0, v = 0; i < n; ++i) {
        if (v < val.size() && val[v] == i) ++v;
        else keep.push_back(i);
      }
      s.validation = s.train.subset(val);
      s.train = s.train.subset(keep);
    }
  }
  if (limit > 0 && size_t(limit) < s.train.size()) s.train = s.train.slice(0, size_t(limit));
  return s;
}

void resolve_data_paths(json& data, const std::string& base) {
  if (!data.is_object() || base.empty()) return;
  namespace fs = std::filesystem;
  auto fix = [&](json& v) {
    if (!v.is_string()) return;
    const std::string p = v.get<std::string>();
    if (p.empty() || p == "-" || fs::path(p).is_absolute()) return;
    v = (fs::path(base) / p).lexically_normal().string();
  };
  for (const char* key : {"train", "validation", "test", "labels", "train_labels", "validation_labels", "test_labels"}) {
    if (!data.contains(key)) continue;
    json& v = data[key];
    if (v.is_object()) {
      if (v.contains("path")) fix(v["path"]);
      if (v.contains("labels")) fix(v["labels"]);
    } else {
      fix(v);
    }
  }
}

}  // namespace dgm
