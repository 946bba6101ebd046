// cmd_export.cc — `dgm export --arpa FILE`: an n-gram model in the ARPA
// format (log10 probabilities and backoffs), which KenLM and others read.
#include <iostream>

#include "commands.h"
#include "common.h"
#include "dgm/error.h"
#include "dgm/models/ngram.h"

namespace dgm::cli {

struct ExportOptions {
  std::string model;
  std::string arpa;
};

int run_export(const ExportOptions& opts, std::ostream&, std::ostream& log) {
  const std::string path = resolve_model_path(opts.model);
  std::unique_ptr<Model> model = open_model(path);
  const auto* tm = dynamic_cast<const TextModel*>(model.get());
  if (!tm) throw ConfigError(path + ": a '" + model->kind() + "' model has no ARPA form (only ngram models)");
  tm->write_arpa(opts.arpa);
  log << "dgm: wrote " << opts.arpa << "\n";
  return 0;
}

void add_export(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* sub = app.add_subcommand("export", "Write an n-gram model as an ARPA file");
  sub->add_option("-m,--model", opts->model, "Model file [default: $DGM_MODEL, else model.dgm]");
  sub->add_option("--arpa", opts->arpa, "ARPA file to write")->required();
  sub->footer(
      "Examples:\n"
      "  dgm export --model kjv-word3.dgm --arpa kjv3.arpa\n"
      "  dgm score --model kjv3.arpa data/kjv/test.txt   # ARPA files load directly");
  sub->callback([opts, &action] { action = [opts] { return run_export(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
