// cmd_info.cc — `dgm info`: the model file's header as JSON on stdout.
#include <iostream>

#include "commands.h"
#include "common.h"
#include "dgm/model.h"
#include "dgm/model_file.h"

namespace dgm::cli {

struct InfoOptions {
  std::string model;
};

int run_info(const InfoOptions& opts, std::ostream& out, std::ostream&) {
  const std::string path = resolve_model_path(opts.model);
  // Loading the whole model (not just the header) also verifies its arrays.
  // An ARPA file (which has no header) is described by its model.
  json header;
  std::unique_ptr<Model> model = open_model(path, &header);
  if (header.empty()) header = {{"kind", model->kind()}, {"space", model->space().to_json()}, {"describe", model->describe()}};
  out << header.dump(2) << "\n";
  return 0;
}

void add_info(CLI::App& app, Action& action) {
  auto opts = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand("info", "Print a model file's header (kind, space, config, metrics) as JSON");
  sub->add_option("-m,--model", opts->model, "Model file [default: $DGM_MODEL, else model.dgm]");
  sub->footer("Examples:\n  dgm info --model digits.dgm\n  dgm info -m digits.dgm | python3 -m json.tool");
  sub->callback([opts, &action] { action = [opts] { return run_info(*opts, std::cout, std::cerr); }; });
}

}  // namespace dgm::cli
