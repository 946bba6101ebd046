// cmd_train.h — `dgm train`: fit a model from a config and write a .dgm file.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace dgm {
class Communicator;
}

namespace dgm::cli {

struct TrainOptions {
  std::string config;                 // "" with resume: the checkpoint's
  std::string output;                 // "" = config "output", else model.dgm; "-" = stdout
  bool verbose = false;               // print the whole effective config
  int64_t seed = -1;                  // -1 = config train.seed, else 1
  int threads = 0;                    // 0 = config train.threads, else all cores
  bool quiet = false;
  std::string log;                    // JSONL training log
  std::string plot;                   // PNG of the curves, redrawn as training goes
  std::string resume;                 // checkpoint to continue from
  bool reproducible = false;          // no times or threads in the training record
  double progress_seconds = 30;       // plain progress lines (stderr not a terminal): at most this often
  std::vector<std::string> overrides; // --set key=value
  double mpi_timeout = 600;           // seconds a rank waits for the others in one collective
  // The ranks to train over; null: the MPI world under mpirun, else one process.
  Communicator* comm = nullptr;
};

int run_train(const TrainOptions& opts, std::ostream& out, std::ostream& log);

}  // namespace dgm::cli
