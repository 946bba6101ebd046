// cmd_info.cc — `dgm info`: what a model file holds, as a readable summary
// (kind, space, codec, parameters, how it was trained and its figures) or,
// with --json, the whole header as JSON.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "common.h"
#include "dgm/codec.h"
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

void print_summary(const json& h, const Model& model, const std::string& path, std::ostream& out) {
  const json d = model.describe();
  out << "model        " << path << "\n";
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
  if (h.value("partial", false)) out << "partial      yes: training was interrupted; the best parameters so far\n";
  if (h.contains("metrics")) {
    const json& m = h["metrics"];
    if (m.contains("figure")) out << "figures      " << m["figure"].get<std::string>() << "\n";
    for (const char* split : {"train", "validation", "test"}) {
      const std::string f = m.contains(split) ? figure(m[split]) : "";
      if (!f.empty()) out << (std::string(split) + std::string(13 - std::string(split).size(), ' ')) << f << "\n";
    }
  }
}

}  // namespace

int run_info(const InfoOptions& opts, std::ostream& out, std::ostream&) {
  const std::string path = resolve_model_path(opts.model);
  // Loading the whole model (not just the header) also verifies its arrays.
  // An imported model (an ARPA file) has no header: it is described by its model.
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
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
  sub->add_option("-m,--model", opts->model, "Model file, or - for stdin [default: $DGM_MODEL, else model.dgm]");
  sub->add_flag("--json", opts->json, "Print the whole header (kind, space, codec, config, metrics) as JSON");
  sub->footer("Examples:\n  dgm info --model digits.dgm\n  dgm info -m digits.dgm --json | python3 -m json.tool");
  sub->callback([opts, &action] { action = [opts] { return run_info(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
