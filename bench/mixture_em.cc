// mixture_em.cc — benchmark of the mixture's EM on binarized Fashion-MNIST
// (pixel >= 128 -> 1; 60000 train, 10000 test), plus scoring throughput of the
// independent and mixture models. Built and run by bench/mixture_em.sh; not
// part of the main build. Prints one "key=value" line per figure.
//   mixture_em DATA_DIR THREADS [COMPONENTS] [ITERATIONS] [SEED]
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "dgm/model.h"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// CPU seconds of the whole process (all threads): robust to a loaded machine.
double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Reads an IDX image file (magic 0x00000803, big-endian N, rows, cols) from gzip.
std::vector<uint8_t> read_idx_images(const std::string& path, size_t* n, size_t* d) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": cannot open");
  unsigned char h[16];
  if (gzread(f, h, 16) != 16) throw std::runtime_error(path + ": short header");
  auto be = [&](int i) { return (uint32_t(h[i]) << 24) | (uint32_t(h[i + 1]) << 16) | (uint32_t(h[i + 2]) << 8) | h[i + 3]; };
  if (be(0) != 0x803) throw std::runtime_error(path + ": not an IDX image file");
  *n = be(4);
  *d = size_t(be(8)) * be(12);
  std::vector<uint8_t> v(*n * *d);
  if (gzread(f, v.data(), unsigned(v.size())) != int(v.size())) throw std::runtime_error(path + ": truncated");
  gzclose(f);
  return v;
}

dgm::Dataset load(const std::string& path, const dgm::Space& space) {
  size_t n, d;
  std::vector<uint8_t> px = read_idx_images(path, &n, &d);
  dgm::Dataset ds(space);
  ds.reserve(n);
  std::vector<uint8_t> row(d);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) row[j] = px[i * d + j] >= 128;
    ds.push_back_u8(row.data());
  }
  return ds;
}

struct Timer : dgm::TrainMonitor {
  std::vector<double> stamps, cpu_stamps;
  double last_train_nll = 0;
  void on_step(const dgm::TrainProgress& p) override {
    stamps.push_back(now());
    cpu_stamps.push_back(cpu_now());
    last_train_nll = p.train_nll;
  }
  void message(const std::string&) override {}
};

double mean_nll(const dgm::Model& m, const dgm::Dataset& d, dgm::ThreadPool& pool) {
  std::vector<double> lp = m.log_prob(d, pool);
  double s = 0;
  for (double v : lp) s += v;
  return -s / double(d.size());
}

// Samples per second of log_prob over `d`, best of 3 passes.
double throughput(const dgm::Model& m, const dgm::Dataset& d, dgm::ThreadPool& pool) {
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    double t = now();
    m.log_prob(d, pool);
    best = std::min(best, now() - t);
  }
  return double(d.size()) / best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: mixture_em DATA_DIR THREADS [COMPONENTS] [ITERATIONS] [SEED]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int threads = std::atoi(argv[2]);
  const int k = argc > 3 ? std::atoi(argv[3]) : 100;
  const int iterations = argc > 4 ? std::atoi(argv[4]) : 50;
  const uint64_t seed = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 1;
  try {
    dgm::Space space = dgm::Space::tensor({28, 28}, 2);
    dgm::Dataset train = load(dir + "/train-images-idx3-ubyte.gz", space);
    dgm::Dataset test = load(dir + "/t10k-images-idx3-ubyte.gz", space);
    dgm::ThreadPool pool(threads);
    dgm::Rng rng(seed);

    dgm::json mcfg = {{"type", "mixture"}, {"components", k}, {"alpha", 1.0}};
    dgm::json tcfg = {{"max_iterations", iterations}, {"tolerance", 0.0}};
    auto mixture = dgm::create_model(space, mcfg, tcfg);
    Timer timer;
    const double t0 = now(), c0 = cpu_now();
    mixture->fit(train, nullptr, {&pool, &rng, &timer, nullptr});
    const double t1 = now();
    std::vector<double> per_iter;
    double prev = t0;
    for (double s : timer.stamps) per_iter.push_back(s - prev), prev = s;
    std::vector<double> cpu_per_iter;
    prev = c0;
    for (double s : timer.cpu_stamps) cpu_per_iter.push_back(s - prev), prev = s;
    std::sort(per_iter.begin(), per_iter.end());
    std::sort(cpu_per_iter.begin(), cpu_per_iter.end());
    std::printf("iterations=%zu\n", per_iter.size());
    std::printf("sec_per_iter_median=%.4f\n", per_iter[per_iter.size() / 2]);
    std::printf("cpu_sec_per_iter_median=%.4f\n", cpu_per_iter[cpu_per_iter.size() / 2]);
    std::printf("fit_seconds=%.3f\n", t1 - t0);
    std::printf("train_nll=%.4f\n", timer.last_train_nll);
    std::printf("test_nll=%.4f\n", mean_nll(*mixture, test, pool));

    auto independent = dgm::create_model(space, {{"type", "independent"}}, dgm::json::object());
    independent->fit(train, nullptr, {&pool, &rng, nullptr, nullptr});
    std::printf("independent_test_nll=%.4f\n", mean_nll(*independent, test, pool));
    std::printf("independent_score_per_sec=%.0f\n", throughput(*independent, train, pool));
    std::printf("mixture_score_per_sec=%.0f\n", throughput(*mixture, test, pool));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mixture_em: %s\n", e.what());
    return 1;
  }
  return 0;
}
