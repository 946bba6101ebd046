// monitor.h — training progress for the terminal and for logs: a one-line
// progress bar on stderr when it is a terminal (step, train NLL, validation
// NLL, ETA), a line every few seconds otherwise, nothing with --quiet, and one
// JSON object a step in the --log file.
#pragma once

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>

#include "dgm/io/atomic_file.h"
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
  // Ends the progress line (before printing a summary) and syncs the log.
  void finish();
  double seconds() const;

 private:
  void draw(bool force);
  std::ostream& err_;
  bool quiet_, tty_;
  std::unique_ptr<AtomicFile> log_;  // a live file (AtomicFile::Mode::kLive): one write a record
  std::chrono::steady_clock::time_point start_, last_draw_, step_start_;
  TrainProgress last_;
  int64_t work_done_ = 0, work_total_ = 0;
  bool line_open_ = false;
};

}  // namespace dgm::cli
