// cmd_train.h — `dgm train`: fit a model from a config and write a .dgm file.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace dgm::cli {

struct TrainOptions {
  std::string config;
  std::string output;                 // "" = config "output", else model.dgm; "-" = stdout
  bool output_given = false;          // -o was given (an empty name is then an error)
  bool verbose = false;               // print the whole effective config
  int64_t seed = -1;                  // -1 = config train.seed, else 1
  int threads = 0;                    // 0 = config train.threads, else all cores
  bool quiet = false;
  std::string log;                    // JSONL training log
  std::vector<std::string> overrides; // --set key=value
};

int run_train(const TrainOptions& opts, std::ostream& out, std::ostream& log);

}  // namespace dgm::cli
