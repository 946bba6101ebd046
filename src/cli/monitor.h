// monitor.h — training progress for the terminal and for logs: a one-line
// progress bar on stderr when it is a terminal (step, train NLL, validation
// NLL, ETA), a line every few seconds otherwise, nothing with --quiet, and one
// JSON object a step in the --log file.
#pragma once

#include <chrono>
#include <fstream>
#include <iosfwd>
#include <string>

#include "dgm/model.h"

namespace dgm::cli {

class CliMonitor : public TrainMonitor {
 public:
  // `log_path` empty: no JSONL log. IoError if it cannot be opened.
  CliMonitor(std::ostream& err, bool quiet, const std::string& log_path);
  ~CliMonitor() override;
  void on_step(const TrainProgress& p) override;
  void on_work(int64_t done, int64_t total) override;
  void message(const std::string& text) override;
  // The number of processes training (recorded in every log line).
  void set_processes(int p) { processes_ = p; }
  // Ends the progress line (before printing a summary).
  void finish();
  double seconds() const;

 private:
  void draw(bool force);
  std::ostream& err_;
  bool quiet_, tty_;
  std::ofstream log_;
  std::string log_path_;
  std::chrono::steady_clock::time_point start_, last_draw_, step_start_;
  TrainProgress last_;
  int64_t work_done_ = 0, work_total_ = 0;
  bool line_open_ = false;
  int processes_ = 1;
};

}  // namespace dgm::cli
