// ngram_tool.cc — a benchmark driver for the n-gram model on a text corpus
// (the CLI wiring lives elsewhere): trains from a config, reports build time,
// test perplexities (KenLM definitions), bits per char and single-thread query
// throughput, and optionally writes the model and an ARPA file.
//
//   ngram_tool CONFIG.json [--save model.dgm] [--arpa out.arpa] [--read-arpa in.arpa]
//              [--load model.dgm] [--build-only 1] [--set KEY=VALUE]...
// --set: a config override as dgm train's (e.g. model.build_memory_mb=64);
// the model file stores the config without the overrides.
// --build-only: read the corpus, fit and save, nothing else (for time and
// peak memory). --load also times opening the file (load_model: the tables
// are mapped, not read) and the first use (the one-time check of the mapped
// tables' checksums and ids). --sample N draws N sequences at 1 and at 2
// threads (words/s, </s> not counted, per wall and per CPU second, and the
// cores the run got: CPU seconds per wall second) and says whether both draws
// are equal.
// Query throughput is given per wall second and per CPU second of the
// scoring thread (the figure to quote on a shared machine).
// peak_mb_after_reading / _after_fit: the peak resident memory (getrusage) at
// those points. Prints one JSON object on stdout.
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
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
// The process's peak resident memory so far, in MB.
double peak_mb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}
// The process's CPU time (all threads).
double process_cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
// This thread's CPU time (the query figure on a shared machine).
double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
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
    size_t sample_n = 0;
    bool build_only = false;
    std::vector<std::string> overrides;
    for (int i = 2; i + 1 < argc; i += 2) {
      std::string a = argv[i];
      if (a == "--save") save = argv[i + 1];
      else if (a == "--arpa") arpa = argv[i + 1];
      else if (a == "--read-arpa") read_arpa = argv[i + 1];
      else if (a == "--load") load = argv[i + 1];
      else if (a == "--build-only") build_only = std::string(argv[i + 1]) == "1";
      else if (a == "--sample") sample_n = size_t(std::stoull(argv[i + 1]));
      else if (a == "--set") overrides.push_back(argv[i + 1]);
      else throw ConfigError("unknown option " + a);
    }
    json cfg = load_config_file(argv[1]);
    // Data paths are relative to the config file's folder (as for dgm train).
    if (cfg.contains("data")) {
      const std::string dir = std::filesystem::absolute(argv[1]).parent_path().string();
      resolve_data_paths(cfg["data"], dir);
    }
    // The model file keeps the config as given: --set changes the build, not
    // the file's header, so that builds under two budgets compare with cmp.
    const json stored = cfg;
    for (const auto& o : overrides) apply_override(cfg, o);
    json out;
    ThreadPool pool(1);
    Rng rng(1);
    std::unique_ptr<Model> owned;
    const double t0 = now();
    const TrainingData td = load_training_data(cfg["data"], cfg["space"], 1);
    const auto& codec = dynamic_cast<const TextCodec&>(*td.codec);
    const double t1 = now();
    out["load_seconds"] = t1 - t0;
    out["peak_mb_after_reading"] = peak_mb();
    out["train_lines"] = td.train.size();
    int64_t train_tokens = 0;
    for (size_t i = 0; i < td.train.size(); ++i) train_tokens += td.train.length(i);
    out["train_tokens"] = train_tokens;
    out["vocabulary"] = codec.vocabulary().size();
    if (!read_arpa.empty()) {
      TokenizerOptions opts = codec.tokenizer().options();
      owned = NgramModel::read_arpa(read_arpa, td.space.dims(), &opts);
    } else if (!load.empty()) {
      const double tl = now();
      owned = load_model(load);
      out["model_load_seconds"] = now() - tl;
      // The first use checks the mapped tables once (checksums, ids).
      const double tu = now();
      std::vector<double> one(1);
      owned->log_prob(DataView(td.test, 0, 1), one.data(), pool);
      out["first_use_seconds"] = now() - tu;
    } else {
      owned = create_model(td.space, cfg["model"], cfg.value("train", json::object()));
      owned->set_codec(td.codec);
      Quiet mon;
      FitContext ctx{&pool, &rng, &mon, nullptr};
      owned->fit(td.train, nullptr, ctx);
    }
    const double t2 = now();
    out["fit_seconds"] = t2 - t1;
    out["peak_mb_after_fit"] = peak_mb();
    auto& model = dynamic_cast<NgramModel&>(*owned);
    out["describe"] = model.describe();
    if (!save.empty()) {
      save_model(save, model, {{"config", stored}});
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
    const double cq = cpu_now();
    int64_t tokens = 0;
    std::vector<double> lp(td.test.size());
    while (elapsed < 2.0 || reps < 3) {
      model.log_prob(td.test, lp.data(), pool);
      for (size_t i = 0; i < td.test.size(); ++i) tokens += td.test.length(i) + 1;
      ++reps;
      elapsed = now() - tq;
    }
    out["query_tokens_per_second"] = double(tokens) / elapsed;
    out["query_tokens_per_cpu_second"] = double(tokens) / (cpu_now() - cq);
    // Sampling on 1 and 2 threads, in chunks of 4096 as dgm sample draws.
    if (sample_n > 0) {
      std::vector<int32_t> first;
      for (int threads : {1, 2}) {
        ThreadPool sp(threads);
        Rng srng(7);
        SampleOptions so;
        so.pool = &sp;
        std::vector<int32_t> all;
        int64_t words = 0;
        const double ts = now(), cs = process_cpu_now();
        for (size_t done = 0; done < sample_n;) {
          const size_t m = std::min<size_t>(4096, sample_n - done);
          const Dataset part = model.sample(m, srng, so);
          for (size_t i = 0; i < part.size(); ++i) {
            const std::vector<int32_t> r = part.row(i);
            words += int64_t(r.size());
            all.insert(all.end(), r.begin(), r.end());
            all.push_back(-1);
          }
          done += m;
        }
        const double el = now() - ts, cpu = process_cpu_now() - cs;
        out["sample_words_per_second_" + std::to_string(threads) + "t"] = double(words) / el;
        // CPU seconds per wall second: how many cores the run got.
        out["sample_cores_used_" + std::to_string(threads) + "t"] = cpu / el;
        out["sample_words_per_cpu_second_" + std::to_string(threads) + "t"] = double(words) / cpu;
        if (threads == 1) first = all;
        else out["sample_identical_across_threads"] = all == first;
      }
    }
    std::cout << out.dump(1) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ngram_tool: error: " << e.what() << "\n";
    return 1;
  }
}
