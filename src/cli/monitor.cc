// monitor.cc — progress bar, periodic progress lines and the JSONL training log.
#include "monitor.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "dgm/error.h"

namespace dgm::cli {
namespace {

std::string clock_string(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

std::string nll_string(double v) {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

CliMonitor::CliMonitor(std::ostream& err, bool quiet, const std::string& log_path)
    : err_(err), quiet_(quiet), tty_(!quiet && stderr_is_tty() && &err == &std::cerr) {
  start_ = last_draw_ = step_start_ = std::chrono::steady_clock::now();
  if (!log_path.empty()) log_ = std::make_unique<AtomicFile>(log_path, AtomicFile::Mode::kLive);
}

CliMonitor::~CliMonitor() {
  if (line_open_) err_ << "\n";
}

double CliMonitor::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void CliMonitor::on_step(const TrainProgress& p) {
  last_ = p;
  work_done_ = work_total_ = 0;
  step_start_ = std::chrono::steady_clock::now();
  if (log_) {
    json j;
    j[p.unit] = p.step;
    j["train_nll"] = std::isnan(p.train_nll) ? json() : json(p.train_nll);
    j["valid_nll"] = std::isnan(p.valid_nll) ? json() : json(p.valid_nll);
    j["best"] = p.best;
    j["seconds"] = seconds();
    log_->write(j.dump() + "\n");
  }
  draw(!tty_ ? false : true);
}

void CliMonitor::on_work(int64_t done, int64_t total) {
  work_done_ = done;
  work_total_ = total;
  if (tty_) draw(false);
}

void CliMonitor::message(const std::string& text) {
  if (quiet_) return;
  if (line_open_) err_ << "\n";
  line_open_ = false;
  err_ << "dgm: " << text << "\n";
}

void CliMonitor::draw(bool force) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  const bool last_step = last_.total > 0 && last_.step >= last_.total && work_total_ == 0;
  if (!force && since < (tty_ ? 0.2 : 5.0) && !last_step) return;
  last_draw_ = now;
  const double elapsed = seconds();
  double frac = last_.total > 0 ? double(last_.step) / double(last_.total) : 0;
  if (work_total_ > 0 && last_.total > 0) frac += double(work_done_) / double(work_total_) / double(last_.total);
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : NAN;
  char line[256];
  std::snprintf(line, sizeof line, "%s %lld/%lld  train %s  valid %s  elapsed %s  ETA %s", last_.unit.c_str(),
                (long long)last_.step, (long long)last_.total, nll_string(last_.train_nll).c_str(),
                nll_string(last_.valid_nll).c_str(), clock_string(elapsed).c_str(), clock_string(eta).c_str());
  if (tty_) {
    const int width = 24;
    int filled = int(std::lround(frac * width));
    filled = filled < 0 ? 0 : filled > width ? width : filled;
    err_ << "\r[" << std::string(size_t(filled), '#') << std::string(size_t(width - filled), '.') << "] " << line
         << "\x1b[K" << std::flush;
    line_open_ = true;
  } else {
    err_ << "dgm: " << line << "\n";
  }
}

void CliMonitor::finish() {
  if (line_open_) err_ << "\n";
  line_open_ = false;
  if (log_) log_->commit();
  log_.reset();
}

}  // namespace dgm::cli
