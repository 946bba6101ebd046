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
  json header;
  load_model(path, &header);
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
