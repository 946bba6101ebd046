// models_bench.cc — timing driver for dgm's neural models on Fashion-MNIST (not
// part of the main build: bench/run.sh builds it against libdgm). FVSBN, NADE
// and MADE on the images binarised at 128 (H = 500, batch 100, Adam 1e-3), the
// PixelCNN of configs/fmnist8-pixelcnn.json on the 8-bit images with labels
// (batch 32). One JSON line a run, with CPU and wall seconds:
//   --steps N    N minibatches of a real fit (no validation): ms a batch
//   --epoch      one epoch over the 50,000 training images: s an epoch
//                (both from the start of the training loop to its last
//                minibatch; fit_s / fit_cpu_s: the whole fit() call)
//   --score N    log_prob of N test images: images a second
//   --sample N   N samples: images a second
//   --repeat R   repeat --score / --sample R times and report the median rate
//   --export DIR the initialised parameters (params.f32 + params.json) and the
//                log-likelihoods of the first 64 test images (scores.f64), for
//                the PyTorch reference to load and compare.
#include <sys/resource.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "dgm/error.h"
#include "dgm/models/autoregressive.h"

using namespace dgm;
using Clock = std::chrono::steady_clock;

static double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

static double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// CPU and wall clocks at the start of training and after every minibatch, so
// the per-batch figures cover the training steps only (not the parameter
// initialisation or the preparation of the data), as the PyTorch side times
// its loop.
struct StepClock : TrainMonitor {
  double cpu0 = 0, cpu1 = 0;
  Clock::time_point wall0, wall1;
  int64_t batches = 0;
  void on_start(const TrainProgress&) override {
    cpu0 = cpu1 = cpu_now();
    wall0 = wall1 = Clock::now();
  }
  void on_work(int64_t, int64_t) override {
    cpu1 = cpu_now();
    wall1 = Clock::now();
    ++batches;
  }
  void on_step(const TrainProgress&) override {}
  void message(const std::string&) override {}
};

static std::string gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw IoError(path + ": cannot open");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  gzclose(f);
  return out;
}

static uint32_t be32(const std::string& s, size_t o) {
  return (uint32_t(uint8_t(s[o])) << 24) | (uint32_t(uint8_t(s[o + 1])) << 16) | (uint32_t(uint8_t(s[o + 2])) << 8) |
         uint32_t(uint8_t(s[o + 3]));
}

// Images (binarised at 128 when the space is binary) with labels when the space has them.
static Dataset read_idx(const Space& space, const std::string& images, const std::string& labels, size_t first,
                        size_t limit) {
  const std::string im = gunzip(images);
  const std::string lb = space.has_labels() ? gunzip(labels) : std::string();
  if (be32(im, 0) != 0x803) throw FormatError(images + ": not an IDX image file");
  const size_t total = be32(im, 4), rows = be32(im, 8), cols = be32(im, 12);
  if (rows * cols != size_t(space.dims())) throw FormatError(images + ": wrong image size");
  const size_t n = std::min(limit, total - std::min(first, total));
  Dataset d(space);
  d.reserve(n);
  std::vector<uint8_t> x(rows * cols);
  const bool binary = space.levels() == 2;
  for (size_t i = first; i < first + n; ++i) {
    for (size_t j = 0; j < x.size(); ++j) {
      const uint8_t v = uint8_t(im[16 + i * x.size() + j]);
      x[j] = binary ? (v >= 128 ? 1 : 0) : v;
    }
    d.push_back_u8(x.data(), space.has_labels() ? int32_t(uint8_t(lb[8 + i])) : -1);
  }
  return d;
}

int main(int argc, char** argv) {
  std::string kind = "nade", dir = "/usr/share/datasets/fashion-mnist", export_dir;
  int threads = 1;
  long steps = 0, score_n = 0, sample_n = 0, repeat = 1;
  bool epoch = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw ConfigError(a + " needs a value");
      return std::string(argv[++i]);
    };
    try {
      if (a == "--model") kind = next();
      else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--steps") steps = std::stol(next());
      else if (a == "--epoch") epoch = true;
      else if (a == "--score") score_n = std::stol(next());
      else if (a == "--sample") sample_n = std::stol(next());
      else if (a == "--export") export_dir = next();
      else if (a == "--repeat") repeat = std::max(1L, std::stol(next()));
      else if (a == "--data") dir = next();
      else {
        std::cerr << "models_bench: unknown option " << a << "\n";
        return 2;
      }
    } catch (const std::exception& e) {
      std::cerr << "models_bench: " << a << ": " << e.what() << "\n";
      return 2;
    }
  }
  try {
    const bool pixelcnn = kind == "pixelcnn";
    const Space space = pixelcnn ? Space::tensor({1, 28, 28}, 256, 10) : Space::tensor({28, 28}, 2);
    json model = {{"type", kind}};
    json tr = {{"epochs", 1}, {"patience", 1000}};
    if (pixelcnn) {
      // configs/fmnist8-pixelcnn.json
      model.update({{"channels", 48}, {"layers", 5}, {"kernel", 3}, {"first_kernel", 7}, {"output", "dlm"}, {"mixtures", 5}});
      tr.update({{"batch_size", 32}, {"learning_rate", 2e-3}, {"lr_decay", 0.9}, {"clip_norm", 100.0}});
    } else {
      if (kind != "fvsbn") model["hidden"] = 500;
      tr.update({{"batch_size", 100}, {"learning_rate", 1e-3}});
    }
    const size_t batch = tr["batch_size"].get<size_t>();
    const std::string train_images = dir + "/train-images-idx3-ubyte.gz", train_labels = dir + "/train-labels-idx1-ubyte.gz";
    size_t train_n = 50000;
    if (!epoch) train_n = steps > 0 ? size_t(steps) * batch : batch;
    Dataset train = read_idx(space, train_images, train_labels, 0, train_n);
    auto m = create_model(space, model, tr);
    ThreadPool pool(threads);
    Rng rng(1);
    json out = {{"model", kind}, {"threads", threads}};
    auto t0 = Clock::now();
    double c0 = cpu_now();
    StepClock sc;
    m->fit(train, nullptr, {&pool, &rng, &sc, nullptr});  // also initialises the parameters
    const double fit_s = secs(t0, Clock::now()), fit_cpu = cpu_now() - c0;
    const double batches = double(std::max<int64_t>(1, sc.batches));
    const double step_s = secs(sc.wall0, sc.wall1), step_cpu = sc.cpu1 - sc.cpu0;
    out.update({{"fit_s", fit_s}, {"fit_cpu_s", fit_cpu}});
    if (epoch) out.update({{"epoch_s", step_s}, {"epoch_cpu_s", step_cpu}, {"batches", batches}});
    if (steps > 0) out.update({{"ms_per_batch", 1e3 * step_s / batches}, {"cpu_ms_per_batch", 1e3 * step_cpu / batches},
                               {"batch", batch}, {"batches", batches}});
    if (score_n > 0) {
      Dataset test = read_idx(space, dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz", 0,
                              size_t(score_n));
      std::vector<double> wall, cpu;
      std::vector<double> lp;
      for (long r = 0; r < repeat; ++r) {
        t0 = Clock::now();
        c0 = cpu_now();
        lp = m->log_prob(test, pool);
        wall.push_back(double(test.size()) / secs(t0, Clock::now()));
        cpu.push_back(double(test.size()) / (cpu_now() - c0));
      }
      double nll = 0;
      for (double v : lp) nll -= v;
      out.update({{"score_images_per_s", median(wall)}, {"score_images_per_cpu_s", median(cpu)},
                  {"score_nll", nll / double(test.size())}});
    }
    if (sample_n > 0) {
      SampleOptions so;
      so.pool = &pool;
      std::vector<double> wall, cpu;
      for (long r = 0; r < repeat; ++r) {
        Rng srng(2);
        t0 = Clock::now();
        c0 = cpu_now();
        const Dataset s = m->sample(size_t(sample_n), srng, so);
        wall.push_back(double(s.size()) / secs(t0, Clock::now()));
        cpu.push_back(double(s.size()) / (cpu_now() - c0));
      }
      out.update({{"sample_images_per_s", median(wall)}, {"sample_images_per_cpu_s", median(cpu)}});
    }
    if (!export_dir.empty()) {
      const auto& ar = dynamic_cast<const AutoregressiveModel&>(*m);
      const ParamStore& ps = ar.param_store();
      json blocks = json::array();
      for (const auto& b : ps.blocks()) blocks.push_back({{"name", b.name}, {"shape", b.shape}, {"offset", b.offset}});
      std::ofstream(export_dir + "/params.json") << json{{"parameters", ps.size()}, {"blocks", blocks}, {"describe", m->describe()}}.dump();
      std::ofstream(export_dir + "/params.f32", std::ios::binary)
          .write(reinterpret_cast<const char*>(ps.data()), std::streamsize(ps.size() * sizeof(float)));
      Dataset test = read_idx(space, dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz", 0, 64);
      const std::vector<double> lp = m->log_prob(test, pool);
      std::ofstream(export_dir + "/scores.f64", std::ios::binary)
          .write(reinterpret_cast<const char*>(lp.data()), std::streamsize(lp.size() * sizeof(double)));
      out["exported"] = export_dir;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    out["peak_rss_mb"] = double(ru.ru_maxrss) / 1024.0;
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "models_bench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
