// ngram_tool.cc — a benchmark driver for the n-gram model on a text corpus
// (the CLI wiring lives elsewhere): trains from a config, reports build time,
// test perplexities (KenLM definitions), bits per char and single-thread query
// throughput, and optionally writes the model and an ARPA file.
//
//   ngram_tool CONFIG.json [--save model.dgm] [--arpa out.arpa] [--read-arpa in.arpa]
//              [--load model.dgm] [--build-only 1]
// --build-only: read the corpus, fit and save, nothing else (for time and
// peak memory). Prints one JSON object on stdout.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/io/text.h"
#include "dgm/metrics.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"

using namespace dgm;

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
struct Quiet : TrainMonitor {
  void on_step(const TrainProgress&) override {}
  void message(const std::string& text) override { std::cerr << text << "\n"; }
};
}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::cerr << "usage: ngram_tool CONFIG.json [--save FILE] [--arpa FILE] [--read-arpa FILE] [--load FILE]\n";
      return 2;
    }
    std::string save, arpa, read_arpa, load;
    bool build_only = false;
    for (int i = 2; i + 1 < argc; i += 2) {
      std::string a = argv[i];
      if (a == "--save") save = argv[i + 1];
      else if (a == "--arpa") arpa = argv[i + 1];
      else if (a == "--read-arpa") read_arpa = argv[i + 1];
      else if (a == "--load") load = argv[i + 1];
      else if (a == "--build-only") build_only = std::string(argv[i + 1]) == "1";
      else throw ConfigError("unknown option " + a);
    }
    json cfg = load_config_file(argv[1]);
    json out;
    ThreadPool pool(1);
    Rng rng(1);
    std::unique_ptr<Model> owned;
    const double t0 = now();
    const TrainingData td = load_training_data(cfg["data"], cfg["space"], 1);
    const auto& codec = dynamic_cast<const TextCodec&>(*td.codec);
    const double t1 = now();
    out["load_seconds"] = t1 - t0;
    out["train_lines"] = td.train.size();
    int64_t train_tokens = 0;
    for (size_t i = 0; i < td.train.size(); ++i) train_tokens += td.train.length(i);
    out["train_tokens"] = train_tokens;
    out["vocabulary"] = codec.vocabulary().size();
    if (!read_arpa.empty()) {
      TokenizerOptions opts = codec.tokenizer().options();
      owned = NgramModel::read_arpa(read_arpa, td.space.dims(), &opts);
    } else if (!load.empty()) {
      owned = load_model(load);
    } else {
      owned = create_model(td.space, cfg["model"], cfg.value("train", json::object()));
      owned->set_codec(td.codec);
      Quiet mon;
      FitContext ctx{&pool, &rng, &mon, nullptr};
      owned->fit(td.train, nullptr, ctx);
    }
    const double t2 = now();
    out["fit_seconds"] = t2 - t1;
    auto& model = dynamic_cast<NgramModel&>(*owned);
    out["describe"] = model.describe();
    if (!save.empty()) {
      save_model(save, model, {{"config", cfg}});
      out["save_seconds"] = now() - t2;
    }
    if (!arpa.empty()) {
      const double ta = now();
      std::ofstream f(arpa);
      model.export_to("arpa", f);
      out["arpa_seconds"] = now() - ta;
    }
    if (build_only) {
      std::cout << out.dump(1) << "\n";
      return 0;
    }
    // Test scores from the raw lines (the codec tokenizes them).
    const std::vector<std::string> lines = read_text_lines(cfg["data"]["test"].get<std::string>());
    const auto& mc = dynamic_cast<const TextCodec&>(*model.codec());
    out["test"] = corpus_figures(model, mc.encode_lines(lines, model.space()), pool).to_json();
    // Query throughput: the encoded test set, scored repeatedly on one thread.
    int reps = 0;
    double tq = now(), elapsed = 0;
    int64_t tokens = 0;
    std::vector<double> lp(td.test.size());
    while (elapsed < 2.0 || reps < 3) {
      model.log_prob(td.test, lp.data(), pool);
      for (size_t i = 0; i < td.test.size(); ++i) tokens += td.test.length(i) + 1;
      ++reps;
      elapsed = now() - tq;
    }
    out["query_tokens_per_second"] = double(tokens) / elapsed;
    std::cout << out.dump(1) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ngram_tool: error: " << e.what() << "\n";
    return 1;
  }
}
