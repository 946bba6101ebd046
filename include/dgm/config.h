// config.h — the JSON config: loading, command-line overrides, and typed reads
// with validation next to the declaration. A ConfigSection records every key
// it reads (with its default) into an effective config, and finish() rejects
// the keys nobody read, so a typo like "componets" is an error, not a default.
//
//   ConfigSection m(cfg["model"], "model");
//   int64_t k = m.get_int("components", 10, 1, 100000);
//   m.finish();  // ConfigError: model: unknown key 'componets' (known: components, ...)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dgm {

using json = nlohmann::json;

// Every JSON dgm reads (configs, --set values, JSONL records, model headers)
// is parsed by parse_json: at most kMaxJsonDepth levels of arrays and
// objects (checked before parsing, so a document nested 100,000 deep is a
// message, not a stack overflow), at most max_bytes bytes, and no key twice in
// one object (JSON allows it; the last value would silently win). FormatError
// "<name>: ..." in one short line: invalid JSON (with line and column, or the
// column alone for one-line text), the depth, the duplicate key path, or a
// number past the range of a double.
constexpr int kMaxJsonDepth = 64;
json parse_json(std::string_view text, const std::string& name, size_t max_bytes = size_t(64) << 20);

// Reads and parses a JSON file ("-": stdin) with parse_json; ConfigError names the file, line and column.
json load_config_file(const std::string& path);
// Applies "a.b.c=value": value is parsed as JSON when it parses, else taken
// as a string. Intermediate objects are created as needed.
void apply_override(json& config, const std::string& assignment);

class ConfigSection {
 public:
  // `j` may be null (absent section): every read then returns its default.
  ConfigSection(const json& j, std::string path);

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t def, int64_t lo, int64_t hi);
  int64_t require_int(const std::string& key, int64_t lo, int64_t hi);
  double get_double(const std::string& key, double def, double lo, double hi);
  bool get_bool(const std::string& key, bool def);
  std::string get_string(const std::string& key, const std::string& def);
  std::string get_choice(const std::string& key, const std::string& def, const std::vector<std::string>& choices);
  // The raw value (marked as read); null when absent.
  json get_json(const std::string& key);
  // Marks keys as known without reading them (read elsewhere).
  void allow(const std::vector<std::string>& keys);

  // Throws ConfigError for any key that was never read or allowed.
  void finish() const;
  // Every key read, with the value used (defaults filled in).
  const json& effective() const { return effective_; }
  const std::string& path() const { return path_; }

 private:
  const json* find(const std::string& key);
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

  json j_;
  std::string path_;
  std::vector<std::string> known_;
  json effective_ = json::object();
};

}  // namespace dgm
