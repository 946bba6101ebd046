// cmd_convert.cc — `dgm convert IN OUT`: reads a dataset in any format dgm
// reads and writes it in any format dgm writes: IDX.gz to npy, grid to lines,
// a PNG folder to CIFAR batches, text to token ids and back through a model's
// codec. The space comes from --model, else from --shape/--levels/--labels,
// else from what the input's header says (probe_space); the command says on
// stderr where each part of it came from.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/model_file.h"

namespace dgm::cli {

struct ConvertOptions {
  std::string input, output;
  std::string from, to;  // formats; empty: detected from the content / the name
  std::string model;     // the space (and codec) of this model file
  std::string shape_text;
  std::vector<int64_t> shape;
  int64_t levels = 0;
  int64_t labels = 0;
  std::string labels_file;
  int64_t threshold = -1;
  bool variable_length = false;
  bool quiet = false;
};

namespace {

// "a, b and c".
std::string and_list(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i == 0 ? "" : i + 1 == v.size() ? " and " : ", ") + v[i];
  return s;
}

// The space of the input and, for the message, where each part came from.
Space convert_space(const ConvertOptions& o, const json& source, std::string* how) {
  SpaceHint hint;
  try {
    hint = probe_space(source);
  } catch (const Error&) {
    // A header that cannot be read is reported by the reader, with the space given.
    if (o.shape.empty() || o.levels == 0) throw;
  }
  std::vector<int64_t> shape = o.shape;
  int64_t levels = o.levels, labels = o.labels;
  std::string shape_from = "--shape", levels_from = "--levels", labels_from = "--labels";
  if (shape.empty()) {
    shape = hint.shape;
    shape_from = hint.shape_from;
  }
  if (levels == 0 && o.threshold >= 0) {
    levels = 2;
    levels_from = "--threshold";
  }
  if (levels == 0) {
    levels = hint.levels;
    levels_from = hint.levels_from;
  }
  if (labels == 0 && !o.variable_length) {
    labels = hint.labels;
    labels_from = hint.labels_from;
  }
  std::vector<std::string> missing;
  if (shape.empty()) missing.push_back("--shape");
  if (levels == 0) missing.push_back("--levels");
  if (!missing.empty())
    throw UsageError(o.input + ": the file does not say its " + std::string(shape.empty() ? "shape" : "levels") +
                     "; give " + and_list(missing) + " (e.g. --shape 28x28 --levels 256) or --model M");
  if (!o.labels_file.empty() && labels == 0)
    throw UsageError("--labels-file " + o.labels_file + ": give --labels N, the number of label classes");
  Space space;
  if (o.variable_length) {
    if (shape.size() != 1)
      throw UsageError("--variable-length: --shape is one extent, the maximum length (e.g. --shape 64)");
    if (labels) throw UsageError("--labels: variable-length sequences carry no labels");
    space = Space::sequence(shape[0], levels);
  } else {
    space = Space::tensor(shape, levels, labels);
  }
  // "shape and levels from the IDX header of x, labels from --labels"
  std::vector<std::pair<std::string, std::vector<std::string>>> parts;
  auto add = [&](const std::string& what, const std::string& from) {
    for (auto& p : parts)
      if (p.first == from) return p.second.push_back(what);
    parts.push_back({from, {what}});
  };
  add("shape", shape_from);
  add("levels", levels_from);
  if (labels) add("labels", labels_from);
  *how = "";
  for (const auto& p : parts) *how += (how->empty() ? "" : ", ") + and_list(p.second) + " from " + p.first;
  return space;
}

}  // namespace

int run_convert(const ConvertOptions& o, std::ostream& log) {
  json source = {{"path", o.input}};
  if (!o.from.empty()) source["format"] = o.from;
  if (!o.labels_file.empty()) source["labels"] = o.labels_file;
  if (o.threshold >= 0) source["threshold"] = o.threshold;

  std::unique_ptr<Model> model;
  std::shared_ptr<const Codec> codec_holder;
  const Codec* codec = nullptr;
  Space space;
  std::string how;
  if (!o.model.empty()) {
    model = open_model(o.model);
    space = model->space();
    codec = model->codec();
    how = "the model " + o.model;
  } else {
    space = convert_space(o, source, &how);
  }
  // The output format: --to, else the name; it must hold the space.
  const std::string to = !o.to.empty() ? o.to : o.output == "-" ? (codec ? codec->formats().front() : "lines")
                                                                 : infer_format(o.output);
  const std::string why = format_problem(to, space, codec);
  if (!why.empty()) throw UsageError("--to " + why);  // why names the format
  if (!o.from.empty()) {
    const std::string from_why = format_problem(o.from, space, codec);
    if (!from_why.empty()) throw UsageError("--format " + from_why);
  }
  if (o.output == "-" && !is_stream_format(to, codec))
    throw UsageError("-: the " + to + " format is written to files, not to stdout; give a file name");
  if (!o.quiet) log << "dgm convert: space " << space.describe() << " (" << how << ")\n";

  const Records records = read_records(source, space, codec);
  const Dataset& data = records.data;
  write_dataset(data, o.output, to, codec);
  if (!o.quiet) {
    log << "dgm convert: wrote " << data.size() << " samples to " << (o.output == "-" ? "stdout" : o.output) << " ("
        << to << ")";
    const std::string lp = labels_path(o.output, to);
    if (data.has_labels() && !lp.empty()) log << ", their labels to " << lp;
    log << "\n";
  }
  return 0;
}

void add_convert(CLI::App& app, Action& action) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* sub = app.add_subcommand("convert", "Convert a dataset from one format to another (npy, idx, cifar, "
                                                "image folders, grid, lines, csv, jsonl, a model's text)");
  sub->add_option("input", o->input, "The dataset to read: a file, an image folder, or - for stdin (text formats)")
      ->required();
  sub->add_option("output", o->output, "Where to write it: a file, a new folder for images, or - for stdout")
      ->required();
  sub->add_option("-f,--format", o->from, "Input format [default: what the content shows, else the file name]")
      ->type_name("FORMAT");
  sub->add_option("--to", o->to, "Output format [default: from the output's name; lines for stdout]")
      ->type_name("FORMAT");
  auto* model = sub->add_option("-m,--model", o->model,
                                "Take the space, and the codec (text, sound, video), from this model file");
  auto* shape = sub->add_option("--shape", o->shape_text,
                                "Shape of a sample, e.g. 28x28, 5,5 or 1x28x28 [default: from the input's header]");
  auto* levels = sub->add_option("--levels", o->levels, "Values per position, e.g. 2 for binary [default: from the input]")
                     ->check(CLI::Range(int64_t(2), Space::kMaxLevels));
  auto* labels = sub->add_option("--labels", o->labels, "Number of label classes [default: from the input; none]")
                     ->check(CLI::Range(int64_t(2), Space::kMaxLabels));
  sub->add_option("--labels-file", o->labels_file, "Labels of an idx or npy input, in a second file of that format");
  sub->add_option("--threshold", o->threshold, "Binarise 8-bit values: 1 where value >= T (levels become 2)")
      ->check(CLI::Range(int64_t(0), int64_t(256)));
  auto* var = sub->add_flag("--variable-length", o->variable_length,
                            "Samples are sequences of length 0..shape (lines, csv, jsonl)");
  sub->add_flag("-q,--quiet", o->quiet, "No messages on stderr");
  for (auto* opt : {shape, levels, labels, var}) opt->excludes(model);
  sub->footer(
      "The space is the model's (-m), else --shape/--levels/--labels, else what the input's header\n"
      "says (IDX, npy, CIFAR-10 records, images; a labels file gives its largest label + 1); the\n"
      "first line on stderr says which. idx and npy write labels to a second file next to OUT.\n"
      "Examples:\n"
      "  dgm convert /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz test.npy \\\n"
      "      --labels-file /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\n"
      "  dgm convert data/digits/test.txt - --shape 5x5 --levels 2 --to lines\n"
      "  dgm convert cifar-10-batches-bin/data_batch_1.bin pngs/ && dgm convert pngs/ batch.bin\n"
      "  dgm convert data/kjv/test.txt ids.txt -m kjv-word3.dgm --to lines   # text to token ids\n"
      "  dgm convert ids.txt - -m kjv-word3.dgm -f lines --to text           # and back");
  sub->callback([o, &action]() {
    if (!o->shape_text.empty()) o->shape = parse_shape("--shape", o->shape_text);
    action = [o]() { return run_convert(*o, std::cerr); };
  });
}

}  // namespace dgm::cli
