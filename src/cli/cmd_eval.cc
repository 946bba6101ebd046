// cmd_eval.cc — `dgm eval`: test NLL of a model (nats per sample, bits/dim)
// and the quality of N generated samples against the data: validity (share
// inside the support of the reference data = train + validation + test),
// novelty (share not in the training data) and coverage (share of the
// reference support the samples reach), beside the same figures for N draws
// from the training set's empirical distribution.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "common.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/metrics.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"
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

constexpr size_t kChunk = 4096;

json overlap_json(const Overlap& train_overlap, const Overlap& ref_overlap) {
  return {{"samples", ref_overlap.num_samples},
          {"validity", ref_overlap.validity},
          {"novelty", train_overlap.novelty},
          {"coverage", ref_overlap.coverage}};
}

}  // namespace

int run_eval(const EvalOptions& opts, std::ostream& out, std::ostream& log) {
  const std::string path = resolve_model_path(opts.model);
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
  const Space& space = model->space();
  if (opts.samples < 0 || opts.samples > 10000000) throw ConfigError("--samples must be between 0 and 10^7");

  if (const auto* tm = dynamic_cast<const TextModel*>(model.get())) {
    json cfg = opts.config.empty() ? header.value("config", json::object()) : load_config(opts.config, {});
    std::string test_path = opts.data;
    if (test_path.empty() && cfg.contains("data") && cfg["data"].contains("test")) test_path = cfg["data"]["test"].get<std::string>();
    if (test_path.empty()) throw ConfigError("no test text to evaluate on; give --data FILE");
    ThreadPool pool(opts.threads);
    const TextScore ts = tm->score_lines(read_text_lines(test_path), pool, false);
    json r = ts.to_json();
    r["model"] = path;
    r["data"] = test_path;
    if (opts.json) {
      out << r.dump() << "\n";
      return 0;
    }
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "model          %s (%s)\ndata           %s: %lld lines, %lld tokens scored (</s> included), %lld OOV\n"
                  "perplexity     %.6g (OOVs included), %.6g (OOVs excluded)\n"
                  "bits per token %.6g\nbits per char  %.6g\n",
                  path.c_str(), model->kind().c_str(), test_path.c_str(), (long long)ts.num_lines, (long long)ts.tokens,
                  (long long)ts.oov, ts.perplexity(), ts.perplexity_excluding_oov(), ts.bits_per_token(),
                  ts.bits_per_char());
    out << buf;
    return 0;
  }
  json cfg = opts.config.empty() ? header.value("config", json::object()) : load_config(opts.config, {});
  for (const auto& o : opts.overrides) apply_override(cfg, o);
  const uint64_t data_seed = header.value("seed", uint64_t(1));
  DataSplits splits;
  if (cfg.contains("data")) {
    if (!opts.data.empty()) {
      // Only the training data of the config is needed (for novelty).
      json d = cfg["data"];
      d.erase("test");
      d.erase("test_labels");
      splits = load_data(d, space, data_seed);
    } else {
      splits = load_data(cfg["data"], space, data_seed);
    }
  } else if (opts.data.empty()) {
    throw ConfigError(path + ": the model file has no data section; give --data FILE or --config FILE");
  }
  if (!opts.data.empty()) {
    json source = {{"path", opts.data}};
    if (!opts.format.empty()) source["format"] = opts.format;
    splits.test = read_dataset(source, space);
  }
  const Dataset& test = !splits.test.empty() ? splits.test : splits.validation;
  const char* test_name = !splits.test.empty() ? "test" : "validation";
  if (test.empty()) throw ConfigError("no test or validation data to evaluate on; give --data FILE");

  ThreadPool pool(opts.threads);
  NllSummary nll = evaluate_nll(*model, test, pool);

  json result;
  result["model"] = path;
  result["kind"] = model->kind();
  result["space"] = space.describe();
  result["eval_set"] = test_name;
  result["samples"] = nll.samples;
  result["nll_nats"] = std::isfinite(nll.nats_per_sample) ? json(nll.nats_per_sample) : json("inf");
  result["bits_per_dim"] = std::isfinite(nll.bits_per_dim) ? json(nll.bits_per_dim) : json("inf");
  result["zero_probability"] = nll.zero_probability;

  if (opts.samples > 0 && !splits.train.empty()) {
    Dataset reference = splits.train;
    reference.append(splits.validation);
    reference.append(test);
    EmpiricalOptions eo;
    eo.use_labels = false;  // a sample is valid whatever label it was drawn for
    Empirical train_emp(splits.train, eo);
    Empirical ref_emp(reference, eo);
    Dataset generated(space);
    for (size_t done = 0, k = 0; done < size_t(opts.samples); done += kChunk, ++k) {
      Rng rng(uint64_t(opts.seed), k);
      generated.append(model->sample(std::min(kChunk, size_t(opts.samples) - done), rng));
    }
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
  char buf[256];
  out << "model        " << path << " (" << model->kind() << ", " << space.describe() << ")\n";
  std::snprintf(buf, sizeof buf, "%-12s %zu samples: NLL %s nats/sample, %s bits/dim\n", test_name, nll.samples,
                format_number(nll.nats_per_sample, 6).c_str(), format_number(nll.bits_per_dim, 5).c_str());
  out << buf;
  if (nll.zero_probability) out << "             " << nll.zero_probability << " samples have probability zero\n";
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
  (void)log;
  return 0;
}

void add_eval(CLI::App& app, Action& action) {
  auto opts = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "Test NLL of a model and the validity, novelty and coverage of its samples");
  sub->add_option("-m,--model", opts->model, "Model file [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("-c,--config", opts->config, "Config whose data section to use [default: the one in the model file]")
      ->check(CLI::ExistingFile);
  sub->add_option("-d,--data", opts->data, "Evaluate on this file instead of the config's test set");
  sub->add_option("-f,--format", opts->format, "Format of --data [default: from the file name]");
  sub->add_option("-n,--samples", opts->samples, "Generated samples to judge (0 to skip)")->capture_default_str();
  sub->add_option("-s,--seed", opts->seed, "Seed for the generated samples")->capture_default_str();
  sub->add_option("--set", opts->overrides, "Override a config value (repeatable)")->type_name("KEY=VALUE");
  sub->add_flag("--json", opts->json, "Print the figures as one JSON object");
  sub->add_option("-t,--threads", opts->threads, "Worker threads [default: all cores]")->check(CLI::Range(1, 1024));
  sub->footer(
      "Text models: perplexity = exp(-sum log P / tokens) over the test lines, where <s> is context only,\n"
      "</s> is scored once per line and an OOV is scored as <unk>; 'OOVs excluded' drops the OOV tokens\n"
      "from both the sum and the count. Bits per char divide by the code points plus one newline a line.\n"
      "Examples:\n"
      "  dgm eval --model digits.dgm\n"
      "  dgm eval --model kjv-word5.dgm --data data/kjv/test.txt\n"
      "  dgm eval -m digits.dgm --data data/digits/noisy.txt -f grid --samples 5000 --json");
  sub->callback([opts, &action] { action = [opts] { return run_eval(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
