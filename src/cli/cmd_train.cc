// cmd_train.cc — `dgm train --config FILE`: validates the whole config before
// reading any data, loads the splits, fits with progress, reports NLL in nats
// and bits/dim, and writes the model atomically. SIGINT stops training at the
// next step and saves the best parameters so far as <name>.partial.dgm.
#include "cmd_train.h"

#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>

#include <unistd.h>

#include "commands.h"
#include "common.h"
#include "dgm/error.h"
#include "dgm/codec.h"
#include "dgm/io/read.h"
#include "dgm/logmath.h"
#include "dgm/metrics.h"
#include "dgm/model_file.h"
#include "monitor.h"

namespace dgm::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  if (g_interrupted.exchange(true)) {
    std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends at once
    std::raise(SIGINT);
  }
}

// "digits.dgm" -> "digits.partial.dgm".
std::string partial_path(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
    return path.substr(0, dot) + ".partial" + path.substr(dot);
  return path + ".partial";
}

json summary_json(const NllSummary& s) {
  json j;
  j["samples"] = s.samples;
  if (s.samples == 0) return j;
  j["nll_nats"] = std::isfinite(s.nats_per_sample) ? json(s.nats_per_sample) : json("inf");
  j["bits_per_dim"] = std::isfinite(s.bits_per_dim) ? json(s.bits_per_dim) : json("inf");
  if (s.zero_probability) j["zero_probability"] = s.zero_probability;
  return j;
}

void print_summary(std::ostream& log, const char* name, const NllSummary& s) {
  if (s.samples == 0) return;
  char buf[200];
  std::snprintf(buf, sizeof buf, "  %-10s %8zu samples  NLL %s nats/sample  %s bits/dim", name, s.samples,
                format_number(s.nats_per_sample, 6).c_str(), format_number(s.bits_per_dim, 5).c_str());
  log << buf;
  if (s.zero_probability) log << "  (" << s.zero_probability << " of probability zero)";
  log << "\n";
}

// One line of what is being trained: the model and its main sizes, the
// space, the data and the run's settings (the whole config with -v).
std::string summary_line(const Model& model, const json& effective_model, const Space& space, const json& data,
                         const DataSplits& splits, uint64_t seed, int threads) {
  std::string m = model.kind();
  std::string params;
  for (auto it = effective_model.begin(); it != effective_model.end(); ++it) {
    if (it.key() == "type") continue;
    if (params.size() > 60) {
      params += ", ...";
      break;
    }
    params += (params.empty() ? "" : ", ") + it.key() + " " + it.value().dump();
  }
  if (!params.empty()) m += " (" + params + ")";
  std::string train = data.contains("train") ? (data["train"].is_string() ? data["train"].get<std::string>()
                                                                          : data["train"].value("path", "")) : "";
  std::string s = "dgm: training " + m + " on " + space.describe() + " from " + train + ": " +
                  std::to_string(splits.train.size()) + " train, " + std::to_string(splits.validation.size()) +
                  " validation, " + std::to_string(splits.test.size()) + " test; seed " + std::to_string(seed) + ", " +
                  std::to_string(threads) + (threads == 1 ? " thread" : " threads");
  return s;
}

}  // namespace

int run_train(const TrainOptions& opts, std::ostream& out, std::ostream& log) {
  json cfg = load_config(opts.config, opts.overrides);
  const std::string config_name = opts.config == "-" ? "<stdin>" : opts.config;
  ConfigSection top(cfg, config_name);
  top.allow({"space", "data", "model", "train"});
  const std::string config_output = top.get_string("output", "model.dgm");
  const std::string output = !opts.output.empty() ? opts.output : config_output;
  top.finish();
  if (opts.output_given && opts.output.empty()) throw UsageError("--output '': give a file name, or - for stdout");
  if (output == "-" && &out == &std::cout && isatty(1) == 1)
    throw UsageError("--output -: the model is binary; redirect stdout to a file or a pipe");

  // The codec (a text vocabulary) may set the space, so it is fitted first;
  // everything else is checked before the splits are read.
  if (!cfg.contains("data")) throw ConfigError(config_name + ": missing section 'data' (e.g. {\"train\": \"data.txt\"})");
  Space space;
  std::shared_ptr<const Codec> codec = fit_codec(cfg["data"], cfg.contains("space") ? cfg["space"] : json(), &space);
  ConfigSection train_top(cfg.contains("train") ? cfg["train"] : json(), "train");
  const uint64_t seed = opts.seed >= 0 ? uint64_t(opts.seed) : uint64_t(train_top.get_int("seed", 1, 0, INT64_MAX));
  const int threads = opts.threads > 0 ? opts.threads : int(train_top.get_int("threads", 0, 0, 1024));
  if (!cfg.contains("model")) throw ConfigError(config_name + ": missing section 'model' (e.g. {\"type\": \"mixture\"})");
  json effective_model, effective_train;
  std::unique_ptr<Model> model =
      create_model(space, cfg["model"], cfg.contains("train") ? cfg["train"] : json(), &effective_model, &effective_train);
  model->set_codec(codec);
  effective_train["seed"] = seed;

  json effective = cfg;
  effective["model"] = effective_model;
  effective["train"] = effective_train;
  effective["space"] = space.to_json();
  // The output path is where the model goes, not what it is: it is left out
  // of the stored config so the same training gives the same bytes anywhere.
  effective.erase("output");
  if (opts.verbose) log << "dgm: config " << effective.dump() << "\n";

  DataSplits data = load_data(cfg["data"], space, seed, codec.get());
  if (data.train.empty()) throw DataError(config_name + ": the training set is empty");
  ThreadPool pool(threads);
  if (!opts.quiet) log << summary_line(*model, effective_model, space, cfg["data"], data, seed, pool.size()) << "\n";

  Rng rng(seed);
  CliMonitor monitor(log, opts.quiet, opts.log);
  g_interrupted = false;
  auto previous = std::signal(SIGINT, on_sigint);
  FitContext ctx{&pool, &rng, &monitor, &g_interrupted};
  try {
    model->fit(data.train, data.validation.empty() ? nullptr : &data.validation, ctx);
  } catch (...) {
    std::signal(SIGINT, previous);
    throw;
  }
  std::signal(SIGINT, previous);
  monitor.finish();
  const double fit_seconds = monitor.seconds();
  const bool interrupted = g_interrupted.load();

  NllSummary train_s = evaluate_nll(*model, data.train, pool);
  NllSummary valid_s = evaluate_nll(*model, data.validation, pool);
  NllSummary test_s = evaluate_nll(*model, data.test, pool);

  json info;
  info["config"] = effective;
  info["data_fingerprint"] = data.train.fingerprint_hex();
  info["seed"] = seed;
  info["metrics"] = {{"train", summary_json(train_s)}, {"validation", summary_json(valid_s)}, {"test", summary_json(test_s)}};
  if (space.has_labels()) info["metrics"]["figure"] = "-log P(x | y), the label given";
  if (interrupted) info["partial"] = true;
  const std::string path = output == "-" ? "-" : interrupted ? partial_path(output) : output;
  if (path == "-") {
    ModelWriter w = model_writer(*model, info);
    const std::string bytes = w.serialize();
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.flush();
    if (!out) throw IoError("<stdout>: cannot write the model");
  } else {
    save_model(path, *model, info);
  }

  if (!opts.quiet) {
    if (interrupted) log << "dgm: interrupted: training stopped early; the best parameters so far are kept\n";
    { char t[64]; std::snprintf(t, sizeof t, "%.2f", fit_seconds); log << "dgm: trained " << model->kind() << " in " << t << " s\n"; }
    if (space.has_labels()) log << "  NLL of x given its label, -log P(x | y) ('dgm eval' also gives -log P(x) and the joint)\n";
    print_summary(log, "train", train_s);
    print_summary(log, "validation", valid_s);
    print_summary(log, "test", test_s);
    // Sequences: perplexity per position, the end marker counted (for text, OOVs as <unk>).
    if (codec && space.variable_length() && test_s.samples)
      log << "  test perplexity " << format_number(std::exp(test_s.bits_per_dim * kLn2), 6) << " per " << codec->unit()
          << " (the end marker included; see 'dgm eval' for the codec's figures)\n";
    else if (codec && test_s.samples && codec->unit() != "value")
      log << "  test " << format_number(test_s.bits_per_dim, 6) << " bits/" << codec->unit() << "\n";
    log << "dgm: model written to " << (path == "-" ? std::string("<stdout>") : path) << (interrupted ? " (partial)" : "")
        << "\n";
  }
  return interrupted ? 130 : 0;
}

void add_train(CLI::App& app, Action& action) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand("train", "Fit a model to data as a config file describes, and save it");
  sub->add_option("-c,--config", opts->config,
                  "JSON config: space, data, model, train, output; - for stdin. Its data paths are relative to "
                  "its folder")
      ->required();
  sub->add_option("-o,--output", opts->output,
                  "Model file to write, - for stdout [default: the config's \"output\", else model.dgm]")
      ->each([opts](const std::string&) { opts->output_given = true; });
  sub->add_option("-s,--seed", opts->seed, "Random seed [default: the config's train.seed, else 1]")
      ->check(CLI::Range(int64_t(0), INT64_MAX));
  sub->add_option("-t,--threads", opts->threads,
                  "Worker threads; results do not depend on it [default: train.threads, else all cores]")
      ->check(CLI::Range(1, 1024));
  sub->add_flag("-q,--quiet", opts->quiet, "No progress or summary on stderr");
  sub->add_flag("-v,--verbose", opts->verbose, "Also print the whole effective config (defaults filled in)");
  sub->add_option("--log", opts->log, "Write one JSON object per iteration/epoch to this file (JSONL)");
  sub->add_option("--set", opts->overrides, "Override a config value, e.g. --set model.components=20 (repeatable)")
      ->type_name("KEY=VALUE");
  sub->footer(
      "Examples:\n"
      "  dgm train --config configs/digits.json\n"
      "  dgm train -c configs/digits.json --set model.components=20 -o digits20.dgm\n"
      "  dgm train -c configs/fmnist-nade.json --log train.jsonl\n"
      "Ctrl-C stops at the next iteration and saves the best model so far as <output>.partial.dgm.");
  sub->callback([opts, &action] { action = [opts] { return run_train(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
