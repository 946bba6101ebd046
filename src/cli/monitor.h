// monitor.h — training progress for the terminal, for logs and for the model
// file: a one-line progress bar on stderr when it is a terminal (step,
// minibatch, NLLs with units, learning rate, elapsed time, ETA); when stderr is
// not a terminal a plain line at most every `progress_seconds` seconds (and for
// the last step); nothing with --quiet; one JSON object a step in the --log
// file; the picture of the curves kept up to date (--plot); and the training
// record stored in the model file (record()).
#pragma once

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "dgm/io/atomic_file.h"
#include "dgm/model.h"

namespace dgm::cli {

struct MonitorOptions {
  bool quiet = false;
  std::string log_path;           // JSONL log; "" = none
  std::string plot_path;          // PNG redrawn as training goes; "" = none
  double progress_seconds = 30;   // plain lines (stderr not a terminal): at most one this often
  int64_t dims = 0;               // D of the space, for bits/dim; 0 = not fixed (no bits/dim)
  int threads = 1;                // recorded with this session's times
};

class CliMonitor : public TrainMonitor {
 public:
  // IoError if the log cannot be opened.
  CliMonitor(std::ostream& err, const MonitorOptions& opt);
  ~CliMonitor() override;

  // Continues the record of a checkpoint (its "training" header): its steps
  // are written to the log first, its sessions' times are carried on.
  void resume_from(const json& record);

  void on_start(const TrainProgress& p) override;
  void on_step(const TrainProgress& p) override;
  void on_work(int64_t done, int64_t total) override;
  void message(const std::string& text) override;
  // The number of processes training (recorded in every log line).
  void set_processes(int p) { processes_ = p; }
  // Ends the progress line (before printing a summary), draws the final picture and syncs the log.
  void finish();
  // Seconds since this session started.
  double seconds() const;
  // Steps recorded (earlier sessions' included).
  int64_t steps() const { return int64_t(history_.size()); }

  // The training record (header "training" of the model file): unit, steps
  // run, best step, per-step NLLs (nats per sample), learning rates and EM
  // restarts; with `with_run` also the wall and CPU time and threads of every
  // session (which differ between runs: left out for byte-identical files).
  json record(bool with_run) const;

 private:
  void draw(bool force);
  void write_log_line(const TrainProgress& p, double seconds);
  void redraw_plot(bool force);
  double cpu_seconds() const;

  std::ostream& err_;
  MonitorOptions opt_;
  bool tty_;
  std::unique_ptr<AtomicFile> log_;  // a live file (AtomicFile::Mode::kLive): one write a record
  std::chrono::steady_clock::time_point start_, last_draw_, last_plot_;
  double cpu_start_ = 0;
  TrainProgress last_;
  int64_t work_done_ = 0, work_total_ = 0;
  int64_t session_first_step_ = 0;   // steps done when this session started
  bool line_open_ = false;
  int processes_ = 1;
  std::vector<TrainProgress> history_;
  std::vector<double> step_seconds_;  // wall seconds of the run (all sessions) at each step
  json sessions_ = json::array();     // earlier sessions: threads, wall and CPU seconds, steps
  double earlier_wall_ = 0;           // wall seconds of the earlier sessions
};

}  // namespace dgm::cli
