// cmd_export.cc — `dgm export`: a model in a foreign format it can be
// exported to (Model::export_formats(): ARPA for n-gram models, which KenLM
// and others read).
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "common.h"
#include "dgm/error.h"
#include "dgm/io/atomic_file.h"

namespace dgm::cli {

struct ExportOptions {
  std::string model;
  std::string format;
  std::string output = "-";
  std::string arpa;
};

int run_export(const ExportOptions& opts, std::ostream& out, std::ostream& log) {
  if (!opts.arpa.empty() && !opts.format.empty() && opts.format != "arpa")
    throw UsageError("--arpa and --format " + opts.format + ": give one format");
  const std::string path = resolve_model_path(opts.model);
  std::unique_ptr<Model> model = open_model(path);
  const std::vector<std::string> formats = model->export_formats();
  std::string known;
  for (const auto& f : formats) known += (known.empty() ? "" : ", ") + f;
  if (formats.empty())
    throw UsageError(path + ": a '" + model->kind() + "' model has no export formats (ngram models export ARPA)");
  const std::string format = !opts.arpa.empty() ? "arpa" : !opts.format.empty() ? opts.format : formats.front();
  if (std::find(formats.begin(), formats.end(), format) == formats.end())
    throw UsageError("--format " + format + ": a '" + model->kind() + "' model exports " + known);
  const std::string target = !opts.arpa.empty() ? opts.arpa : opts.output;
  if (target == "-") {
    model->export_to(format, out);
    out.flush();
    if (!out) throw IoError("<stdout>: write error");
    return 0;
  }
  write_file_atomically(target, [&](std::ostream& f) { model->export_to(format, f); });
  log << "dgm: wrote " << target << "\n";
  return 0;
}

void add_export(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* sub = app.add_subcommand("export", "Write a model in a foreign format (ARPA for n-gram models)");
  sub->add_option("-m,--model", opts->model, "Model file, or - for stdin [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("-f,--format", opts->format, "Export format [default: the model's first, arpa for ngram]");
  sub->add_option("-o,--output", opts->output, "File to write, - for stdout")->capture_default_str();
  sub->add_option("--arpa", opts->arpa, "The same as -f arpa -o FILE");
  sub->footer(
      "Examples:\n"
      "  dgm export --model kjv-word3.dgm --arpa kjv3.arpa\n"
      "  dgm export -m kjv-word3.dgm | head\n"
      "  dgm score --model kjv3.arpa data/kjv/test.txt   # ARPA files load directly");
  sub->callback([opts, &action] { action = [opts] { return run_export(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
