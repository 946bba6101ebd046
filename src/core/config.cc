// config.cc — JSON config loading, overrides and checked reads.
#include "dgm/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dgm/error.h"

namespace dgm {

json load_config_file(const std::string& file) {
  // "-" reads the config from stdin (named <stdin> in messages).
  const std::string path = file == "-" ? "<stdin>" : file;
  std::stringstream ss;
  if (file == "-") {
    ss << std::cin.rdbuf();
    std::cin.clear();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw IoError(path + ": cannot open config file");
    ss << in.rdbuf();
    if (in.bad()) throw IoError(path + ": cannot read config file (is it a directory?)");
  }
  const std::string text = ss.str();
  if (text.empty()) throw ConfigError(path + ": empty config, expected a JSON object ({...})");
  if (text.size() > (64u << 20)) throw ConfigError(path + ": config file larger than 64 MiB");
  try {
    json j = json::parse(text);
    if (!j.is_object()) throw ConfigError(path + ": a config is a JSON object ({...})");
    return j;
  } catch (const json::parse_error& e) {
    // Report line and column of the byte offset.
    size_t pos = std::min<size_t>(e.byte ? e.byte - 1 : 0, text.size());
    size_t line = 1 + size_t(std::count(text.begin(), text.begin() + long(pos), '\n'));
    size_t nl = text.rfind('\n', pos ? pos - 1 : 0);
    size_t col = nl == std::string::npos ? pos + 1 : pos - nl;
    throw ConfigError(path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON");
  } catch (const json::out_of_range&) {
    throw ConfigError(path + ": invalid JSON: a number is out of range (past a double)");
  }
}

void apply_override(json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment + ": expected key=value, e.g. model.components=20");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::exception&) {  // not JSON (or a number past a double): a string
    value = text;
  }
  json* node = &config;
  std::stringstream ks(key);
  std::string part;
  std::vector<std::string> parts;
  while (std::getline(ks, part, '.')) parts.push_back(part);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) throw ConfigError("--set " + assignment + ": empty key component");
    if (!node->is_object()) {
      if (node->is_null()) *node = json::object();
      else throw ConfigError("--set " + assignment + ": '" + parts[i - 1] + "' is not an object");
    }
    node = &(*node)[parts[i]];
  }
  *node = value;
}

ConfigSection::ConfigSection(const json& j, std::string path) : j_(j), path_(std::move(path)) {
  if (!j_.is_null() && !j_.is_object())
    throw ConfigError(path_ + ": expected an object ({...}), got " + j_.dump());
}

bool ConfigSection::has(const std::string& key) const { return j_.is_object() && j_.contains(key); }

const json* ConfigSection::find(const std::string& key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
  if (!j_.is_object()) return nullptr;
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

void ConfigSection::fail(const std::string& key, const std::string& what) const {
  throw ConfigError(path_ + "." + key + ": " + what);
}

int64_t ConfigSection::get_int(const std::string& key, int64_t def, int64_t lo, int64_t hi) {
  const json* v = find(key);
  int64_t r = def;
  if (v) {
    if (v->is_number_integer()) {
      r = v->get<int64_t>();
    } else if (v->is_number_unsigned()) {
      if (v->get<uint64_t>() > uint64_t(INT64_MAX)) fail(key, "value " + v->dump() + " is too large");
      r = v->get<int64_t>();
    } else if (v->is_number_float()) {
      double d = v->get<double>();
      if (!(std::floor(d) == d) || !(std::fabs(d) < 9.0e18))
        fail(key, "expected an integer between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                      v->dump());
      r = int64_t(d);
    } else {
      fail(key, "expected an integer, got " + v->dump());
    }
    if (r < lo || r > hi)
      fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + v->dump());
  }
  effective_[key] = r;
  return r;
}

int64_t ConfigSection::require_int(const std::string& key, int64_t lo, int64_t hi) {
  if (!has(key)) fail(key, "missing (an integer between " + std::to_string(lo) + " and " + std::to_string(hi) + ")");
  return get_int(key, 0, lo, hi);
}

double ConfigSection::get_double(const std::string& key, double def, double lo, double hi) {
  const json* v = find(key);
  double r = def;
  if (v) {
    if (!v->is_number()) fail(key, "expected a number, got " + v->dump());
    r = v->get<double>();
    if (!(r >= lo && r <= hi)) {
      std::ostringstream os;
      os << "must be between " << lo << " and " << hi << ", got " << v->dump();
      fail(key, os.str());
    }
  }
  effective_[key] = r;
  return r;
}

bool ConfigSection::get_bool(const std::string& key, bool def) {
  const json* v = find(key);
  bool r = def;
  if (v) {
    if (!v->is_boolean()) fail(key, "expected true or false, got " + v->dump());
    r = v->get<bool>();
  }
  effective_[key] = r;
  return r;
}

std::string ConfigSection::get_string(const std::string& key, const std::string& def) {
  const json* v = find(key);
  std::string r = def;
  if (v) {
    if (!v->is_string()) fail(key, "expected a string, got " + v->dump());
    r = v->get<std::string>();
  }
  if (!r.empty() || v) effective_[key] = r;
  return r;
}

std::string ConfigSection::get_choice(const std::string& key, const std::string& def,
                                      const std::vector<std::string>& choices) {
  std::string r = get_string(key, def);
  if (std::find(choices.begin(), choices.end(), r) == choices.end()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    fail(key, "'" + r + "' is not one of: " + list);
  }
  return r;
}

json ConfigSection::get_json(const std::string& key) {
  const json* v = find(key);
  if (!v) return json();
  effective_[key] = *v;
  return *v;
}

void ConfigSection::allow(const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    find(k);
    if (has(k)) effective_[k] = j_.at(k);
  }
}

void ConfigSection::finish() const {
  if (!j_.is_object()) return;
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    if (std::find(known_.begin(), known_.end(), it.key()) == known_.end()) {
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError(path_ + ": unknown key '" + it.key() + "'" + (list.empty() ? "" : " (known: " + list + ")"));
    }
  }
}

}  // namespace dgm
