// common.cc — the dgm command line: subcommand table, parsing, dispatch and the
// one place where exceptions become "dgm: error: ..." and an exit status, plus
// the helpers the subcommands share.
#include "common.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "dgm/codec.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/model_file.h"

namespace dgm::cli {

namespace fs = std::filesystem;

std::string resolve_model_path(const std::string& option) {
  if (!option.empty()) return option;
  const char* env = std::getenv("DGM_MODEL");
  if (env && *env) return env;
  return "model.dgm";
}

std::unique_ptr<Model> open_model(const std::string& path, json* header) { return load_model(path, header); }

void apply_overrides(json& cfg, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    apply_override(cfg, o);
    // A path given on the command line is relative to where the command runs.
    if (o.compare(0, 5, "data.") == 0 && cfg.contains("data")) resolve_data_paths(cfg["data"], fs::current_path().string());
  }
}

json load_config(const std::string& path, const std::vector<std::string>& overrides) {
  json cfg = load_config_file(path);
  if (cfg.is_object() && cfg.contains("data")) {
    // Paths in a config file are relative to the file's folder; stdin's are
    // relative to the current folder.
    const fs::path dir = path == "-" ? fs::current_path() : fs::absolute(fs::path(path)).parent_path();
    resolve_data_paths(cfg["data"], dir.string());
  }
  apply_overrides(cfg, overrides);
  return cfg;
}

std::string model_format(const Model& model, const json& header) {
  if (model.codec()) return model.codec()->formats().front();
  if (!header.contains("config") || !header["config"].contains("data")) return "";
  const json& d = header["config"]["data"];
  if (d.contains("format") && d["format"].is_string()) return d["format"].get<std::string>();
  if (d.contains("train")) {
    const json& t = d["train"];
    if (t.is_object() && t.contains("format") && t["format"].is_string()) return t["format"].get<std::string>();
    const std::string p = t.is_string() ? t.get<std::string>() : t.is_object() ? t.value("path", "") : "";
    if (!p.empty()) return infer_format(p);
  }
  return "";
}

json model_source_keys(const json& header) {
  json keys = json::object();
  if (header.contains("config") && header["config"].contains("data") && header["config"]["data"].is_object()) {
    const json& d = header["config"]["data"];
    if (d.contains("threshold")) keys["threshold"] = d["threshold"];
  }
  return keys;
}

void require_format(const std::string& option, const std::string& format, const Model& model) {
  const std::string why = format_problem(format, model.space(), model.codec());
  if (!why.empty()) throw UsageError(option + " " + format + ": " + why);
}

std::vector<int64_t> parse_shape(const std::string& option, const std::string& text) {
  std::vector<int64_t> shape;
  std::string part;
  auto flush = [&] {
    char* end = nullptr;
    const long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end || v < 1 || v > Space::kMaxDims)
      throw UsageError(option + " '" + text + "': expected extents like 28x28 or 28,28 (each 1.." +
                       std::to_string(Space::kMaxDims) + ")");
    shape.push_back(v);
    part.clear();
  };
  for (char c : text) {
    if (c == 'x' || c == 'X' || c == ',') flush();
    else part += c;
  }
  flush();
  return shape;
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

json json_number(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  return v;
}

namespace {

// Edit distance with transpositions (optimal string alignment).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The closest of `names` to `word`, or "" when none is close.
std::string closest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& n : names) {
    const size_t d = edit_distance(word, n);
    if (d < best_d) best_d = d, best = n;
  }
  return best;
}

// "did you mean ..." for a mistyped command or flag in argv, or "".
std::string suggestion(CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> commands;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; })) commands.push_back(s->get_name());
  if (argc < 2) return "";
  const std::string first = argv[1];
  if (first.empty() || first[0] == '-') return "";
  // get_subcommand_ptr throws for a name it does not know.
  if (std::find(commands.begin(), commands.end(), first) == commands.end()) {
    const std::string c = closest(first, commands);
    return c.empty() ? "" : "unknown command '" + first + "'; did you mean '" + c + "'?";
  }
  CLI::App* sub = app.get_subcommand_ptr(first).get();
  std::vector<std::string> flags;
  for (const CLI::Option* o : sub->get_options()) {
    for (const auto& l : o->get_lnames()) flags.push_back("--" + l);
    for (const auto& s : o->get_snames()) flags.push_back("-" + s);
  }
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 2 || a[0] != '-' || a == "-") continue;
    const size_t eq = a.find('=');
    if (eq != std::string::npos) a = a.substr(0, eq);
    if (std::find(flags.begin(), flags.end(), a) != flags.end()) continue;
    const std::string c = closest(a, flags);
    return c.empty() ? "" : "unknown option '" + a + "' for '" + first + "'; did you mean '" + c + "'?";
  }
  return "";
}

}  // namespace

// Data on stdout is flushed and checked before exit: a full disk (> /dev/full)
// or a closed pipe when SIGPIPE is ignored is an error naming <stdout>, not
// a silent loss. (With SIGPIPE at its default the process ends quietly on
// the write, as every Unix filter does.)
int finish_stdout(int status) {
  errno = 0;
  std::cout.flush();
  const bool bad = !std::cout || std::fflush(stdout) != 0 || std::ferror(stdout);
  if (!bad) return status;
  const int err = errno;
  std::cerr << "dgm: error: <stdout>: write error" << (err ? std::string(": ") + std::strerror(err) : "") << "\n";
  return 1;
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
      "Conventions: '-' is stdin or stdout wherever a file is read or written; stdout carries data\n"
      "only, messages go to stderr; missing folders of an output path are created; exit status 0 on\n"
      "success, 1 on an error, 2 on a usage error.\n"
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
  add_plot(app, action);
  add_convert(app, action);
  add_doc(app, action);
  auto usage = [](const std::string& what) {
    std::cerr << "dgm: usage error: " << what << "\n"
              << "Run 'dgm --help' or 'dgm <command> --help' for usage.\n";
    return 2;
  };
  // An empty value ("-o ''") is never a file name, a number or a choice: a
  // usage error rather than a silent fall back to the default (and named as
  // such, not as a missing option, when a callback refused it first).
  auto empty_value = [&app]() -> std::string {
    for (const CLI::App* sub : app.get_subcommands())
      for (const CLI::Option* opt : sub->get_options())
        for (const std::string& value : opt->results())
          if (value.empty() && opt->get_type_size() != 0)
            return opt->get_name() + ": an empty value" +
                   (opt->get_name().find("output") != std::string::npos ? " (give a file name, or - for stdout)" : "");
    return "";
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return finish_stdout(app.exit(e));  // help and version are checked like any output
  } catch (const CLI::CallForAllHelp& e) {
    return finish_stdout(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    return finish_stdout(app.exit(e));
  } catch (const CLI::ParseError& e) {
    if (const std::string empty = empty_value(); !empty.empty()) return usage(empty);
    const std::string hint = suggestion(app, argc, argv);
    return usage(hint.empty() ? e.what() : hint);
  } catch (const UsageError& e) {
    const std::string empty = empty_value();
    return usage(empty.empty() ? e.what() : empty);
  }
  if (const std::string empty = empty_value(); !empty.empty()) {
    std::cerr << "dgm: usage error: " << empty << "\n";
    return 2;
  }
  try {
    return finish_stdout(action ? action() : 0);
  } catch (const UsageError& e) {
    return usage(e.what());
  } catch (const std::bad_alloc&) {
    // Readers and loaders name their input themselves; what is left (a fit,
    // a sample) is named by the command line.
    std::string command;
    for (int i = 1; i < argc && command.size() < 200; ++i) command += std::string(i > 1 ? " " : "") + argv[i];
    std::cerr << "dgm: error: out of memory in 'dgm " << command.substr(0, 200)
              << "' (a smaller model or dataset, or more memory)\n";
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
