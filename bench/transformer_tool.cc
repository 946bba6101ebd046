// transformer_tool.cc — dgm's side of the transformer comparison with PyTorch
// (bench/transformer_torch.sh builds it against libdgm; not part of the main
// build). The space is fixed-length windows of T characters of a text file
// (byte values mapped to ids in order of first appearance), so both sides see
// the same tensors.
//
//   transformer_tool init  DIR --text F --T 128 --batch 16 --steps 20 [--set model.k=v ...]
//       writes DIR/layout.json (shapes, block offsets, training options),
//       DIR/params.bin (float32 initial parameters, dgm's initialisation) and
//       DIR/data.bin (int32, steps x batch x T windows)
//   transformer_tool train DIR [--threads N] [--time-steps M]
//       runs the shared loop's step (chunked loss_and_grad, AdamW with the
//       schedule, clipping) over DIR/data.bin from DIR/params.bin; prints one
//       JSON line per step {"step", "loss"} (loss = mean NLL a window, nats),
//       then {"step_ms": [...]} for M more timed steps (median in the summary)
//   transformer_tool sample DIR -n N [--threads N]
//       KV-cached sampling of N windows of T tokens from DIR/params.bin;
//       prints {"tokens", "seconds", "tokens_per_s"}
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "dgm/config.h"
#include "dgm/error.h"
#include "dgm/models/transformer.h"
#include "dgm/train/adam.h"

using namespace dgm;
using Clock = std::chrono::steady_clock;

static double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// CPU seconds of this process (all threads): the figure that stays meaningful
// on a shared machine.
static double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

static long peak_rss_kb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

static std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw IoError(p + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

static void write_file(const std::string& p, const void* data, size_t bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(data), std::streamsize(bytes));
  if (!f) throw IoError(p + ": cannot write");
}

struct Setup {
  json cfg;  // {"space", "model", "train"}
  int64_t T = 0, batch = 0, steps = 0;
};

static std::unique_ptr<TransformerModel> make_model(const Setup& s) {
  const Space space = Space::from_json(s.cfg["space"]);
  ConfigSection m(s.cfg["model"], "model"), t(s.cfg["train"], "train");
  m.allow({"type"});
  auto model = std::make_unique<TransformerModel>(space, m, t);
  m.finish();
  t.allow({"seed"});
  t.finish();
  return model;
}

static Setup load_setup(const std::string& dir) {
  const json j = json::parse(read_file(dir + "/layout.json"));
  Setup s;
  s.cfg = j["config"];
  s.T = j["T"];
  s.batch = j["batch"];
  s.steps = j["steps"];
  return s;
}

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::cerr << "usage: transformer_tool init|train|sample DIR [options]\n";
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
  std::map<std::string, std::string> opt;
  std::vector<std::string> sets;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--set") sets.push_back(argv[i + 1]);
    else opt[argv[i]] = argv[i + 1];
  }
  auto get = [&](const std::string& k, const std::string& def) { return opt.count(k) ? opt[k] : def; };
  const int threads = std::stoi(get("--threads", "1"));

  if (mode == "init") {
    Setup s;
    s.T = std::stoll(get("--T", "128"));
    s.batch = std::stoll(get("--batch", "16"));
    s.steps = std::stoll(get("--steps", "20"));
    const std::string text = read_file(get("--text", "data/kjv/train.txt"));
    std::vector<int32_t> id(256, -1);
    int32_t K = 0;
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (unsigned char c : text) {
      if (id[c] < 0) id[c] = K++;
      ids.push_back(id[c]);
    }
    s.cfg = {{"space", {{"shape", {s.T}}, {"levels", K}}},
             {"model", {{"type", "transformer"}, {"layers", 4}, {"heads", 4}, {"width", 128}, {"context", s.T}}},
             {"train", {{"seed", 1}, {"batch_size", s.batch}, {"learning_rate", 1e-3}, {"optimizer", "adamw"},
                        {"weight_decay", 0.1}, {"beta2", 0.95}, {"clip_norm", 1.0}, {"warmup_steps", 5},
                        {"schedule", "cosine"}, {"min_learning_rate", 1e-4}, {"epochs", 1}}}};
    for (const auto& a : sets) apply_override(s.cfg, a);
    auto model = make_model(s);
    Rng rng(s.cfg["train"].value("seed", 1));
    model->init_parameters(rng);
    // Windows at seeded random offsets.
    std::vector<int32_t> data(size_t(s.steps * s.batch * s.T));
    Rng drng(7);
    for (int64_t w = 0; w < s.steps * s.batch; ++w) {
      const size_t off = size_t(drng.below(ids.size() - size_t(s.T)));
      std::copy(ids.begin() + long(off), ids.begin() + long(off) + s.T, data.begin() + w * s.T);
    }
    json blocks = json::array();
    for (const auto& b : model->param_store().blocks())
      blocks.push_back({{"name", b.name}, {"offset", b.offset}, {"shape", b.shape}});
    const json layout = {{"config", s.cfg}, {"T", s.T}, {"batch", s.batch}, {"steps", s.steps}, {"blocks", blocks},
                         {"describe", model->describe()},
                         {"decay", model->decay_ranges()}};
    std::ofstream(dir + "/layout.json") << layout.dump(1) << "\n";
    write_file(dir + "/params.bin", model->param_store().data(), model->num_params() * sizeof(float));
    write_file(dir + "/data.bin", data.data(), data.size() * sizeof(int32_t));
    std::cerr << "init: " << model->num_params() << " parameters, vocabulary " << K << "\n";
    return 0;
  }

  const Setup s = load_setup(dir);
  auto model = make_model(s);
  const std::string pbytes = read_file(dir + "/params.bin");
  if (pbytes.size() != model->num_params() * sizeof(float)) throw FormatError(dir + "/params.bin: wrong size");
  std::memcpy(model->params(), pbytes.data(), pbytes.size());
  ThreadPool pool(threads);
  const Space space = Space::from_json(s.cfg["space"]);

  if (mode == "train") {
    const std::string dbytes = read_file(dir + "/data.bin");
    const int32_t* d = reinterpret_cast<const int32_t*>(dbytes.data());
    Dataset data(space);
    data.reserve(size_t(s.steps * s.batch));
    for (int64_t w = 0; w < s.steps * s.batch; ++w) data.push_back(d + w * s.T, s.T);
    const TrainOptions& to = model->train_options();
    const size_t P = model->num_params(), B = size_t(s.batch), C = model->chunk_rows();
    const size_t nc = num_chunks(B, C);
    std::vector<FloatBuffer> grads(nc, FloatBuffer(P));
    std::vector<double> closs(nc);
    std::vector<size_t> rows(data.size());
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    Adam adam(P, to.adam);
    adam.set_decay(model->decay_ranges());
    const int64_t time_steps = std::stoll(get("--time-steps", "0"));
    std::vector<double> ms, cpu_ms;
    for (int64_t st = 0; st < s.steps + time_steps; ++st) {
      const int64_t b = st % s.steps;
      const auto t0 = Clock::now();
      const double c0 = cpu_now();
      adam.set_learning_rate(scheduled_learning_rate(to, st, s.steps, 1));
      model->begin_step(st);
      pool.run(nc, [&](size_t c) {
        const size_t r0 = c * C, rn = std::min(B, r0 + C) - r0;
        closs[c] = model->loss_and_grad(data, rows.data() + size_t(b) * B + r0, rn, grads[c].data());
      });
      double loss = 0;
      for (double v : closs) loss += v;
      std::vector<float*> parts(nc);
      for (size_t c = 0; c < nc; ++c) parts[c] = grads[c].data();
      const double norm = adam.step(model->params(), parts, 1.0f / float(B), pool, true);
      const auto t1 = Clock::now();
      const double c1 = cpu_now();
      if (st < s.steps) {
        std::printf("{\"step\": %lld, \"loss\": %.9g, \"grad_norm\": %.9g}\n", (long long)st, loss / double(B), norm);
      } else {
        ms.push_back(1e3 * secs(t0, t1));
        cpu_ms.push_back(1e3 * (c1 - c0));
      }
    }
    if (!ms.empty()) {
      auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
      };
      std::printf("{\"side\": \"dgm\", \"threads\": %d, \"wall_ms\": %s, \"cpu_ms\": %s, \"median_wall_ms\": %.4f, "
                  "\"median_cpu_ms\": %.4f, \"tokens_per_step\": %lld, \"peak_rss_mb\": %.1f}\n",
                  threads, json(ms).dump().c_str(), json(cpu_ms).dump().c_str(), median(ms), median(cpu_ms),
                  (long long)(s.T * s.batch), double(peak_rss_kb()) / 1024);
    }
    return 0;
  }

  if (mode == "sample") {
    const size_t n = std::stoull(get("-n", "16"));
    Rng rng(3);
    SampleOptions so;
    so.pool = &pool;
    const auto t0 = Clock::now();
    const double c0 = cpu_now();
    const Dataset x = model->sample(n, rng, so);
    const double sec = secs(t0, Clock::now()), cpu = cpu_now() - c0;
    const double tokens = double(n) * double(s.T);
    std::printf("{\"side\": \"dgm\", \"sampler\": \"kv-cache\", \"threads\": %d, \"rows\": %zu, \"tokens\": %.0f, "
                "\"wall_s\": %.4f, \"cpu_s\": %.4f, \"tokens_per_cpu_s\": %.1f, \"peak_rss_mb\": %.1f}\n",
                threads, n, tokens, sec, cpu, tokens / cpu, double(peak_rss_kb()) / 1024);
    return 0;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "transformer_tool: error: " << e.what() << "\n";
  return 1;
}
