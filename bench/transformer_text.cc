// transformer_text.cc — trains and evaluates a transformer on a text corpus
// through the library (load_text_data), for the KJV figures of issue 12 while
// the command line reaches text only through ngram (bench/transformer_kjv.sh
// builds it against libdgm; not part of the main build).
//
//   transformer_text CONFIG [--threads N] [--save PATH] [--validation-count N]
//                    [--prompt TEXT] [-n SAMPLES] [--set key=value ...]
//
// Without a "validation" file in the config, a seeded random validation set of
// --validation-count lines (default 1000) is split off the training lines.
// Prints one JSON line per evaluation (train / validation NLL in nats a line,
// validation bits per char and perplexity, CPU and wall seconds so far), then
// a summary: test bits per char (code points plus one newline a line, the
// end marker standing for the newline), test perplexity over tokens plus
// end markers (with and without OOV tokens, KenLM's definitions), and samples.
// SIGINT or SIGTERM ends training early with the best parameters so far.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "dgm/config.h"
#include "dgm/error.h"
#include "dgm/io/text.h"
#include "dgm/model.h"
#include "dgm/model_file.h"

using namespace dgm;
using Clock = std::chrono::steady_clock;

// SIGINT / SIGTERM stop training at the next minibatch; the best parameters
// so far are kept, scored and saved (a run cut short by its time budget).
static std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

static double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Totals {
  double nll = 0;     // nats
  int64_t lines = 0, tokens = 0, chars = 0, oov = 0;
  double nll_no_oov = 0;
  int64_t scored_no_oov = 0;
};

// NLL of a split, per-token terms without the <unk> positions too.
static Totals score(const Model& m, const Dataset& d, ThreadPool& pool) {
  Totals t;
  t.lines = int64_t(d.size());
  const size_t stride = size_t(d.dims() + 1);
  std::vector<double> pos(d.size() * stride);
  m.position_log_probs(d, pos.data(), pool);
  for (size_t i = 0; i < d.size(); ++i) {
    const int64_t len = d.length(i);
    t.tokens += len;
    t.chars += len + 1;
    for (int64_t k = 0; k <= len && k < int64_t(stride); ++k) {
      const double lp = pos[i * stride + size_t(k)];
      t.nll -= lp;
      if (k < len && d.at(i, k) == Vocabulary::kUnk) {
        ++t.oov;
        continue;
      }
      t.nll_no_oov -= lp;
      ++t.scored_no_oov;
    }
  }
  return t;
}

class JsonMonitor : public TrainMonitor {
 public:
  JsonMonitor(const Model& m, const Dataset& valid, ThreadPool& pool, bool chars)
      : m_(m), valid_(valid), pool_(pool), chars_(chars), c0_(cpu_now()), w0_(Clock::now()) {
    for (size_t i = 0; i < valid.size(); ++i) valid_units_ += valid.length(i) + 1;
  }
  void on_step(const TrainProgress& p) override {
    const double units = double(valid_units_) / double(valid_.size());
    json j = {{"unit", p.unit}, {"step", p.step}, {"total", p.total}, {"train_nll", p.train_nll},
              {"valid_nll", p.valid_nll}, {"best", p.best},
              {"cpu_s", cpu_now() - c0_},
              {"wall_s", std::chrono::duration<double>(Clock::now() - w0_).count()}};
    if (chars_) j["valid_bits_per_char"] = p.valid_nll / units / std::log(2.0);
    else j["valid_perplexity"] = std::exp(p.valid_nll / units);
    std::cout << j.dump() << std::endl;
  }
  void message(const std::string& text) override { std::cerr << text << "\n"; }

 private:
  const Model& m_;
  const Dataset& valid_;
  ThreadPool& pool_;
  bool chars_;
  int64_t valid_units_ = 0;
  double c0_;
  Clock::time_point w0_;
};

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: transformer_text CONFIG [--threads N] [--save PATH] [--validation-count N] [--prompt TEXT] "
                 "[-n N] [--set key=value ...]\n";
    return 2;
  }
  json cfg = load_config_file(argv[1]);
  int threads = 2;
  size_t valid_count = 1000, samples = 5;
  std::string save, prompt;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--threads") threads = std::stoi(v);
    else if (a == "--save") save = v;
    else if (a == "--validation-count") valid_count = std::stoul(v);
    else if (a == "--prompt") prompt = v;
    else if (a == "-n") samples = std::stoul(v);
    else if (a == "--set") apply_override(cfg, v);
    else throw ConfigError("unknown option " + a);
  }
  ThreadPool pool(threads);
  TextData td = load_text_data(cfg["data"], cfg["space"]);
  if (td.validation.empty()) {
    td.train.shuffle(1);
    td.validation = td.train.split_tail(std::min(valid_count, td.train.size() / 10));
  }
  const bool chars = td.codec.tokenizer().options().kind == "char";
  json train_cfg = cfg.value("train", json::object());
  const uint64_t seed = train_cfg.value("seed", 1);
  auto model = create_model(td.space, cfg["model"], train_cfg);
  std::cerr << "model: " << model->describe().dump() << "\n"
            << "data: " << td.train.size() << " training lines, " << td.validation.size() << " validation, "
            << td.test.size() << " test; vocabulary " << td.codec.vocabulary().size() << "\n";
  JsonMonitor mon(*model, td.validation, pool, chars);
  Rng rng(seed);
  const double c0 = cpu_now();
  const auto w0 = Clock::now();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  model->fit(td.train, &td.validation, {&pool, &rng, &mon, &g_stop});
  const double fit_cpu = cpu_now() - c0, fit_wall = std::chrono::duration<double>(Clock::now() - w0).count();
  if (!save.empty()) save_model(save, *model, {{"config", cfg}});
  json out = {{"fit_cpu_s", fit_cpu}, {"fit_wall_s", fit_wall}, {"threads", threads}, {"stopped", g_stop.load()},
              {"parameters", model->describe()["parameters"]}};
  if (!td.test.empty()) {
    const Totals t = score(*model, td.test, pool);
    out["test_lines"] = t.lines;
    out["test_nll_per_line"] = t.nll / double(t.lines);
    out["test_oov"] = t.oov;
    if (chars) {
      out["test_bits_per_char"] = t.nll / std::log(2.0) / double(td.test_info.chars);
    } else {
      out["test_perplexity"] = std::exp(t.nll / double(t.tokens + t.lines));
      out["test_perplexity_no_oov"] = std::exp(t.nll_no_oov / double(t.scored_no_oov));
      out["test_bits_per_char"] = t.nll / std::log(2.0) / double(td.test_info.chars);
    }
  }
  // Samples, continuing the prompt.
  Dataset partial(td.space);
  const std::vector<int32_t> p = td.codec.encode(prompt);
  for (size_t i = 0; i < samples; ++i) partial.push_back(p);
  Rng srng(seed + 1);
  SampleOptions so;
  so.pool = &pool;
  const Dataset s = model->complete(partial, {}, srng, so);
  json lines = json::array();
  for (size_t i = 0; i < s.size(); ++i) lines.push_back(td.codec.decode(s.row(i)));
  out["samples"] = lines;
  std::cout << out.dump() << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "transformer_text: error: " << e.what() << "\n";
  return 1;
}
