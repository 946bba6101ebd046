// cmd_stats.cc — `dgm stats`: reads a dataset (a config's "data" section or
// one --data source), builds its empirical distribution (dgm/stats.h) and
// prints N, D, the space, |X|, distinct samples, duplicates, entropy, support,
// the most frequent samples and label counts; validation / test splits also
// get validity, novelty and coverage against train. --json prints the same.
#include "cmd_stats.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/read.h"
#include "dgm/stats.h"

namespace dgm::cli {
namespace {

struct Split {
  std::string name;
  std::string source;  // what it was read from, for the reader
  const Dataset* data;
};

// A source in the "data" section: a path, or an object with "path".
std::string source_name(const json& data, const std::string& key) {
  if (!data.is_object() || !data.contains(key)) return "";
  const json& v = data.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("path") && v.at("path").is_string()) return v.at("path").get<std::string>();
  return "";
}

// Grids of '#' and '.' are drawn for binary 2-D spaces up to 32x32.
bool drawable(const Space& s) {
  return s.is_binary() && !s.variable_length() && s.shape().size() == 2 && s.shape()[0] <= 32 && s.shape()[1] <= 32;
}

// A sample on one line: its first values, then how many there are.
std::string short_line(const Dataset& d, size_t i) {
  const int64_t len = d.length(i);
  const int64_t shown = std::min<int64_t>(len, 24);
  std::ostringstream os;
  if (d.space().variable_length()) os << "length " << len << ": ";
  for (int64_t t = 0; t < shown; ++t) os << (t ? " " : "") << d.at(i, t);
  if (shown < len) os << " ... (" << len << " values)";
  return os.str();
}

void print_grids(const Dataset& d, const std::vector<EmpiricalEntry>& top, std::ostream& out) {
  const int64_t H = d.space().shape()[0], W = d.space().shape()[1];
  const size_t col = size_t(std::max<int64_t>(W, 3)) + 2;
  const size_t per_line = std::max<size_t>(1, 76 / col);
  for (size_t g = 0; g < top.size(); g += per_line) {
    const size_t end = std::min(top.size(), g + per_line);
    std::string head = "    ";
    for (size_t r = g; r < end; ++r) {
      std::string tag = "#" + std::to_string(r + 1);
      head += tag + std::string(col > tag.size() ? col - tag.size() : 1, ' ');
    }
    while (!head.empty() && head.back() == ' ') head.pop_back();
    out << head << "\n";
    for (int64_t y = 0; y < H; ++y) {
      std::string line = "    ";
      for (size_t r = g; r < end; ++r) {
        for (int64_t x = 0; x < W; ++x) line += d.at(top[r].first_row, y * W + x) ? '#' : '.';
        line += std::string(col - size_t(W), ' ');
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << "\n";
    }
  }
}

std::string fraction_string(const Empirical& e) {
  const double f = e.support_fraction();
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(2);
  os << "10^" << e.support_log10_fraction();
  const std::string log10_form = os.str();
  if (e.num_distinct() == 0) return "0";
  if (f > 1e-300) return format_number(f, 6) + " = " + log10_form;
  return log10_form;
}

json split_json(const Split& s, const Empirical& e, size_t k) {
  const Dataset& d = *s.data;
  json j;
  j["source"] = s.source;
  j["samples"] = d.size();
  j["distinct"] = e.num_distinct();
  j["duplicates"] = e.num_duplicates();
  j["entropy_nats"] = e.entropy();
  j["entropy_bits"] = e.entropy_bits();
  j["support_size"] = e.support_size();
  j["support_fraction"] = e.support_fraction();
  // -infinity (empty set) has no JSON form: null.
  j["support_log10_fraction"] = e.num_distinct() ? json(e.support_log10_fraction()) : json(nullptr);
  json top = json::array();
  const auto entries = e.top(k);
  for (size_t r = 0; r < entries.size(); ++r) {
    json t;
    t["rank"] = r + 1;
    t["count"] = entries[r].count;
    t["prob"] = entries[r].prob;
    t["first_row"] = entries[r].first_row;
    t["values"] = d.row(entries[r].first_row);
    if (d.has_labels()) t["label"] = d.label(entries[r].first_row);
    top.push_back(t);
  }
  j["top"] = top;
  if (d.has_labels()) {
    j["label_counts"] = e.label_counts();
    j["unlabeled"] = e.num_unlabeled();
  }
  return j;
}

void print_split(const Split& s, const Empirical& e, size_t k, std::ostream& out) {
  const Dataset& d = *s.data;
  out << "\n" << s.name;
  if (!s.source.empty()) out << " (" << s.source << ")";
  out << "\n";
  out << "  samples (N)   " << d.size() << "\n";
  out << "  distinct      " << e.num_distinct() << "\n";
  out << "  duplicates    " << e.num_duplicates() << "\n";
  out << "  entropy       " << format_number(e.entropy(), 6) << " nats = " << format_number(e.entropy_bits(), 6)
      << " bits\n";
  out << "  support       " << e.support_size() << " points, fraction of X " << fraction_string(e) << "\n";
  const auto top = e.top(k);
  if (!top.empty()) {
    out << "  top " << top.size() << " samples:\n";
    const bool grid = drawable(d.space());
    for (size_t r = 0; r < top.size(); ++r) {
      const size_t i = top[r].first_row;
      out << "    #" << r + 1 << "  count " << top[r].count << "  p " << format_number(top[r].prob, 4);
      if (d.has_labels()) out << "  label " << d.label(i);
      if (!grid) out << "  " << short_line(d, i);
      out << "\n";
    }
    if (grid) print_grids(d, top, out);
  }
  if (d.has_labels()) {
    const auto counts = e.label_counts();
    out << "  labels       ";
    for (size_t y = 0; y < counts.size(); ++y) out << " " << y << ":" << counts[y];
    if (e.num_unlabeled()) out << " unlabeled:" << e.num_unlabeled();
    out << "\n";
  }
}

}  // namespace

int run_stats(const StatsOptions& o, std::ostream& out, std::ostream& log) {
  if (o.top < 0) throw ConfigError("--top: must be >= 0, got " + std::to_string(o.top));
  const auto t0 = std::chrono::steady_clock::now();
  Space space;
  DataSplits splits;
  std::vector<Split> order;
  if (!o.config.empty()) {
    json cfg = load_config(o.config, o.overrides);
    const std::string name = input_name(o.config);
    // The same sections and keys as `dgm train` reads (an unknown one is an error).
    ConfigSection top(cfg, name);
    top.allow({"space", "data", "model", "train", "output"});
    top.finish();
    if (!cfg.is_object() || !cfg.contains("space")) throw ConfigError(name + ": missing section 'space'");
    if (!cfg.contains("data")) throw ConfigError(name + ": missing section 'data'");
    std::shared_ptr<const Codec> codec = fit_codec(cfg["data"], cfg["space"], &space);
    // The model and train sections are checked as train checks them (a typo
    // is an error here too), without fitting anything.
    if (cfg.contains("model")) (void)create_model(space, cfg["model"], cfg.contains("train") ? cfg["train"] : json());
    // The seed that shuffles the validation split, as training would use it.
    uint64_t seed = 1;
    if (cfg.contains("train") && cfg["train"].is_object() && cfg["train"].contains("seed")) {
      const json& js = cfg["train"]["seed"];
      if (!js.is_number_integer() || js.get<int64_t>() < 0)
        throw ConfigError(o.config + ": train.seed: expected an integer >= 0, got " + js.dump());
      seed = js.get<uint64_t>();
    }
    // The model and train sections are checked as training checks them.
    if (cfg.contains("model")) (void)create_model(space, cfg["model"], cfg.contains("train") ? cfg["train"] : json());
    const json& data = cfg.at("data");
    splits = load_data(data, space, seed, codec.get());
    order.push_back({"train", source_name(data, "train"), &splits.train});
    const std::string vsrc = source_name(data, "validation");
    order.push_back({"validation", vsrc.empty() ? "held out from train" : vsrc, &splits.validation});
    order.push_back({"test", source_name(data, "test"), &splits.test});
  } else {
    if (o.data.empty()) throw ConfigError("stats: give --config FILE or --data PATH with --shape and --levels");
    if (o.shape.empty() || o.levels == 0) throw ConfigError("--data needs --shape and --levels (e.g. --shape 5x5 --levels 2)");
    if (o.variable_length) {
      if (o.shape.size() != 1)
        throw ConfigError("--variable-length: --shape must be one extent, the maximum length (e.g. --shape 64)");
      if (o.labels) throw ConfigError("--labels: variable-length sequences carry no labels");
      space = Space::sequence(o.shape[0], o.levels);
    } else {
      space = Space::tensor(o.shape, o.levels, o.labels);
    }
    if (!o.labels_file.empty() && o.labels == 0)
      throw ConfigError("--labels-file needs --labels N, the number of label classes");
    json source = {{"path", o.data}};
    if (!o.format.empty()) source["format"] = o.format;
    if (!o.labels_file.empty()) source["labels"] = o.labels_file;
    if (o.threshold >= 0) source["threshold"] = o.threshold;
    splits.train = read_dataset(source, space);
    order.push_back({"train", o.data, &splits.train});
  }
  const auto t1 = std::chrono::steady_clock::now();
  log << "dgm stats: read " << splits.train.size() << " training samples";
  if (!splits.validation.empty()) log << ", " << splits.validation.size() << " validation";
  if (!splits.test.empty()) log << ", " << splits.test.size() << " test";
  log << " in " << format_number(std::chrono::duration<double>(t1 - t0).count(), 3) << " s\n";

  const size_t k = size_t(o.top);
  const Empirical train(splits.train);
  json j;
  j["space"] = space.to_json();
  j["space_describe"] = space.describe();
  j["dims"] = space.dims();
  j["log2_size"] = space.log2_size();
  j["size"] = space.size_string();
  j["splits"] = json::object();
  if (!o.json) {
    out << "space         " << space.describe() << "\n";
    out << "dims (D)      " << space.dims() << (space.variable_length() ? " (maximum length)" : "") << "\n";
    out << "|X|           " << space.size_string() << "\n";
  }
  for (const Split& s : order) {
    if (s.data->empty() && s.name != "train") continue;
    std::unique_ptr<Empirical> own;
    if (s.data != &splits.train) own = std::make_unique<Empirical>(*s.data);
    const Empirical& e = own ? *own : train;
    json sj = split_json(s, e, k);
    if (!o.json) print_split(s, e, k, out);
    if (own) {
      const Overlap ov = train.compare(*s.data);
      sj["vs_train"] = {{"validity", ov.validity}, {"novelty", ov.novelty}, {"coverage", ov.coverage},
                        {"inside", ov.num_inside}, {"reached", ov.num_reached}};
      if (!o.json) {
        out << "  vs train      validity " << format_number(ov.validity, 4) << " (" << ov.num_inside << " of "
            << ov.num_samples << " in the train support), novelty " << format_number(ov.novelty, 4)
            << ", coverage " << format_number(ov.coverage, 4) << " (" << ov.num_reached << " of "
            << train.num_distinct() << " distinct train samples)\n";
      }
    }
    j["splits"][s.name] = sj;
  }
  if (o.json) out << j.dump(2) << "\n";
  const auto t2 = std::chrono::steady_clock::now();
  log << "dgm stats: counted in " << format_number(std::chrono::duration<double>(t2 - t1).count(), 3) << " s\n";
  return 0;
}

void add_stats(CLI::App& app, Action& action) {
  auto o = std::make_shared<StatsOptions>();
  CLI::App* sub = app.add_subcommand(
      "stats", "Statistics of a dataset's empirical distribution: distinct samples, entropy, top samples, labels");
  auto* config =
      sub->add_option("-c,--config", o->config, "JSON config; its \"space\" and \"data\" sections are used");
  auto* set = sub->add_option("--set", o->overrides, "Override a config key, e.g. --set data.limit=100 (repeatable)")
                  ->type_name("KEY=VALUE");
  auto* data = sub->add_option("-d,--data", o->data, "A data file or directory (instead of --config)");
  sub->add_option("-f,--format", o->format,
                  "Data format: grid, lines, csv, jsonl, image, idx, cifar [default: what the content shows, else "
                  "the file name]")
      ->needs(data);
  sub->add_option("--shape", o->shape_text, "Shape of a sample, e.g. 28x28, 5,5 or 1x28x28 (with --data)")
      ->needs(data);
  sub->add_option("--levels", o->levels, "Values per position, e.g. 2 for binary (with --data)")
      ->check(CLI::Range(int64_t(2), Space::kMaxLevels))
      ->needs(data);
  sub->add_option("--labels", o->labels, "Number of label classes (with --data)")
      ->check(CLI::Range(int64_t(2), Space::kMaxLabels))
      ->needs(data);
  sub->add_option("--labels-file", o->labels_file, "File of labels, one a sample (e.g. IDX labels)")->needs(data);
  sub->add_option("--threshold", o->threshold, "Binarise 8-bit values: 1 where value >= T (with --data)")
      ->check(CLI::Range(int64_t(0), int64_t(255)))
      ->needs(data);
  sub->add_flag("--variable-length", o->variable_length, "Samples are token sequences of length 0..shape (with --data)")
      ->needs(data);
  sub->add_option("-k,--top", o->top, "Show the K most frequent samples")
      ->check(CLI::Range(int64_t(0), int64_t(1000000)))
      ->capture_default_str();
  sub->add_flag("--json", o->json, "Print the figures as one JSON object");
  config->excludes(data);
  set->needs(config);
  sub->footer(
      "The empirical distribution is P^(x) = count(x) / N. Validation and test splits are also\n"
      "measured against train: validity = share of their samples inside the train support,\n"
      "novelty = share not in train, coverage = share of train's distinct samples they reach.\n"
      "Examples:\n"
      "  dgm stats --config configs/digits.json\n"
      "  dgm stats -c configs/digits.json --set data.limit=100 -k 10 --json\n"
      "  dgm stats -d /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\\n"
      "      --labels-file /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz --labels 10 \\\n"
      "      --shape 28x28 --levels 2 --threshold 128");
  sub->callback([o, &action]() {
    if (o->config.empty() && o->data.empty())
      throw CLI::RequiredError("stats: --config or --data");
    if (!o->data.empty() && (o->shape_text.empty() || o->levels == 0))
      throw CLI::ValidationError("--data", "needs --shape and --levels (e.g. --shape 5x5 --levels 2)");
    if (!o->shape_text.empty()) o->shape = parse_shape("--shape", o->shape_text);
    action = [o]() { return run_stats(*o, std::cout, std::cerr); };
  });
}

}  // namespace dgm::cli
