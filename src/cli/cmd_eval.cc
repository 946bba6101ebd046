// cmd_eval.cc — `dgm eval`: test NLL of a model (nats per sample, bits/dim),
// in the units of its codec where it has one (text: perplexity with and
// without OOVs, bits per token and per character), the three figures of a
// labeled model (label given, label unknown, joint), and the quality of N
// generated samples against the data: validity (share inside the support of
// the reference data = train + validation + test), novelty (share not in the
// training data) and coverage (share of the reference support the samples
// reach), beside the same figures for N draws from the training set's
// empirical distribution.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/read.h"
#include "dgm/logmath.h"
#include "dgm/metrics.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/stats.h"

namespace dgm::cli {

struct EvalOptions {
  std::string model;
  std::string config;
  std::string data;
  std::string format;
  int64_t samples = 1000;
  int64_t seed = 1;
  bool json = false;
  int threads = 0;
  std::vector<std::string> overrides;
};

namespace {


json overlap_json(const Overlap& train_overlap, const Overlap& ref_overlap) {
  return {{"samples", ref_overlap.num_samples},
          {"validity", ref_overlap.validity},
          {"novelty", train_overlap.novelty},
          {"coverage", ref_overlap.coverage}};
}

json nll_json(const NllSummary& s) {
  return {{"nll_nats", json_number(s.nats_per_sample)}, {"bits_per_dim", json_number(s.bits_per_dim)},
          {"zero_probability", s.zero_probability}};
}

// The config's space must be the model's: a config of another space would
// read data the model cannot score.
void check_config_space(const json& cfg, const Model& model, const std::string& config) {
  if (!cfg.contains("space")) throw UsageError("--config " + config + ": it has no 'space' section");
  Space theirs;
  try {
    if (model.codec()) {
      // The codec sets the levels; the maximum length must agree.
      const json& s = cfg["space"];
      json shape = s.contains("shape") ? s["shape"] : json();
      if (shape.is_array() && shape.size() == 1) shape = shape[0];
      if (!shape.is_number_integer() || shape.get<int64_t>() != model.space().dims())
        throw UsageError("--config " + config + ": its space " + cfg["space"].dump() + " is not the model's " +
                         model.space().describe());
      return;
    }
    theirs = Space::from_json(cfg["space"]);
  } catch (const ConfigError& e) {
    throw UsageError("--config " + config + ": " + e.what());
  }
  if (theirs != model.space())
    throw UsageError("--config " + config + ": its space " + theirs.describe() + " is not the model's " +
                     model.space().describe());
}

}  // namespace

int run_eval(const EvalOptions& opts, std::ostream& out, std::ostream& log) {
  (void)log;
  const std::string path = resolve_model_path(opts.model);
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
  const Space& space = model->space();
  const Codec* codec = model->codec();
  if (opts.samples < 0 || opts.samples > 10000000) throw UsageError("--samples must be between 0 and 10^7");

  // The data: the model's own config (with --set), or another config of the same space.
  json cfg;
  if (!opts.config.empty()) {
    cfg = load_config(opts.config, opts.overrides);
    check_config_space(cfg, *model, opts.config);
  } else {
    cfg = header.value("config", json::object());
    apply_overrides(cfg, opts.overrides);
  }
  const uint64_t data_seed = header.value("seed", uint64_t(1));
  DataSplits splits;
  Records test(space, "");
  std::string test_name = "test";
  const bool has_data = cfg.contains("data") && cfg["data"].is_object();
  if (!opts.data.empty()) {
    json source = {{"path", opts.data}};
    if (!opts.format.empty()) {
      require_format("--format", opts.format, *model);
      source["format"] = opts.format;
    } else {
      source["format"] = detect_format(opts.data, model_format(*model, header), codec, &space);
    }
    const json keys = model_source_keys(header);
    if (source["format"] == "image" || source["format"] == "idx")
      for (auto it = keys.begin(); it != keys.end(); ++it) source[it.key()] = it.value();
    test = read_records(source, space, codec);
    if (has_data && opts.samples > 0) {
      // Only the training data of the config is needed (for novelty).
      json d = cfg["data"];
      d.erase("test");
      d.erase("test_labels");
      splits = load_data(d, space, data_seed, codec);
    }
  } else {
    if (!has_data) throw ConfigError(path + ": the model file has no data section; give --data FILE or --config FILE");
    splits = load_data(cfg["data"], space, data_seed, codec);
    if (cfg["data"].contains("test")) {
      test = read_split(cfg["data"], "test", space, codec);
    } else if (!splits.validation.empty()) {
      // The validation split, as training drew it.
      test_name = "validation";
      test.data = splits.validation;
    } else {
      throw ConfigError("no test or validation data to evaluate on; give --data FILE");
    }
  }
  ThreadPool pool(opts.threads);
  std::vector<double> lp;
  const CorpusFigures fig = corpus_figures(*model, test, pool, &lp);
  const NllSummary nll = summarize_nll(test.data, lp.data());

  json result;
  result["model"] = path;
  result["kind"] = model->kind();
  result["space"] = space.describe();
  result["eval_set"] = test_name;
  result["samples"] = nll.samples;
  result["nll_nats"] = json_number(nll.nats_per_sample);
  result["bits_per_dim"] = json_number(nll.bits_per_dim);
  result["zero_probability"] = nll.zero_probability;
  // A labeled model: log P(x | y) with the label given (above, when the data
  // carry labels), log P(x) with it summed out, and the joint log P(x, y).
  bool labeled = false;
  NllSummary marginal, joint;
  if (space.has_labels()) {
    size_t with_label = 0;
    for (size_t i = 0; i < test.data.size(); ++i) with_label += test.data.label(i) >= 0;
    labeled = with_label == test.data.size();
    marginal = evaluate_nll(*model, DataView(test.data).without_labels(), pool);
    result["label_unknown"] = nll_json(marginal);
    if (labeled) {
      const std::vector<double> prior = model->label_log_prior();
      std::vector<double> j(lp.size());
      for (size_t i = 0; i < lp.size(); ++i) j[i] = lp[i] + prior[size_t(test.data.label(i))];
      joint = summarize_nll(test.data, j.data());
      result["label_given"] = nll_json(nll);
      result["joint"] = nll_json(joint);
    }
  }
  if (!test.chars.empty() || !test.unknown.empty()) result["text"] = fig.to_json();
  // Items of several samples (sound clips cut into frames): NLL per item.
  const std::string item_unit = codec ? codec->item_unit() : "item";
  if (!test.item.empty()) {
    double total = 0;
    for (double v : lp) total -= v;
    result["items"] = {{"unit", item_unit},
                       {"count", test.items.size()},
                       {"nll_nats_per_item", json_number(total / double(test.items.size()))}};
  }

  if (opts.samples > 0 && !splits.train.empty()) {
    Dataset reference = splits.train;
    reference.append(splits.validation);
    reference.append(test.data);
    EmpiricalOptions eo;
    eo.use_labels = false;  // a sample is valid whatever label it was drawn for
    Empirical train_emp(splits.train, eo);
    Empirical ref_emp(reference, eo);
    SampleOptions so;
    so.pool = &pool;
    const Dataset generated = draw_samples(*model, size_t(opts.samples), uint64_t(opts.seed), so);
    Rng rng(uint64_t(opts.seed), 0xE3B1A1ULL);
    Dataset baseline = train_emp.sample(size_t(opts.samples), rng);
    result["model_samples"] = overlap_json(train_emp.compare(generated), ref_emp.compare(generated));
    result["empirical_samples"] = overlap_json(train_emp.compare(baseline), ref_emp.compare(baseline));
    result["reference_support"] = ref_emp.num_distinct();
  }

  if (opts.json) {
    out << result.dump() << "\n";
    return 0;
  }
  char buf[512];
  out << "model        " << input_name(path) << " (" << model->kind() << ", " << space.describe() << ")\n";
  const std::string data_name = test.name.empty() ? test_name : test.name;
  auto line = [&](const char* what, const NllSummary& s) {
    std::snprintf(buf, sizeof buf, "%-12s %zu samples: NLL %s nats/sample, %s bits/dim%s\n", test_name.c_str(), s.samples,
                  format_number(s.nats_per_sample, 6).c_str(), format_number(s.bits_per_dim, 5).c_str(), what);
    out << buf;
  };
  if (labeled) {
    line("  label given, -log P(x|y)", nll);
    line("  label unknown, -log P(x)", marginal);
    line("  joint, -log P(x,y)", joint);
  } else if (space.has_labels()) {
    line("  label unknown, -log P(x)", marginal);
  } else {
    line("", nll);
  }
  if (result.contains("items")) {
    std::snprintf(buf, sizeof buf, "%-12s %zu (%s samples each on average): NLL %s nats/%s\n",
                  (item_unit + "s").c_str(), test.items.size(),
                  format_number(double(test.data.size()) / double(test.items.size()), 4).c_str(),
                  format_number(result["items"]["nll_nats_per_item"].is_number()
                                    ? result["items"]["nll_nats_per_item"].get<double>()
                                    : std::numeric_limits<double>::infinity(), 6).c_str(),
                  item_unit.c_str());
    out << buf;
  }
  if (codec && !result.contains("text") && codec->unit() != "value") {
    const std::string unit = codec->unit();
    out << "bits/" << unit << std::string(unit.size() < 7 ? 7 - unit.size() : 1, ' ')
        << format_number(nll.bits_per_dim, 6) << "\n";
  }
  out << "data         " << data_name << "\n";
  if (nll.zero_probability) out << "             " << nll.zero_probability << " samples have probability zero\n";
  if (result.contains("text")) {
    const std::string unit = codec ? codec->unit() : "token";
    std::snprintf(buf, sizeof buf, "%-12s %lld %ss scored (</s> included), %lld OOV\n", "text", (long long)fig.tokens,
                  unit.c_str(), (long long)fig.unknown);
    out << buf;
    const double ex = fig.perplexity_excluding_unknown();
    out << "perplexity   " << format_number(fig.perplexity(), 6) << " (OOVs included), "
        << (std::isnan(ex) ? std::string("n/a (") + model->kind() + " has no per-position conditionals)" : format_number(ex, 6))
        << " (OOVs excluded)\n";
    out << "bits/" << unit << std::string(unit.size() < 7 ? 7 - unit.size() : 1, ' ') << format_number(fig.bits_per_token(), 6)
        << "\n";
    if (fig.chars > 0 && unit != "char") out << "bits/char    " << format_number(fig.bits_per_char(), 6) << "\n";
  }
  if (result.contains("model_samples")) {
    const json& m = result["model_samples"];
    const json& e = result["empirical_samples"];
    std::snprintf(buf, sizeof buf, "%-22s %10s %10s %10s\n", "generated samples", "validity", "novelty", "coverage");
    out << buf;
    std::snprintf(buf, sizeof buf, "%-22s %10.4f %10.4f %10.4f\n", ("model (n=" + std::to_string(opts.samples) + ")").c_str(),
                  m["validity"].get<double>(), m["novelty"].get<double>(), m["coverage"].get<double>());
    out << buf;
    std::snprintf(buf, sizeof buf, "%-22s %10.4f %10.4f %10.4f\n", "empirical (train)", e["validity"].get<double>(),
                  e["novelty"].get<double>(), e["coverage"].get<double>());
    out << buf;
    out << "validity: share inside the support of train+validation+test (" << result["reference_support"].get<size_t>()
        << " distinct samples); novelty: share not in train; coverage: share of that support reached\n";
  }
  return 0;
}

void add_eval(CLI::App& app, Action& action) {
  auto opts = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "Test NLL of a model and the validity, novelty and coverage of its samples");
  sub->add_option("-m,--model", opts->model, "Model file, or - for stdin [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("-c,--config", opts->config,
                  "Config whose data section to use (its space must be the model's) [default: the model's own]");
  sub->add_option("-d,--data", opts->data, "Evaluate on this file instead of the config's test set");
  sub->add_option("-f,--format", opts->format, "Format of --data [default: the model's when it fits, else detected]");
  sub->add_option("-n,--samples", opts->samples, "Generated samples to judge (0 to skip)")->capture_default_str();
  sub->add_option("-s,--seed", opts->seed, "Seed for the generated samples")->capture_default_str();
  sub->add_option("--set", opts->overrides, "Override a config value, e.g. --set data.test=other.txt (repeatable)")
      ->type_name("KEY=VALUE");
  sub->add_flag("--json", opts->json, "Print the figures as one JSON object");
  sub->add_option("-t,--threads", opts->threads, "Worker threads [default: all cores]")->check(CLI::Range(1, 1024));
  sub->footer(
      "Labeled models give three figures: -log P(x|y) with the label given, -log P(x) with it summed out,\n"
      "and the joint -log P(x,y). Text models: perplexity = exp(-sum log P / tokens) over the test lines,\n"
      "where <s> is context only, </s> is scored once per line and an OOV is scored as <unk>; 'OOVs\n"
      "excluded' drops the OOV tokens' own terms and count (it needs per-position conditionals). Bits per\n"
      "char divide by the code points plus one newline a line. Data whose items are several samples (sound\n"
      "clips cut into frames) also give the NLL per item (nats/clip), the sum over its samples.\n"
      "Examples:\n"
      "  dgm eval --model digits.dgm\n"
      "  dgm eval --model kjv-word5.dgm --set data.test=data/kjv/test.txt\n"
      "  dgm eval -m digits.dgm --data data/digits/noisy.txt --samples 5000 --json");
  sub->callback([opts, &action] { action = [opts] { return run_eval(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
