// cmd_info.cc — `dgm info`: what a model file holds, as a readable summary
// (kind, space, codec, parameters, how it was trained and its figures) or,
// with --json, the whole header as JSON.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/model.h"
#include "dgm/model_file.h"

namespace dgm::cli {

struct InfoOptions {
  std::string model;
  bool json = false;
};

namespace {

std::string figure(const json& m) {
  if (!m.is_object() || !m.contains("samples") || m["samples"] == 0) return "";
  char buf[160];
  auto num = [](const json& v) { return v.is_number() ? format_number(v.get<double>(), 6) : v.dump(); };
  std::snprintf(buf, sizeof buf, "%zu samples, NLL %s nats/sample, %s bits/dim", m["samples"].get<size_t>(),
                num(m.value("nll_nats", json())).c_str(), num(m.value("bits_per_dim", json())).c_str());
  return buf;
}

// The training record (header "training", see src/cli/monitor.h) in words
// and a table of steps: steps run, the best one, time, threads, and
// per-step NLLs (nats per sample, bits/dim) and learning rates. Long runs show
// about 20 rows (evenly spaced, plus the best and the last).
void print_training_record(const json& header, std::ostream& log) {
  if (!header.contains("training") || !header.at("training").is_object()) return;
  const json& r = header.at("training");
  try {
    const std::string unit = r.at("unit").get<std::string>();
    const json& h = r.at("history");
    const json& step = h.at("step");
    const size_t n = step.size();
    const double dims = r.contains("dims") ? r.at("dims").get<double>() : 0;
    auto col = [&](const char* key, size_t i) {
      return h.contains(key) && h.at(key).at(i).is_number() ? h.at(key).at(i).get<double>()
                                                             : std::numeric_limits<double>::quiet_NaN();
    };
    const int64_t best = r.value("best_step", int64_t(0));
    size_t best_i = n;
    for (size_t i = 0; i < n; ++i)
      if (step.at(i).get<int64_t>() == best) best_i = i;
    const bool valid = h.contains("valid_nll"), lr = h.contains("learning_rate"), restarts = h.contains("restart");
    auto fmt = [](double v, const char* f) {
      if (!std::isfinite(v)) return std::string("-");
      char b[32];
      std::snprintf(b, sizeof b, f, v);
      return std::string(b);
    };
    log << "training: " << n << " " << unit << (n == 1 ? "" : "s") << " of at most " << r.value("max_steps", int64_t(0));
    if (header.value("partial", false)) log << " (unfinished: a checkpoint)";
    if (best_i < n) {
      const double v = valid ? col("valid_nll", best_i) : col("train_nll", best_i);
      log << ", best " << unit << " " << best << " (" << (valid ? "validation " : "train ") << fmt(v, "%.4f")
          << " nats/sample";
      if (dims > 0) log << ", " << fmt(v / (dims * std::log(2.0)), "%.4f") << " bits/dim";
      log << ")";
    }
    log << "\n";
    if (r.contains("run")) {
      const json& run = r.at("run");
      auto clock = [](double s) {
        const long t = long(s + 0.5);
        char b[32];
        std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
        return std::string(b);
      };
      const json& sessions = run.at("sessions");
      std::string threads;
      for (size_t i = 0; i < sessions.size(); ++i)
        threads += (i ? ", then " : "") + std::to_string(sessions.at(i).at("threads").get<int>());
      log << "  time " << clock(run.at("wall_seconds").get<double>()) << " wall, "
          << clock(run.at("cpu_seconds").get<double>()) << " CPU, " << sessions.size()
          << (sessions.size() == 1 ? " session" : " sessions") << " (threads: " << threads << ")\n";
    }
    if (n == 0) return;
    // Rows: about 20 evenly spaced, always the first, the best and the last.
    std::vector<bool> show(n, false);
    const size_t every = std::max<size_t>(1, (n + 19) / 20);
    for (size_t i = 0; i < n; i += every) show[i] = true;
    show[n - 1] = true;
    if (best_i < n) show[best_i] = true;
    auto cell = [](const std::string& text, size_t width) {
      return std::string(width > text.size() ? width - text.size() : 0, ' ') + text;
    };
    std::string head = "  " + cell(unit, 10) + (restarts ? cell("restart", 8) : "") + cell("train nats", 12);
    if (valid) head += cell("valid nats", 12);
    if (dims > 0) head += cell("bits/dim", 10);
    if (lr) head += cell("learning rate", 15);
    log << head << "\n";
    for (size_t i = 0; i < n; ++i) {
      if (!show[i]) continue;
      const double shown = valid ? col("valid_nll", i) : col("train_nll", i);
      std::string row = std::string("  ") + (i == best_i ? '*' : ' ') + cell(std::to_string(step.at(i).get<int64_t>()), 9);
      if (restarts) row += cell(std::to_string(h.at("restart").at(i).get<int64_t>()), 8);
      row += cell(fmt(col("train_nll", i), "%.4f"), 12);
      if (valid) row += cell(fmt(col("valid_nll", i), "%.4f"), 12);
      if (dims > 0) row += cell(fmt(shown / (dims * std::log(2.0)), "%.4f"), 10);
      if (lr) row += cell(fmt(col("learning_rate", i), "%.4g"), 15);
      log << row << "\n";
    }
    if (best_i < n) log << "  (* the best " << unit << ": the parameters kept; bits/dim of "
                        << (valid ? "validation" : "train") << ")\n";
  } catch (const json::exception& e) {
    log << "training: the record is damaged (" << e.what() << ")\n";
  }
}

void print_summary(const json& h, const Model& model, const std::string& path, std::ostream& out) {
  const json d = model.describe();
  out << "model        " << input_name(path) << "\n";
  out << "kind         " << model.kind();
  if (d.contains("parameters")) out << ", " << d["parameters"].dump() << " parameters";
  out << "\n";
  out << "space        " << model.space().describe() << "  (|X| = " << model.space().size_string() << ")\n";
  out << "codec        " << (model.codec() ? model.codec()->describe() : std::string("none (points of the space)")) << "\n";
  std::string hyper;
  for (auto it = d.begin(); it != d.end(); ++it) {
    if (it.key() == "parameters") continue;
    const std::string v = it.value().dump();
    if (v.size() > 80) continue;
    hyper += (hyper.empty() ? "" : ", ") + it.key() + " " + v;
  }
  if (!hyper.empty()) out << "model        " << hyper << "\n";
  if (h.contains("dgm_version")) out << "written by   dgm " << h["dgm_version"].get<std::string>() << "\n";
  if (h.contains("config") && h["config"].contains("data")) {
    const json& data = h["config"]["data"];
    for (const char* split : {"train", "validation", "test"}) {
      if (!data.contains(split)) continue;
      const json& v = data[split];
      out << "data         " << split << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    }
  }
  if (h.contains("seed")) out << "seed         " << h["seed"].dump() << "\n";
  if (h.contains("data_fingerprint")) out << "fingerprint  " << h["data_fingerprint"].get<std::string>() << " (training data)\n";
  if (h.value("partial", false)) {
    if (h.contains("train_state")) {
      const json& ts = h["train_state"];
      const std::string at = ts.contains("position") && ts["position"].is_string()
                                 ? " at " + ts["position"].get<std::string>() : std::string();
      out << "partial      yes: a checkpoint" << at << " (the best parameters so far); continue with "
          << "'dgm train --resume " << path << "'\n";
    }
    else
      out << "partial      yes: training was interrupted; the best parameters so far\n";
  }
  if (h.contains("metrics")) {
    const json& m = h["metrics"];
    if (m.contains("figure")) out << "figures      " << m["figure"].get<std::string>() << "\n";
    for (const char* split : {"train", "validation", "test"}) {
      const std::string f = m.contains(split) ? figure(m[split]) : "";
      if (!f.empty()) out << (std::string(split) + std::string(13 - std::string(split).size(), ' ')) << f << "\n";
    }
  }
  print_training_record(h, out);
}

}  // namespace

int run_info(const InfoOptions& opts, std::ostream& out, std::ostream&) {
  const std::string path = resolve_model_path(opts.model);
  // Loading the whole model (not just the header) verifies the arrays it
  // reads; arrays a model maps (n-gram tables) are verified here too, as they
  // would be at its first score. An imported model (an ARPA file) has no
  // header: it is described by its model.
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
  if (!header.empty() && path != "-") ModelReader::open(path).verify();
  if (opts.json) {
    if (header.empty()) {
      header = {{"kind", model->kind()}, {"space", model->space().to_json()}, {"describe", model->describe()}};
      if (model->codec()) header["codec"] = model->codec()->to_json();
    }
    out << header.dump(2) << "\n";
    return 0;
  }
  print_summary(header, *model, path, out);
  return 0;
}

void add_info(CLI::App& app, Action& action) {
  auto opts = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand("info", "Describe a model file: kind, space, codec, parameters, training and figures");
  sub->add_option("-m,--model,model", opts->model,
                  "Model file (as -m or the one argument), or - for stdin [default: $DGM_MODEL, else model.dgm]");
  sub->add_flag("--json", opts->json, "Print the whole header (kind, space, codec, config, metrics) as JSON");
  sub->footer("Examples:\n  dgm info digits.dgm\n  dgm info -m digits.dgm --json | python3 -m json.tool");
  sub->callback([opts, &action] { action = [opts] { return run_info(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
