// monitor.cc — progress bar, periodic progress lines, the JSONL training log,
// the live plot and the training record.
#include "monitor.h"

#include <sys/resource.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "common.h"
#include "dgm/error.h"
#include "plot.h"

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

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(); }

double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

CliMonitor::CliMonitor(std::ostream& err, const MonitorOptions& opt)
    : err_(err), opt_(opt), tty_(!opt.quiet && stderr_is_tty() && &err == &std::cerr) {
  start_ = last_draw_ = last_plot_ = std::chrono::steady_clock::now();
  cpu_start_ = cpu_seconds();
  if (!opt_.log_path.empty()) log_ = std::make_unique<AtomicFile>(opt_.log_path, AtomicFile::Mode::kLive);
}

CliMonitor::~CliMonitor() {
  if (line_open_) err_ << "\n";
}

double CliMonitor::seconds() const { return seconds_between(start_, std::chrono::steady_clock::now()); }

double CliMonitor::cpu_seconds() const {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void CliMonitor::resume_from(const json& record) {
  // The record was written by this dgm (the version is checked before), so
  // its shape is known; a damaged one is a FormatError, not a crash.
  try {
    const json& h = record.at("history");
    const auto& step = h.at("step");
    auto column = [&](const char* key, size_t i) {
      if (!h.contains(key) || !h.at(key).at(i).is_number()) return std::numeric_limits<double>::quiet_NaN();
      return h.at(key).at(i).get<double>();
    };
    const json* secs = record.contains("run") ? &record.at("run").at("step_seconds") : nullptr;
    for (size_t i = 0; i < step.size(); ++i) {
      TrainProgress p;
      p.unit = record.at("unit").get<std::string>();
      p.step = step.at(i).get<int64_t>();
      p.total = record.at("max_steps").get<int64_t>();
      p.train_nll = column("train_nll", i);
      p.valid_nll = column("valid_nll", i);
      p.learning_rate = column("learning_rate", i);
      p.restart = h.contains("restart") ? h.at("restart").at(i).get<int64_t>() : 0;
      p.best = h.at("best").at(i).get<bool>();
      const double s = secs && i < secs->size() ? secs->at(i).get<double>() : std::numeric_limits<double>::quiet_NaN();
      history_.push_back(p);
      step_seconds_.push_back(s);
      write_log_line(p, s);
      last_ = p;
    }
    if (record.contains("run")) {
      sessions_ = record.at("run").at("sessions");
      earlier_wall_ = record.at("run").at("wall_seconds").get<double>();
    }
  } catch (const json::exception& e) {
    throw FormatError(std::string("bad training record in the checkpoint: ") + e.what());
  }
  session_first_step_ = int64_t(history_.size());
}

void CliMonitor::write_log_line(const TrainProgress& p, double seconds) {
  if (!log_) return;
  json j;
  j[p.unit] = p.step;
  if (p.restart > 0) j["restart"] = p.restart;
  j["train_nll"] = number_or_null(p.train_nll);
  j["valid_nll"] = number_or_null(p.valid_nll);
  if (opt_.dims > 0) {
    const double per = 1.0 / (double(opt_.dims) * std::log(2.0));
    j["train_bits_per_dim"] = number_or_null(p.train_nll * per);
    j["valid_bits_per_dim"] = number_or_null(p.valid_nll * per);
  }
  if (!std::isnan(p.learning_rate)) j["learning_rate"] = p.learning_rate;
  j["best"] = p.best;
  j["seconds"] = number_or_null(seconds);
  j["processes"] = processes_;
  log_->write(j.dump() + "\n");
}

void CliMonitor::on_start(const TrainProgress& p) {
  // The unit and the maximum, for progress lines before the first step ends;
  // the figures stay those of the last recorded step (none yet: NaN).
  last_.unit = p.unit;
  last_.total = p.total;
  last_.step = p.step;
  session_first_step_ = p.step;
}

void CliMonitor::on_step(const TrainProgress& p) {
  last_ = p;
  work_done_ = work_total_ = 0;
  const double s = earlier_wall_ + seconds();
  history_.push_back(p);
  step_seconds_.push_back(s);
  write_log_line(p, s);
  redraw_plot(false);
  // The bar redraws at every step; plain lines also come for the last step.
  draw(tty_ || (p.total > 0 && p.step >= p.total));
}

void CliMonitor::on_work(int64_t done, int64_t total) {
  work_done_ = done;
  work_total_ = total;
  draw(false);
}

void CliMonitor::message(const std::string& text) {
  if (opt_.quiet) return;
  if (line_open_) err_ << "\n";
  line_open_ = false;
  err_ << "dgm: " << text << "\n";
}

void CliMonitor::draw(bool force) {
  if (opt_.quiet) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && seconds_between(last_draw_, now) < (tty_ ? 0.2 : opt_.progress_seconds)) return;
  last_draw_ = now;
  // Progress of this session: steps done since it started, and the fraction of
  // the current step.
  const double elapsed = seconds();
  const int64_t remaining_steps = last_.total - session_first_step_;
  double frac = 0;
  if (remaining_steps > 0) {
    frac = double(last_.step - session_first_step_) / double(remaining_steps);
    if (work_total_ > 0) frac += double(work_done_) / double(work_total_) / double(remaining_steps);
  }
  const double eta = frac > 0 ? elapsed * (1 - frac) / frac : NAN;
  const std::string unit = last_.unit.empty() ? "step" : last_.unit;
  std::string line = unit + " " + std::to_string(work_total_ > 0 ? last_.step + 1 : last_.step) + "/" +
                     std::to_string(last_.total);
  if (work_total_ > 0) line += " (" + std::to_string(work_done_) + "/" + std::to_string(work_total_) + " minibatches)";
  if (last_.restart > 0) line += " restart " + std::to_string(last_.restart);
  if (last_.step > 0) {
    // Figures of the last finished step.
    line += work_total_ > 0 ? "  last: " : "  ";
    const bool v = !std::isnan(last_.valid_nll);
    if (!std::isnan(last_.train_nll)) line += "train " + fixed(last_.train_nll, 4) + (v ? "  " : "");
    if (v) line += "valid " + fixed(last_.valid_nll, 4);
    line += " nats/sample";
    const double shown = v ? last_.valid_nll : last_.train_nll;
    if (opt_.dims > 0 && std::isfinite(shown))
      line += " (" + fixed(shown / (double(opt_.dims) * std::log(2.0)), 4) + " bits/dim)";
    if (!std::isnan(last_.learning_rate)) {
      char lr[32];
      std::snprintf(lr, sizeof lr, "%.3g", last_.learning_rate);
      line += "  lr " + std::string(lr);
    }
  }
  line += "  elapsed " + clock_string(elapsed) + "  ETA " + clock_string(eta);
  if (tty_) {
    const int width = 20;
    int filled = int(std::lround(frac * width));
    filled = filled < 0 ? 0 : filled > width ? width : filled;
    err_ << "\r[" << std::string(size_t(filled), '#') << std::string(size_t(width - filled), '.') << "] " << line
         << "\x1b[K" << std::flush;
    line_open_ = true;
  } else {
    err_ << "dgm: " << line << "\n";
  }
}

void CliMonitor::redraw_plot(bool force) {
  if (opt_.plot_path.empty() || history_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  // A picture a second at most: drawing one takes milliseconds, but EM steps
  // can come faster than that.
  if (!force && seconds_between(last_plot_, now) < 1.0 && history_.size() > 1) return;
  last_plot_ = now;
  plot_curves({curve_from_record(record(false), opt_.log_path.empty() ? "training" : opt_.log_path)},
              opt_.plot_path);
}

void CliMonitor::finish() {
  if (line_open_) err_ << "\n";
  line_open_ = false;
  if (log_) log_->commit();
  log_.reset();
  redraw_plot(true);
}

json CliMonitor::record(bool with_run) const {
  // Before the first step ends, on_start gave the unit and the maximum.
  json r = training_record(history_, last_, opt_.dims);
  if (with_run) {
    const double wall = seconds(), cpu = cpu_seconds() - cpu_start_;
    json sessions = sessions_;
    sessions.push_back({{"threads", opt_.threads},
                        {"wall_seconds", wall},
                        {"cpu_seconds", cpu},
                        {"steps", int64_t(history_.size()) - session_first_step_}});
    double total_cpu = 0;
    for (const auto& s : sessions) total_cpu += s.at("cpu_seconds").get<double>();
    json secs = json::array();
    for (double s : step_seconds_) secs.push_back(number_or_null(s));
    r["run"] = {{"wall_seconds", earlier_wall_ + wall},
                {"cpu_seconds", total_cpu},
                {"sessions", sessions},
                {"step_seconds", secs}};
  }
  return r;
}

}  // namespace dgm::cli
