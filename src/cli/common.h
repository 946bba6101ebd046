// common.h — helpers shared by the subcommands: model paths, config loading
// with overrides and path resolution, usage errors, format checks, shapes,
// terminal detection, and formatting of numbers.
#pragma once

#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dgm/config.h"
#include "dgm/model.h"

namespace dgm::cli {

// An option that does not apply to the command or the model, or a bad
// combination of options: "dgm: usage error: ..." and exit status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --model, else $DGM_MODEL, else "model.dgm".
std::string resolve_model_path(const std::string& option);
// Loads a model file, or a foreign model a kind imports (an ARPA file),
// recognised by its content; "-" reads stdin. *header gets the model file's
// header (an empty object for imports).
std::unique_ptr<Model> open_model(const std::string& path, json* header = nullptr);

// Loads a config file ("-": stdin) and applies --set overrides in order. The
// data paths of the file are relative to its folder, those of --set to the
// current folder; both come back absolute (docs: README "Configs").
json load_config(const std::string& path, const std::vector<std::string>& overrides);
// Applies --set overrides to a config already loaded (from a model file),
// resolving their data paths against the current folder.
void apply_overrides(json& config, const std::vector<std::string>& overrides);

// The format the model's training data had (its config's data.format, else
// what the training path's name says), for reading new data of the same kind.
std::string model_format(const Model& model, const json& header);
// Source keys of the training data that reading new data for the model must
// repeat (the binarisation threshold).
json model_source_keys(const json& header);

// UsageError unless `format` can hold samples of the model's space:
// "<option> <format>: <why>".
void require_format(const std::string& option, const std::string& format, const Model& model);

// "28x28", "28,28" or "1x28x28" as extents; UsageError naming the option otherwise.
std::vector<int64_t> parse_shape(const std::string& option, const std::string& text);

// True when file descriptor 2 is a terminal (progress bars are drawn only then).
bool stderr_is_tty();
// A number as JSON would print it ("-inf" and "inf" for infinities, "nan").
std::string format_number(double v, int precision = 6);
// A double for JSON output: the number, or "-inf"/"inf", or null for NaN.
json json_number(double v);

}  // namespace dgm::cli
