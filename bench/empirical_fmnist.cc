// empirical_fmnist.cc — benchmark of the empirical distribution on the
// Fashion-MNIST training set: read the .gz IDX images (+ labels), binarise at
// 128, count distinct samples; prints the wall time of each phase and the
// peak resident memory (getrusage). Built and run by bench/empirical_fmnist.sh.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "dgm/io/read.h"
#include "dgm/stats.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  try {
    const dgm::Space space = dgm::Space::tensor({28, 28}, 2, 10);
    const dgm::json source = {{"path", dir + "/train-images-idx3-ubyte.gz"},
                              {"labels", dir + "/train-labels-idx1-ubyte.gz"},
                              {"format", "idx"},
                              {"threshold", 128}};
    auto t = std::chrono::steady_clock::now();
    const dgm::Dataset train = dgm::read_dataset(source, space);
    const double t_load = seconds_since(t);
    const double rss_load = peak_rss_mb();

    t = std::chrono::steady_clock::now();
    dgm::EmpiricalOptions with_labels;
    const dgm::Empirical emp(train, with_labels);
    const double t_build = seconds_since(t);

    t = std::chrono::steady_clock::now();
    dgm::EmpiricalOptions no_labels;
    no_labels.use_labels = false;
    const dgm::Empirical emp_x(train, no_labels);
    const double t_build_x = seconds_since(t);

    t = std::chrono::steady_clock::now();
    const double h = emp.entropy_bits();
    const auto top = emp.top(5);
    const dgm::Overlap self = emp_x.compare(train);
    const double t_query = seconds_since(t);

    std::printf("data            %zu x %lld, %s, %.1f MB in the Dataset\n", train.size(),
                (long long)train.dims(), space.describe().c_str(), double(train.memory_bytes()) / 1e6);
    std::printf("distinct (x,y)  %zu   duplicates %zu   entropy %.4f bits   support 10^%.2f of X\n",
                emp.num_distinct(), emp.num_duplicates(), h, emp.support_log10_fraction());
    std::printf("distinct x      %zu   duplicates %zu   top-1 count %lld   self-coverage %.3f\n",
                emp_x.num_distinct(), emp_x.num_duplicates(), (long long)top[0].count, self.coverage);
    std::printf("load (read+binarise)  %.3f s   peak RSS after load %.1f MB\n", t_load, rss_load);
    std::printf("build Empirical (x,y) %.3f s\n", t_build);
    std::printf("build Empirical x     %.3f s\n", t_build_x);
    std::printf("entropy+top5+compare  %.3f s\n", t_query);
    std::printf("load+build            %.3f s   peak RSS %.1f MB\n", t_load + t_build, peak_rss_mb());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "empirical_fmnist: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
