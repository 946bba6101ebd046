// common.h — helpers shared by the subcommands: model paths, config loading
// with overrides, terminal detection, and formatting of numbers.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <memory>

#include "dgm/config.h"
#include "dgm/model.h"

namespace dgm::cli {

// --model, else $DGM_MODEL, else "model.dgm".
std::string resolve_model_path(const std::string& option);
// Loads a model file, or an ARPA n-gram file when the name ends in .arpa
// (scored and sampled exactly as the ARPA file says). *header gets the model
// file's header (an empty object for ARPA).
std::unique_ptr<Model> open_model(const std::string& path, json* header = nullptr);
// Loads a config file and applies --set overrides in order.
json load_config(const std::string& path, const std::vector<std::string>& overrides);
// The top-level keys of a config, checked the same way for every command that
// reads one (train, stats): only space, data, model, train and output;
// returns "output" (default model.dgm). ConfigError names the file and key.
std::string check_config_top(const json& cfg, const std::string& path);
// True when file descriptor 2 is a terminal (progress bars are drawn only then).
bool stderr_is_tty();
// A number as JSON would print it ("-inf" and "inf" for infinities, "nan").
std::string format_number(double v, int precision = 6);

}  // namespace dgm::cli
