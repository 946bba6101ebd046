// config.cc — JSON config loading, overrides and checked reads.
#include "dgm/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dgm/error.h"
#include "dgm/input.h"

namespace dgm {
namespace {

// "line L, column C" of a byte offset (or "column C" in one-line text).
std::string position(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  const size_t line = 1 + size_t(std::count(text.begin(), text.begin() + long(pos), '\n'));
  const size_t nl = pos ? text.rfind('\n', pos - 1) : std::string_view::npos;
  const size_t col = nl == std::string_view::npos ? pos + 1 : pos - nl;
  if (text.find('\n') == std::string_view::npos) return "column " + std::to_string(col);
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

// The deepest nesting of [ and { outside strings, refused at the first
// bracket past the limit.
void check_depth(std::string_view text, const std::string& name) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw FormatError(name + ": JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep (at " +
                          position(text, i) + ")");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

// Duplicate keys, seen through the parser's callback: a set of keys per open
// object, and the key path for the message.
struct KeyCheck {
  struct Level {
    bool object;
    std::vector<std::string> keys;
  };
  std::vector<Level> levels;
  const std::string* name;

  bool operator()(int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: levels.push_back({true, {}}); break;
      case json::parse_event_t::array_start: levels.push_back({false, {}}); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!levels.empty()) levels.pop_back();
        break;
      case json::parse_event_t::key: {
        auto& keys = levels.back().keys;
        const std::string& k = parsed.get_ref<const std::string&>();
        // Objects are small; a linear scan beats a set for the usual handful of keys.
        if (std::find(keys.begin(), keys.end(), k) != keys.end()) {
          std::string path;
          for (size_t i = 0; i + 1 < levels.size(); ++i)
            if (levels[i].object && !levels[i].keys.empty()) path += levels[i].keys.back() + ".";
          std::string shown = path + k;
          if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
          throw FormatError(*name + ": duplicate key '" + shown + "' (JSON would keep only the last value)");
        }
        keys.push_back(k);
        break;
      }
      default: break;
    }
    return true;
  }
};

}  // namespace

json parse_json(std::string_view text, const std::string& name, size_t max_bytes) {
  if (text.size() > max_bytes)
    throw FormatError(name + ": " + std::to_string(text.size()) + " bytes of JSON, more than the limit of " +
                      std::to_string(max_bytes));
  check_depth(text, name);
  KeyCheck check{{}, &name};
  try {
    return json::parse(text.begin(), text.end(), std::ref(check));
  } catch (const json::parse_error& e) {
    throw FormatError(name + ": invalid JSON at " + position(text, e.byte ? e.byte - 1 : 0));
  } catch (const json::out_of_range&) {
    throw FormatError(name + ": invalid JSON: a number is out of range (past a double)");
  }
}

json load_config_file(const std::string& file) {
  // "-" reads the config from stdin (named <stdin> in messages).
  const std::string path = input_name(file);
  const std::string text = read_whole_input(file, {uint64_t(64) << 20, nullptr, "config"});
  if (text.empty()) throw ConfigError(path + ": empty config, expected a JSON object ({...})");
  json j;
  try {
    j = parse_json(text, path);
  } catch (const FormatError& e) {
    throw ConfigError(e.what());
  }
  if (!j.is_object()) throw ConfigError(path + ": a config is a JSON object ({...})");
  return j;
}

void apply_override(json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment + ": expected key=value, e.g. model.components=20");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  json value;
  // Text that is not JSON at all is a string; JSON that is too deep or has a
  // duplicate key is an error, not a string.
  try {
    value = parse_json(text, "--set " + key, size_t(1) << 20);
  } catch (const FormatError& e) {
    if (std::string(e.what()).find(": invalid JSON") == std::string::npos) throw ConfigError(e.what());
    value = text;  // not JSON (or a number past a double): a string
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
