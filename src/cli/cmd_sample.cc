// cmd_sample.cc — `dgm sample`: draws samples from a model file and writes them
// as lines (what `dgm score -` reads back), grids, JSON Lines or PNG files,
// optionally with a contact sheet; --given completes partial samples.
// Samples are drawn in fixed chunks, chunk k from Rng(seed, k), so output is
// streamed with bounded memory and does not depend on --threads.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "dgm/error.h"
#include "dgm/io/atomic_file.h"
#include "dgm/io/image.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"

namespace dgm::cli {

struct SampleCliOptions {
  int64_t count = 10;
  std::string model;
  int64_t seed = 1;
  int32_t label = -1;
  double temperature = 1.0;
  std::string format = "lines";
  std::string output = "-";
  std::string sheet;
  std::string given;
  int threads = 0;
  std::string prompt;
};

namespace {

constexpr int64_t kMaxSamples = 1000000000;  // 10^9
constexpr size_t kChunk = 4096;

// Partial samples for --given: one a line; '?' marks an unknown value, and a
// line shorter than the sample leaves the rest unknown. Values are digits
// without separators when levels <= 10, else whitespace-separated integers.
Dataset read_partial(const std::string& path, const Space& space, std::vector<uint8_t>* known) {
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open partial samples");
  Dataset out(space);
  const int64_t D = space.dims();
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = path + ":" + std::to_string(lineno);
    std::vector<std::string> tokens;
    if (space.levels() <= 10) {
      for (char c : line) tokens.push_back(std::string(1, c));
    } else {
      std::istringstream ts(line);
      std::string t;
      while (ts >> t) tokens.push_back(t);
    }
    if (int64_t(tokens.size()) > D)
      throw DataError(where + ": " + std::to_string(tokens.size()) + " values, the space has " + std::to_string(D));
    std::vector<int32_t> x(size_t(D), 0);
    for (size_t d = 0; d < size_t(D); ++d) {
      const bool is_known = d < tokens.size() && tokens[d] != "?";
      known->push_back(is_known);
      if (!is_known) continue;
      char* end = nullptr;
      const long v = std::strtol(tokens[d].c_str(), &end, 10);
      if (end == tokens[d].c_str() || *end || v < 0 || v >= space.levels())
        throw DataError(where + ": position " + space.position(int64_t(d)) + ": '" + tokens[d] +
                        "' is neither '?' nor a value in {0.." + std::to_string(space.levels() - 1) + "}");
      x[d] = int32_t(v);
    }
    try {
      out.push_back(x, -1);
    } catch (const DataError& e) {
      throw DataError(where + ": " + e.what());
    }
  }
  if (out.empty()) throw DataError(path + ": no partial samples");
  return out;
}

}  // namespace

int run_sample(const SampleCliOptions& opts, std::ostream& out, std::ostream& log) {
  (void)log;
  if (opts.count < 1 || opts.count > kMaxSamples)
    throw ConfigError("-n " + std::to_string(opts.count) + ": ask for 1 to 10^9 samples");
  const std::string path = resolve_model_path(opts.model);
  std::unique_ptr<Model> model = open_model(path);
  const Space& space = model->space();
  if (opts.label >= 0 && !space.has_labels())
    throw ConfigError("--label " + std::to_string(opts.label) + ": the model " + path + " has no labels");
  if (opts.label >= space.labels() && space.has_labels())
    throw ConfigError("--label " + std::to_string(opts.label) + ": the model's labels are 0.." +
                      std::to_string(space.labels() - 1));
  if (!(opts.temperature > 0)) throw ConfigError("--temperature must be positive");
  const bool to_stdout = opts.output == "-";
  if (opts.format == "png" && to_stdout) throw ConfigError("--format png writes files: give a directory with -o DIR");
  if (const auto* tm = dynamic_cast<const TextModel*>(model.get())) {
    // Text: whole lines, each continuing the prompt; chunk k uses Rng(seed, k).
    std::string text;
    for (int64_t done = 0, k = 0; done < opts.count; done += int64_t(kChunk), ++k) {
      Rng rng(uint64_t(opts.seed), uint64_t(k));
      for (const auto& line : tm->sample_text(size_t(std::min<int64_t>(int64_t(kChunk), opts.count - done)), rng,
                                              opts.prompt, opts.temperature))
        text += line + "\n";
      if (to_stdout) {
        out << text;
        text.clear();
      }
    }
    if (!to_stdout) write_file_atomically(opts.output, text);
    return 0;
  }
  if (!opts.prompt.empty()) throw ConfigError("--prompt is for text models; use --given for partial samples");
  SampleOptions so;
  so.label = opts.label;
  so.temperature = opts.temperature;

  // Materialised output (files, sheets, completions) is bounded in size.
  const bool stream = to_stdout && opts.sheet.empty() && opts.given.empty();
  if (!stream && double(opts.count) * double(space.dims()) > double(int64_t(1) << 31))
    throw ConfigError("-n " + std::to_string(opts.count) + ": too many samples to hold in memory for this output; "
                      "write to stdout instead");

  Dataset all(space);
  int64_t sheet_columns = 0;  // 0: about square
  if (!opts.given.empty()) {
    std::vector<uint8_t> known;
    Dataset partial = read_partial(opts.given, space, &known);
    Rng rng(uint64_t(opts.seed), 0);
    all = model->complete(partial, known, rng, so);
  } else {
    // With a sheet on a labeled space and no --label, every label gets a row.
    const bool per_label = !opts.sheet.empty() && space.has_labels() && opts.label < 0;
    const int64_t labels = per_label ? space.labels() : 1;
    const int64_t per = per_label ? (opts.count + labels - 1) / labels : opts.count;
    if (per_label) sheet_columns = per;
    // Chunk k of label row y is drawn with Rng(seed, k); a group of chunks is
    // drawn in parallel, then written in order.
    ThreadPool pool(opts.threads);
    const uint64_t chunks_per_label = uint64_t((per + int64_t(kChunk) - 1) / int64_t(kChunk));
    const uint64_t total_chunks = chunks_per_label * uint64_t(labels);
    const uint64_t group = uint64_t(pool.size()) * 2;
    for (uint64_t g = 0; g < total_chunks; g += group) {
      const size_t m = size_t(std::min(group, total_chunks - g));
      std::vector<Dataset> parts(m);
      pool.run(m, [&](size_t j) {
        const uint64_t k = g + j;
        SampleOptions o = so;
        if (per_label) o.label = int32_t(k / chunks_per_label);
        const int64_t done = int64_t(k % chunks_per_label) * int64_t(kChunk);
        Rng rng(uint64_t(opts.seed), k);
        parts[j] = model->sample(size_t(std::min<int64_t>(int64_t(kChunk), per - done)), rng, o);
      });
      for (const Dataset& part : parts) {
        if (stream) write_dataset(part, out, opts.format);
        else all.append(part);
      }
    }
    if (stream) return 0;
  }
  if (!opts.sheet.empty()) {
    // Rows of labels or an about-square grid; samples upscaled to about 84
    // pixels on their longer side (x3 for 28x28, x2 for 32x32, x12 for 5x5).
    const int64_t n = int64_t(all.size());
    int64_t columns = sheet_columns;
    if (columns < 1) {
      columns = 1;
      while (columns * columns < n) ++columns;
    }
    const auto& shape = space.shape();
    const int64_t side = std::max(shape.back(), shape.size() >= 2 ? shape[shape.size() - 2] : int64_t(1));
    const int scale = int(std::clamp<int64_t>(84 / std::max<int64_t>(side, 1), 1, 12));
    write_sheet_png(all, opts.sheet, columns, scale);
  }
  if (to_stdout) {
    write_dataset(all, out, opts.format);
  } else {
    write_dataset(all, opts.output, opts.format == "png" ? "image" : opts.format);
  }
  return 0;
}

void add_sample(CLI::App& app, Action& action) {
  auto opts = std::make_shared<SampleCliOptions>();
  CLI::App* sub = app.add_subcommand("sample", "Draw samples from a trained model");
  sub->add_option("-n,--count", opts->count, "Number of samples (1 to 10^9)")
      ->capture_default_str()
      ->transform(
          [](std::string v) {
            // "1e6" is read as the whole number it names; a count past 10^9 is
            // then refused with its value (run_sample), not as a parse error.
            if (v.find_first_of("eE") == std::string::npos) return v;
            char* end = nullptr;
            const double d = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end != '\0' || !(d >= 1 && d < 9.2e18) || d != std::floor(d))
              throw CLI::ValidationError("--count", "expected a whole number of samples, got '" + v + "'");
            return std::to_string(int64_t(d));
          },
          "", "");
  sub->add_option("-m,--model", opts->model, "Model file [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("-s,--seed", opts->seed, "Random seed; the same seed gives the same samples")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(0), INT64_MAX));
  sub->add_option("-l,--label", opts->label, "Sample this label (class-conditional models)")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("-T,--temperature", opts->temperature, "Sampling temperature (<1 sharper, >1 flatter)")
      ->capture_default_str();
  sub->add_option("-f,--format", opts->format,
                  "Output format: lines (one sample a line, what 'dgm score -' reads), grid (text art), "
                  "jsonl, csv, or png (one image per sample into the -o directory)")
      ->capture_default_str()
      ->check(CLI::IsMember({"lines", "grid", "jsonl", "csv", "png"}));
  sub->add_option("-o,--output", opts->output, "Output file or directory, - for stdout")->capture_default_str();
  sub->add_option("--sheet", opts->sheet,
                  "Also write a contact sheet PNG of the samples (one row per label for labeled models)");
  sub->add_option("-t,--threads", opts->threads, "Worker threads; samples do not depend on it [default: all cores]")
      ->check(CLI::Range(1, 1024));
  sub->add_option("-p,--prompt", opts->prompt, "Text models: every sampled line continues this text");
  sub->add_option("--given", opts->given,
                  "Complete partial samples from this file: one a line, '?' for an unknown value, a short line "
                  "leaves the rest unknown")
      ->check(CLI::ExistingFile);
  sub->footer(
      "Examples:\n"
      "  dgm sample -n 10 --format grid\n"
      "  dgm sample -n 1000 | sort | uniq -c | sort -rn | head\n"
      "  dgm sample -n 100 | dgm score -\n"
      "  dgm sample -n 100 --label 3 --sheet threes.png > /dev/null\n"
      "  dgm sample -n 5 --prompt \"and god said\" --model kjv-word5.dgm\n"
      "  echo 11111 > top.txt; dgm sample --given top.txt -f grid   # complete a top row");
  sub->callback([opts, &action] { action = [opts] { return run_sample(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
