// cmd_score.cc — `dgm score`: exact log-likelihoods of samples under a model.
// One line per sample on stdout, tab-separated: source, log P in nats, bits
// per position (and, for a text model, tokens and OOVs); inputs whose items
// are several samples (a sound clip's frames) add a line per item. Inputs are read in
// the model's format when their content fits it, else in the format their
// content or name shows. A bad record is reported on stderr with its source
// and skipped; after 5 of them the input is abandoned with a hint; the exit
// status is then 1.
#include <cmath>
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/logmath.h"
#include "dgm/model.h"
#include "dgm/model_file.h"

namespace dgm::cli {

struct ScoreOptions {
  std::vector<std::string> inputs;
  std::string model;
  std::string format;
  bool json = false;
  bool items = false;
  int threads = 0;
};

namespace {

constexpr size_t kMaxBadRecords = 5;
constexpr size_t kBatch = 65536;

// A hint for an input that fails in `format`: the format its content shows, when another.
std::string format_hint(const std::string& input, const std::string& format, const Codec* codec, const Space& space) {
  const std::string seen = detect_format(input, "", codec, &space);
  if (seen != format) return "try -f " + seen;
  return "check the format (-f; known: " + [&] {
    std::string s;
    for (const auto& n : format_names(codec)) s += (s.empty() ? "" : ", ") + n;
    return s;
  }() + ")";
}

}  // namespace

int run_score(const ScoreOptions& opts, std::ostream& out, std::ostream& log) {
  const std::string path = resolve_model_path(opts.model);
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
  const Space& space = model->space();
  const Codec* codec = model->codec();
  if (!opts.format.empty()) require_format("--format", opts.format, *model);
  const std::string preferred = model_format(*model, header);
  const json keys = model_source_keys(header);
  // For a labeled model: the label-unknown and joint figures beside log P(x | y).
  std::vector<double> prior;
  if (space.has_labels()) prior = model->label_log_prior();
  ThreadPool pool(opts.threads);

  size_t bad = 0;
  std::vector<std::string> inputs = opts.inputs.empty() ? std::vector<std::string>{"-"} : opts.inputs;
  for (const std::string& input : inputs) {
    const std::string format = !opts.format.empty() ? opts.format : detect_format(input, preferred, codec, &space);
    json source = keys;
    source["path"] = input;
    source["format"] = format;
    if (format != "image" && format != "idx") source.erase("threshold");
    Records records(space, input);
    try {
      records = read_records(source, space, codec, [&](Records& r) {
        r.max_errors = kMaxBadRecords;
        r.hint = format_hint(input, format, codec, space);
        r.on_error = [&](const std::string& what) { log << "dgm: error: " << what << "\n"; };
      });
    } catch (const Error& e) {
      // A file that cannot be read at all, or the fifth bad record.
      log << "dgm: error: " << e.what() << "\n";
      ++bad;
      continue;
    }
    bad += records.errors();
    const Dataset& d = records.data;
    const bool text = !records.chars.empty();  // a text codec's records: tokens and OOV columns
    // Items of several samples (a sound clip's frames): one more line per
    // item after its samples, with the sums over them.
    const bool grouped = !records.item.empty();
    struct ItemSum {
      double lp = 0, marginal = 0, dims = 0;
      size_t samples = 0;
    } sum;
    auto item_line = [&](size_t k, std::string& buf) {
      const double bpd = -sum.lp / kLn2 / sum.dims;
      if (opts.json) {
        json j;
        j["source"] = records.items[k];
        j["samples"] = sum.samples;
        j["log_prob"] = json_number(sum.lp);
        j["bits_per_dim"] = json_number(bpd);
        if (space.has_labels()) j["log_prob_marginal"] = json_number(sum.marginal);
        buf += j.dump() + "\n";
      } else {
        buf += records.items[k] + "\t" + format_number(sum.lp, 10) + "\t" + format_number(bpd, 6) + "\n";
      }
      sum = ItemSum();
    };
    size_t unknown_at = 0;
    for (size_t b = 0; b < d.size(); b += kBatch) {
      const DataView view(d, b, std::min(d.size(), b + kBatch));
      const std::vector<double> lp = model->log_prob(view, pool);
      // log P(x) with the label summed out costs a score per label: only --json prints it.
      std::vector<double> marginal;
      if (space.has_labels() && opts.json) marginal = model->log_prob(view.without_labels(), pool);
      std::string buf;
      for (size_t i = 0; i < view.size(); ++i) {
        const int64_t len = view.length(i);
        const double dims = double(len) + (space.variable_length() ? 1.0 : 0.0);
        const double bpd = -lp[i] / kLn2 / dims;
        int64_t unknown = 0;
        if (!records.unknown.empty())
          for (int64_t t = 0; t < len; ++t) unknown += records.unknown[unknown_at++];
        const int32_t y = view.label(i);
        if (grouped) {
          sum.lp += lp[i];
          if (!marginal.empty()) sum.marginal += marginal[i];
          sum.dims += dims;
          ++sum.samples;
        }
        if (opts.items && grouped) {
          // only the item lines
        } else if (opts.json) {
          json j;
          j["source"] = records.source(b + i);
          j["log_prob"] = json_number(lp[i]);
          j["bits_per_dim"] = json_number(bpd);
          if (space.has_labels()) {
            j["log_prob_marginal"] = json_number(marginal[i]);
            if (y >= 0) {
              j["label"] = y;
              j["log_prob_given_label"] = json_number(lp[i]);
              j["log_joint"] = json_number(lp[i] + prior[size_t(y)]);
            }
          }
          if (text) {
            j["tokens"] = int64_t(dims);
            j["unknown"] = unknown;
          }
          if (grouped) j["item"] = records.items[records.item[b + i]];
          buf += j.dump() + "\n";
        } else {
          buf += records.source(b + i) + "\t" + format_number(lp[i], 10) + "\t" + format_number(bpd, 6);
          if (text) buf += "\t" + std::to_string(int64_t(dims)) + "\t" + std::to_string(unknown);
          buf += "\n";
        }
        if (grouped && (b + i + 1 == d.size() || records.item[b + i + 1] != records.item[b + i]))
          item_line(records.item[b + i], buf);
      }
      out << buf << std::flush;
    }
  }
  if (bad) {
    // One error is its own summary; several get a count.
    if (bad > 1) log << "dgm: " << bad << " inputs or records could not be scored\n";
    return 1;
  }
  return 0;
}

void add_score(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ScoreOptions>();
  CLI::App* sub = app.add_subcommand(
      "score",
      "Exact log-likelihood of samples: one line each, tab-separated: source, log P(x) in nats, bits/dim");
  sub->add_option("inputs", opts->inputs,
                  "Files to score (samples a line, grids, text, images, a folder of images, or any dataset "
                  "format); - for stdin [default: -]");
  sub->add_option("-m,--model", opts->model, "Model file, or - for stdin [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("-f,--format", opts->format,
                  "Input format (text, lines, grid, csv, jsonl, image, idx, cifar, npy; sound models: wav, flac, ogg; "
                  "video models: gif, frames) [default: the model's when the "
                  "content fits it, else what the content shows, else the file name]");
  sub->add_flag("--json", opts->json, "One JSON object per sample instead of tab-separated columns");
  sub->add_flag("--items", opts->items,
                "For inputs whose items are several samples (a sound clip's frames): only the line of each item");
  sub->add_option("-t,--threads", opts->threads, "Worker threads [default: all cores]")->check(CLI::Range(1, 1024));
  sub->footer(
      "Output: source<TAB>log P(x) in nats<TAB>bits/dim; text models add <TAB>tokens (</s> included)<TAB>OOV\n"
      "tokens, and their bits/dim is bits per token. The source is <stdin>:LINE or FILE:LINE for text inputs,\n"
      "the file name for an image, FILE#K for the K-th sample of a binary file. A sample of probability zero\n"
      "prints -inf. On a labeled model the column is log P(x | y) for a sample with a label and log P(x)\n"
      "(the label summed out) without one; --json gives all three: log_prob_given_label, log_prob_marginal\n"
      "and log_joint = log P(x, y). A sample outside the model's space is reported on stderr and skipped;\n"
      "after 5 bad records an input is abandoned; the exit status is then 1.\n"
      "Inputs whose items are several samples (a sound clip cut into frames) print one line per sample\n"
      "(source CLIP#K for the K-th frame) and then one line for the item (source CLIP): log P summed over\n"
      "its samples, and bits per position over all of them (bits per audio sample); --items prints only\n"
      "those. With overlapping frames (hop < frame) the sum counts a sound sample once per frame holding it.\n"
      "In --json, sample lines name their \"item\" and item lines give their number of \"samples\".\n"
      "Examples:\n"
      "  dgm sample -n 100 | dgm score -\n"
      "  dgm score image.png --model fmnist.dgm\n"
      "  dgm score data/digits/test.txt --json\n"
      "  dgm score recording.wav --model spoken-digits-wavenet.dgm --items");
  sub->callback([opts, &action] { action = [opts] { return run_score(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
