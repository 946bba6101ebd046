// cmd_score.cc — `dgm score`: exact log-likelihoods of samples under a model.
// One line per sample on stdout, tab-separated: source, log P(x) in nats,
// bits/dim. A sample outside the space is reported on stderr with its source;
// the others are still scored and the exit status is 1 at the end.
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"

namespace dgm::cli {

struct ScoreOptions {
  std::vector<std::string> inputs;
  std::string model;
  std::string format;
  bool json = false;
  int threads = 0;
};

namespace {

constexpr size_t kBatch = 65536;

bool is_directory_path(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

class Scorer {
 public:
  Scorer(const Model& model, ThreadPool& pool, bool as_json, std::ostream& out)
      : model_(model), pool_(pool), json_(as_json), out_(out), batch_(model.space()) {}

  void add(const std::vector<int32_t>& x, int32_t label, std::string source) {
    batch_.push_back(x, label);
    sources_.push_back(std::move(source));
    if (batch_.size() >= kBatch) flush();
  }
  void add_all(const Dataset& d, const std::string& name) {
    for (size_t i = 0; i < d.size(); ++i)
      add(d.row(i), d.label(i), d.size() == 1 ? name : name + "#" + std::to_string(i + 1));
  }
  void flush() {
    if (batch_.empty()) return;
    std::vector<double> lp = model_.log_prob(batch_, pool_);
    std::string text;
    for (size_t i = 0; i < lp.size(); ++i) {
      const double dims = double(batch_.length(i)) + (batch_.space().variable_length() ? 1.0 : 0.0);
      const double bpd = -lp[i] / std::log(2.0) / dims;
      if (json_) {
        json j;
        j["source"] = sources_[i];
        j["log_prob"] = std::isfinite(lp[i]) ? json(lp[i]) : json("-inf");
        j["bits_per_dim"] = std::isfinite(bpd) ? json(bpd) : json("inf");
        text += j.dump() + "\n";
      } else {
        text += sources_[i] + "\t" + format_number(lp[i], 10) + "\t" + format_number(bpd, 6) + "\n";
      }
    }
    out_ << text << std::flush;
    batch_ = Dataset(model_.space());
    sources_.clear();
  }

 private:
  const Model& model_;
  ThreadPool& pool_;
  bool json_;
  std::ostream& out_;
  Dataset batch_;
  std::vector<std::string> sources_;
};

}  // namespace

int run_score(const ScoreOptions& opts, std::ostream& out, std::ostream& log) {
  const std::string path = resolve_model_path(opts.model);
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
  const Space& space = model->space();
  // Reading options the model was trained with (e.g. the binarisation threshold).
  json data_cfg;
  if (header.contains("config") && header["config"].contains("data")) data_cfg = header["config"]["data"];
  ThreadPool pool(opts.threads);
  if (const auto* tm = dynamic_cast<const TextModel*>(model.get())) {
    // Text: one line of text a sample; columns source, log P (nats), tokens, OOVs.
    std::vector<std::string> inputs = opts.inputs.empty() ? std::vector<std::string>{"-"} : opts.inputs;
    for (const std::string& input : inputs) {
      const TextScore ts = tm->score_lines(read_text_lines(input), pool);
      std::string text;
      for (size_t i = 0; i < ts.lines.size(); ++i) {
        const LineScore& l = ts.lines[i];
        const std::string source = input == "-" ? std::to_string(i + 1) : input + ":" + std::to_string(i + 1);
        if (opts.json) {
          text += json{{"source", source}, {"log_prob", l.log_prob}, {"tokens", l.tokens}, {"oov", l.oov}}.dump() + "\n";
        } else {
          text += source + "\t" + format_number(l.log_prob, 10) + "\t" + std::to_string(l.tokens) + "\t" +
                  std::to_string(l.oov) + "\n";
        }
      }
      out << text;
    }
    return 0;
  }
  Scorer scorer(*model, pool, opts.json, out);
  size_t bad = 0;
  auto report = [&](const std::string& what) {
    ++bad;
    scorer.flush();  // keep stdout and stderr in input order
    log << "dgm: error: " << what << "\n";
  };
  std::vector<std::string> inputs = opts.inputs.empty() ? std::vector<std::string>{"-"} : opts.inputs;
  for (const std::string& input : inputs) {
    std::string format = opts.format;
    if (format.empty()) format = input == "-" ? "lines" : infer_format(input);
    if (format == "lines") {
      // Line by line, so that one bad line does not stop the others.
      std::ifstream file;
      std::istream* in = &std::cin;
      if (input != "-") {
        if (is_directory_path(input)) {
          report(input + ": is a directory, expected a file of samples (or give --format image)");
          continue;
        }
        file.open(input);
        if (!file) {
          report(input + ": cannot open: " + std::strerror(errno));
          continue;
        }
        in = &file;
      }
      std::string line;
      size_t lineno = 0;
      std::vector<int32_t> x;
      while (std::getline(*in, line)) {
        ++lineno;
        const std::string source = input == "-" ? std::to_string(lineno) : input + ":" + std::to_string(lineno);
        int32_t label = -1;
        try {
          parse_sample_line(line, space, input == "-" ? "<stdin>:" + source : source, &x, &label);
          scorer.add(x, label, source);
        } catch (const Error& e) {
          report(e.what());
        }
      }
      if (lineno == 0 && input != "-") report(input + ": empty file, expected lines of samples");
      continue;
    }
    try {
      json source = {{"path", input}, {"format", format}};
      if ((format == "image" || format == "idx") && data_cfg.is_object() && data_cfg.contains("threshold")) source["threshold"] = data_cfg["threshold"];
      Dataset d = read_dataset(source, space);
      scorer.add_all(d, input);
    } catch (const Error& e) {
      report(e.what());
    }
  }
  scorer.flush();
  if (bad) {
    // One error is its own summary; several get a count.
    if (bad > 1) log << "dgm: " << bad << " inputs could not be scored\n";
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
                  "Files to score (one sample a line, images, or any dataset format); - for stdin [default: -]");
  sub->add_option("-m,--model", opts->model, "Model file [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("-f,--format", opts->format,
                  "Input format (lines, grid, csv, jsonl, image, idx, cifar) [default: from the file name; lines for stdin]");
  sub->add_flag("--json", opts->json, "One JSON object per sample instead of tab-separated columns");
  sub->add_option("-t,--threads", opts->threads, "Worker threads [default: all cores]")->check(CLI::Range(1, 1024));
  sub->footer(
      "Text models (ngram): source<TAB>log P(line) in nats<TAB>tokens (</s> included)<TAB>OOV tokens.\n"
      "Output: source<TAB>log P(x) in nats<TAB>bits/dim. The source is the line number for stdin, file:line\n"
      "for text files, the file name for an image, file#k for the k-th sample of a dataset file. A sample of\n"
      "probability zero prints -inf. Samples outside the model's space are reported on stderr and the exit\n"
      "status is 1; the others are still scored.\n"
      "Examples:\n"
      "  dgm sample -n 100 | dgm score -\n"
      "  dgm score image.png --model fmnist.dgm\n"
      "  dgm score data/digits/test.txt -f grid --json");
  sub->callback([opts, &action] { action = [opts] { return run_score(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
