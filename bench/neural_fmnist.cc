// neural_fmnist.cc — benchmark driver for FVSBN / NADE / MADE on Fashion-MNIST
// binarised at 128 (not part of the main build: bench/neural_fmnist.sh builds
// it against libdgm). Reads the IDX .gz files directly with zlib, trains with
// the library's loop, and prints one JSON line: per-epoch wall times, train /
// validation / test NLL (nats), scoring and sampling throughput, peak RSS, and
// the Eigen float GEMM throughput of this machine at the model's sizes.
#include <sys/resource.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>

#include "dgm/error.h"
#include "dgm/models/autoregressive.h"

using namespace dgm;
using Clock = std::chrono::steady_clock;

static double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

static double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

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

static Dataset read_idx(const Space& space, const std::string& images, const std::string& labels, size_t limit) {
  const std::string im = gunzip(images);
  const std::string lb = space.has_labels() ? gunzip(labels) : std::string();
  if (be32(im, 0) != 0x803) throw FormatError(images + ": not an IDX image file");
  const size_t n = std::min<size_t>(be32(im, 4), limit), rows = be32(im, 8), cols = be32(im, 12);
  if (rows * cols != size_t(space.dims())) throw FormatError(images + ": wrong image size");
  Dataset d(space);
  d.reserve(n);
  std::vector<uint8_t> x(rows * cols);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < x.size(); ++j) x[j] = uint8_t(im[16 + i * x.size() + j]) >= 128 ? 1 : 0;
    d.push_back_u8(x.data(), space.has_labels() ? int32_t(uint8_t(lb[8 + i])) : -1);
  }
  return d;
}

struct Mon : TrainMonitor {
  Clock::time_point last = Clock::now();
  double last_cpu = cpu_now();
  std::vector<double> epoch_s, epoch_cpu_s, train_nll, valid_nll;
  void on_step(const TrainProgress& p) override {
    auto now = Clock::now();
    epoch_s.push_back(secs(last, now));
    epoch_cpu_s.push_back(cpu_now() - last_cpu);
    train_nll.push_back(p.train_nll);
    valid_nll.push_back(p.valid_nll);
    std::fprintf(stderr, "epoch %lld: %.2f s, train %.3f, valid %.3f\n", (long long)p.step, epoch_s.back(), p.train_nll,
                 p.valid_nll);
    last = Clock::now();  // validation time is excluded from the next epoch
    last_cpu = cpu_now();
  }
  void message(const std::string& m) override { std::fprintf(stderr, "%s\n", m.c_str()); }
};

// GFLOP/s of C (m, n) = A (m, k) B (k, n) in float.
static double gemm_gflops(long m, long k, long n) {
  Eigen::MatrixXf A = Eigen::MatrixXf::Random(m, k), B = Eigen::MatrixXf::Random(k, n), C(m, n);
  int reps = 0;
  auto t0 = Clock::now();
  do {
    C.noalias() = A * B;
    ++reps;
  } while (secs(t0, Clock::now()) < 0.5);
  return 2.0 * double(m) * double(k) * double(n) * reps / secs(t0, Clock::now()) / 1e9;
}

int main(int argc, char** argv) {
  std::string kind = "nade", dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 2, threads = 1, hidden = 500;
  size_t train_limit = 60000, sample_n = 1000;
  bool labels = false, micro = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(argv[++i]); };
    if (a == "--model") kind = next();
    else if (a == "--epochs") epochs = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--hidden") hidden = std::stoi(next());
    else if (a == "--train-limit") train_limit = std::stoul(next());
    else if (a == "--samples") sample_n = std::stoul(next());
    else if (a == "--labels") labels = true;
    else if (a == "--micro") micro = true;
    else if (a == "--data") dir = next();
    else { std::cerr << "unknown option " << a << "\n"; return 2; }
  }
  try {
    const Space space = Space::tensor({28, 28}, 2, labels ? 10 : 0);
    Dataset train = read_idx(space, dir + "/train-images-idx3-ubyte.gz", dir + "/train-labels-idx1-ubyte.gz", train_limit);
    Dataset test = read_idx(space, dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz", 10000);
    Dataset valid = train.split_tail(std::min<size_t>(10000, train.size() / 6));
    json model = {{"type", kind}};
    if (kind != "fvsbn") model["hidden"] = hidden;
    json tr = {{"epochs", epochs}, {"batch_size", 100}, {"learning_rate", 1e-3}, {"patience", 1000}};
    auto m = create_model(space, model, tr);
    ThreadPool pool(threads);
    Rng rng(1);
    if (micro) {
      // CPU time of one minibatch gradient (100 rows, in the loop's chunks) and of scoring.
      auto* ar = dynamic_cast<AutoregressiveModel*>(m.get());
      Trainable& tm = *ar;
      tm.begin_step(0);
      std::vector<float> g(tm.num_params());
      std::vector<size_t> rows(100);
      for (size_t i = 0; i < 100; ++i) rows[i] = i;
      const int reps = kind == "nade" ? 10 : 100;
      double c0 = cpu_now();
      for (int r = 0; r < reps; ++r)
        for (size_t c = 0; c < 100; c += tm.chunk_rows()) tm.loss_and_grad(train, rows.data() + c, tm.chunk_rows(), g.data());
      const double grad_ms = (cpu_now() - c0) / reps * 1e3;
      c0 = cpu_now();
      ThreadPool one(1);
      m->log_prob(DataView(test, 0, 1000), one);
      const double score_ms = (cpu_now() - c0);
      json out = {{"model", kind}, {"grad_ms_per_batch100", grad_ms}, {"score_images_per_cpu_s", 1000.0 / score_ms}};
      std::cout << out.dump() << std::endl;
      return 0;
    }
    Mon mon;
    auto t0 = Clock::now();
    m->fit(train, &valid, {&pool, &rng, &mon, nullptr});
    const double fit_s = secs(t0, Clock::now());
    t0 = Clock::now();
    auto lp = m->log_prob(test, pool);
    const double score_s = secs(t0, Clock::now());
    double test_nll = 0;
    for (double v : lp) test_nll -= v;
    test_nll /= double(lp.size());
    t0 = Clock::now();
    Rng srng(2);
    Dataset s = m->sample(sample_n, srng);
    const double sample_s = secs(t0, Clock::now());
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    json out = {{"model", kind}, {"hidden", hidden}, {"threads", threads}, {"epochs", epochs},
                {"train_rows", train.size()}, {"labels", labels},
                {"epoch_seconds", mon.epoch_s}, {"epoch_cpu_seconds", mon.epoch_cpu_s}, {"train_nll", mon.train_nll}, {"valid_nll", mon.valid_nll},
                {"fit_seconds", fit_s}, {"test_nll", test_nll},
                {"score_images_per_s", double(test.size()) / score_s},
                {"sample_images_per_s", double(sample_n) / sample_s},
                {"peak_rss_mb", double(ru.ru_maxrss) / 1024.0},
                {"gemm_gflops", {{"100x784x500", gemm_gflops(100, 784, 500)}, {"50x784x500", gemm_gflops(50, 784, 500)},
                                  {"500x100x784", gemm_gflops(500, 100, 784)}}}};
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "neural_fmnist: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
