// cmd_sample.cc — `dgm sample`: draws samples from a model file and writes
// them in any format dgm writes (the model's codec's by default: text lines
// for a text model, else one sample a line, what `dgm score -` reads back),
// optionally with a contact sheet; --given completes partial samples and
// --prompt continues a text. Samples are drawn in fixed chunks, chunk k from
// Rng(seed, k), each on the model's thread pool, so output is streamed with
// bounded memory and does not depend on --threads.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/atomic_file.h"
#include "dgm/io/image.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"

namespace dgm::cli {

struct SampleCliOptions {
  int64_t count = 10;
  std::string model;
  int64_t seed = 1;
  int32_t label = -1;
  double temperature = 1.0;
  std::string format;  // "": the codec's, else lines
  std::string output = "-";
  std::string sheet;
  std::string given;
  int threads = 0;
  std::string prompt;
  bool prompt_given = false;
};

namespace {

constexpr int64_t kMaxSamples = 1000000000;  // 10^9

// Partial samples of a fixed-shape space for --given: one a line; '?' marks
// an unknown value, and a line shorter than the sample leaves the rest
// unknown. Values are digits without separators when levels <= 10, else
// whitespace-separated integers. "-" reads stdin.
Dataset read_partial(const std::string& path, const Space& space, std::vector<uint8_t>* known) {
  const std::string name = input_name(path);
  // Read whole (an endless input stops at the limit; NUL bytes are refused).
  std::istringstream file(read_whole_input(path, {memory_budget() / 4, "partial samples"}));
  std::istream* in = &file;
  Dataset out(space);
  const int64_t D = space.dims();
  std::string line;
  size_t lineno = 0;
  while (std::getline(*in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = name + ":" + std::to_string(lineno);
    std::vector<std::string> tokens;
    // At most D + 1 tokens are kept: a longer line is an error whatever its length.
    if (space.levels() <= 10) {
      for (char c : line) {
        tokens.push_back(std::string(1, c));
        if (int64_t(tokens.size()) > D) break;
      }
    } else {
      std::istringstream ts(line);
      std::string t;
      while (int64_t(tokens.size()) <= D && ts >> t) tokens.push_back(t);
    }
    if (int64_t(tokens.size()) > D)
      throw DataError(where + ": more than " + std::to_string(D) + " values, the space has " + std::to_string(D));
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
  if (out.empty()) throw DataError(name + ": no partial samples");
  return out;
}

// Whether a contact sheet can draw the space: fixed 1-D (a row of pixels)
// or image-shaped, levels <= 256; the reason otherwise.
std::string sheet_problem(const Model& model) {
  const Space& s = model.space();
  if (!s.variable_length() && s.levels() <= 256 && s.shape().size() == 1) return "";
  return format_problem("image", s, nullptr);
}

}  // namespace

int run_sample(const SampleCliOptions& opts, std::ostream& out, std::ostream& log) {
  (void)log;
  if (opts.count < 1 || opts.count > kMaxSamples)
    throw UsageError("-n " + std::to_string(opts.count) + ": ask for 1 to 10^9 samples");
  const std::string path = resolve_model_path(opts.model);
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
  const Space& space = model->space();
  const Codec* codec = model->codec();

  // Every option must apply to this model, before anything is drawn.
  if (opts.label >= 0 && !space.has_labels())
    throw UsageError("--label " + std::to_string(opts.label) + ": the model " + path + " has no labels");
  if (opts.label >= space.labels() && space.has_labels())
    throw UsageError("--label " + std::to_string(opts.label) + ": the model's labels are 0.." +
                     std::to_string(space.labels() - 1));
  if (!(opts.temperature > 0) || !std::isfinite(opts.temperature))
    throw UsageError("--temperature must be a positive number");
  // Without -f: the codec's format, else what the output's name says
  // (samples.npy, a .png, a folder/ of images), else lines.
  const std::string format = !opts.format.empty() ? opts.format
                             : codec              ? codec->formats().front()
                             : opts.output != "-" ? infer_format(opts.output)
                                                  : "lines";
  require_format("--format", format, *model);
  const bool to_stdout = opts.output == "-";
  if (to_stdout && !is_stream_format(format, codec))
    throw UsageError("--format " + format + " writes files: give a file or folder with -o PATH");
  if (!opts.sheet.empty()) {
    const std::string why = sheet_problem(*model);
    if (!why.empty()) throw UsageError("--sheet: the model's samples are not pictures: " + why);
  }
  if (opts.prompt_given && !opts.given.empty()) throw UsageError("--prompt and --given: give one of them");
  std::vector<int32_t> prompt;
  if (opts.prompt_given) {
    if (!codec) throw UsageError("--prompt: the model " + path + " has no text codec; give known values with --given");
    try {
      prompt = codec->encode_prompt(opts.prompt);
    } catch (const DataError& e) {
      throw UsageError(std::string("--prompt: ") + e.what());
    }
    if (int64_t(prompt.size()) > space.dims())
      throw UsageError("--prompt: " + std::to_string(prompt.size()) + " values exceed the model's maximum length " +
                       std::to_string(space.dims()));
  }
  ThreadPool pool(opts.threads);
  SampleOptions so;
  so.label = opts.label;
  so.temperature = opts.temperature;
  so.pool = &pool;

  // Materialised output (files, sheets, completions) is bounded in size.
  const bool stream = to_stdout && opts.sheet.empty() && opts.given.empty();
  if (!stream && double(opts.count) * double(space.dims()) > double(int64_t(1) << 31))
    throw UsageError("-n " + std::to_string(opts.count) + ": too many samples to hold in memory for this output; "
                     "write to stdout instead");

  Dataset all(space);
  int64_t sheet_columns = 0;  // 0: about square
  if (!opts.given.empty()) {
    // Completion of partial samples: '?' grids on fixed shapes, prefixes in
    // the model's format (text lines for a text model) on sequences.
    std::vector<uint8_t> known;
    Dataset partial;
    if (space.variable_length()) {
      json src = {{"path", opts.given}};
      if (codec) src["format"] = codec->formats().front();
      partial = read_dataset(src, space, codec);
    } else {
      // The start of a sample in the codec's own format (the first frames
      // of a clip, the first samples of a sound), else '?' lines.
      std::string given_format;
      if (codec && opts.given != "-") {
        given_format = detect_format(opts.given, codec->formats().front(), codec, &space);
        const auto owned = codec->formats();
        if (std::find(owned.begin(), owned.end(), given_format) == owned.end()) given_format.clear();
      }
      if (!given_format.empty()) partial = codec->read_partial(opts.given, given_format, space, &known);
      else partial = read_partial(opts.given, space, &known);
    }
    Rng rng(uint64_t(opts.seed), 0);
    all = model->complete(partial, known, rng, so);
  } else {
    // With a sheet on a labeled space and no --label, every label gets a row.
    const bool per_label = !opts.sheet.empty() && space.has_labels() && opts.label < 0;
    const int64_t labels = per_label ? space.labels() : 1;
    const int64_t per = per_label ? (opts.count + labels - 1) / labels : opts.count;
    if (per_label) sheet_columns = per;
    // Chunk k of label row y is drawn with Rng(seed, k), on the pool (as
    // draw_samples does, here chunk by chunk so that stdout streams).
    const uint64_t chunks_per_label = uint64_t((per + int64_t(kSeedChunk) - 1) / int64_t(kSeedChunk));
    for (uint64_t k = 0; k < chunks_per_label * uint64_t(labels); ++k) {
      SampleOptions o = so;
      if (per_label) o.label = int32_t(k / chunks_per_label);
      const int64_t done = int64_t(k % chunks_per_label) * int64_t(kSeedChunk);
      const size_t m = size_t(std::min<int64_t>(int64_t(kSeedChunk), per - done));
      Rng rng(uint64_t(opts.seed), k);
      Dataset part;
      if (opts.prompt_given) {
        // Every sample continues the prompt.
        Dataset partial(space);
        std::vector<uint8_t> known;
        for (size_t i = 0; i < m; ++i) {
          if (space.variable_length()) {
            partial.push_back(prompt);
          } else {
            std::vector<int32_t> x(size_t(space.dims()), 0);
            std::copy(prompt.begin(), prompt.end(), x.begin());
            partial.push_back(x);
            for (int64_t d = 0; d < space.dims(); ++d) known.push_back(d < int64_t(prompt.size()));
          }
        }
        part = model->complete(partial, known, rng, o);
      } else {
        part = model->sample(m, rng, o);
      }
      if (stream) write_dataset(part, out, format, codec);
      else all.append(part);
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
  if (to_stdout) write_dataset(all, out, format, codec);
  else write_dataset(all, opts.output, format, codec);
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
  sub->add_option("-m,--model", opts->model, "Model file, or - for stdin [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("-s,--seed", opts->seed, "Random seed; the same seed gives the same samples")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(0), INT64_MAX));
  sub->add_option("-l,--label", opts->label, "Sample this label (class-conditional models)")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("-T,--temperature", opts->temperature, "Sampling temperature (<1 sharper, >1 flatter)")
      ->capture_default_str();
  sub->add_option("-f,--format", opts->format,
                  "Output format: text (text models), lines (one sample a line, what 'dgm score -' reads), "
                  "grid (text art), jsonl, csv, or, into files with -o, image (one PNG a sample into a folder; one picture "
                  "for a path ending in .png, .bmp, .pgm, .ppm or .pbm), "
                  "idx, cifar, npy; sound models: wav, flac, ogg (one file for a path ending in the extension, "
                  "else a folder of one file a sample); video models: gif (likewise), frames (a folder of PNGs a clip), "
                  "sheet (one PNG, a row of frames a clip) [default: the model's codec's; else what -o's name says "
                  "(.npy, .csv, .jsonl, .grid, .bin, .idx, -ubyte, an image name, a folder/ for images); else lines]");
  sub->add_option("-o,--output", opts->output, "Output file or folder, - for stdout")->capture_default_str();
  sub->add_option("--sheet", opts->sheet,
                  "Also write a contact sheet PNG of the samples (one row per label for labeled models)");
  sub->add_option("-t,--threads", opts->threads, "Worker threads; samples do not depend on it [default: all cores]")
      ->check(CLI::Range(1, 1024));
  sub->add_option("-p,--prompt", opts->prompt, "Text models: every sampled line continues this text")
      ->each([opts](const std::string&) { opts->prompt_given = true; });
  sub->add_option("--given", opts->given,
                  "Complete partial samples from this file (- for stdin): one a line, '?' for an unknown value, a "
                  "short line leaves the rest unknown; for text models, lines of text to continue; for sound and "
                  "video models, a clip in their format whose first samples or frames are continued");
  sub->footer(
      "Examples:\n"
      "  dgm sample -n 10 --format grid\n"
      "  dgm sample -n 1000 | sort | uniq -c | sort -rn | head\n"
      "  dgm sample -n 100 | dgm score -\n"
      "  dgm sample -n 100 --label 3 --sheet threes.png > /dev/null\n"
      "  dgm sample -n 5 --prompt \"and god said\" --model kjv-word5.dgm\n"
      "  echo 11111 | dgm sample --given - -f grid   # complete a top row");
  sub->callback([opts, &action] { action = [opts] { return run_sample(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
