// media_tool.cc — helpers of bench/spoken_digits.sh and bench/moving_fmnist.sh
// on top of libdgm (a target of bench/CMakeLists.txt, not of the default build):
//   media_tool rows CONFIG SPLIT OUT.raw   the rows of a split (as the config
//       reads them through its codec: the 8-bit codes of every frame), one
//       byte a value, row after row; prints rows and values to stdout
//   media_tool samplers MODEL N SEED       a wavenet's cached and plain
//       samplers: CPU seconds for N samples each (one chunk, the same seed)
//       and whether they drew the same bytes
#include <time.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "dgm/codec.h"
#include "dgm/config.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/models/wavenet.h"

using namespace dgm;

namespace {

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

int rows(const std::string& config, const std::string& split, const std::string& out) {
  json cfg = load_config_file(config);
  const std::string dir = config.substr(0, config.find_last_of('/') + 1);
  resolve_data_paths(cfg["data"], dir.empty() ? "." : dir);
  Space space;
  const auto codec = fit_codec(cfg["data"], cfg["space"], &space);
  const Records r = read_split(cfg["data"], split, space, codec.get());
  std::ofstream f(out, std::ios::binary);
  size_t values = 0;
  for (size_t i = 0; i < r.data.size(); ++i)
    for (int64_t t = 0; t < r.data.length(i); ++t, ++values) f.put(char(r.data.at(i, t)));
  std::cout << r.data.size() << " rows " << values << " values " << r.items.size() << " items\n";
  return f ? 0 : 1;
}

int samplers(const std::string& path, size_t n, uint64_t seed) {
  auto cached = load_model(path);
  auto plain = wavenet_testing::with_plain_sampler(*cached);
  ThreadPool pool(1);
  SampleOptions so;
  so.pool = &pool;
  Rng a(seed), b(seed);
  double t0 = cpu_seconds();
  const Dataset x = cached->sample(n, a, so);
  double t1 = cpu_seconds();
  const Dataset y = plain->sample(n, b, so);
  double t2 = cpu_seconds();
  std::printf("cached %.3f s, plain %.3f s for %zu samples of %lld positions (1 thread, CPU time); ratio %.1f; %s\n",
              t1 - t0, t2 - t1, n, (long long)x.dims(), (t2 - t1) / (t1 - t0),
              x.raw() == y.raw() && x.labels() == y.labels() ? "identical samples" : "SAMPLES DIFFER");
  return x.raw() == y.raw() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "rows" && argc == 5) return rows(argv[2], argv[3], argv[4]);
    if (cmd == "samplers" && argc == 5) return samplers(argv[2], std::stoul(argv[3]), std::stoull(argv[4]));
  } catch (const std::exception& e) {
    std::cerr << "media_tool: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: media_tool rows CONFIG SPLIT OUT.raw | samplers MODEL N SEED\n";
  return 2;
}
