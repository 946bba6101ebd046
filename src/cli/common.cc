// common.cc — the dgm command line: subcommand table, parsing, dispatch and the
// one place where exceptions become "dgm: error: ..." and an exit status.
#include "common.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "dgm/error.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"

namespace dgm::cli {

std::string resolve_model_path(const std::string& option) {
  if (!option.empty()) return option;
  const char* env = std::getenv("DGM_MODEL");
  if (env && *env) return env;
  return "model.dgm";
}

std::unique_ptr<Model> open_model(const std::string& path, json* header) {
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".arpa") == 0) {
    if (header) *header = json::object();
    return NgramModel::read_arpa(path);
  }
  return load_model(path, header);
}

json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  json cfg = load_config_file(path);
  for (const auto& o : overrides) apply_override(cfg, o);
  return cfg;
}

bool stderr_is_tty() { return isatty(2) == 1; }

std::string format_number(double v, int precision) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::ostringstream os;
  os.precision(precision);
  os << v;
  return os.str();
}

int run_main(int argc, const char* const* argv) {
  CLI::App app{"dgm: learns to generate discrete data (pixel grids, images, token sequences),\n"
               "samples from what it learned and gives exact log-likelihoods in nats.",
               "dgm"};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", std::string("dgm ") + DGM_VERSION);
  app.footer(
      "Examples:\n"
      "  dgm stats --config configs/digits.json\n"
      "  dgm train --config configs/digits.json\n"
      "  dgm sample -n 10 --format grid\n"
      "  dgm sample -n 100 | dgm score -\n"
      "Run 'dgm <command> --help' for a command's options.");
  Action action;
  // The subcommand table: one line a command.
  add_train(app, action);
  add_sample(app, action);
  add_score(app, action);
  add_eval(app, action);
  add_info(app, action);
  add_stats(app, action);
  add_export(app, action);
  add_doc(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dgm: usage error: " << e.what() << "\n"
              << "Run 'dgm --help' or 'dgm <command> --help' for usage.\n";
    return 2;
  }
  try {
    return action ? action() : 0;
  } catch (const std::bad_alloc&) {
    std::cerr << "dgm: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "dgm: error: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << "dgm: error: unknown failure\n";
    return 1;
  }
}

}  // namespace dgm::cli
