// jsonl.cc — one JSON object a line: {"x": [...], "label": 3}. "x" is flat
// (D values; any length up to the maximum for sequences) or nested to match
// the shape ([[0,1],[1,0]] for a 2x2 space); "label" is optional (absent or
// null = unknown). Other keys are errors. Blank lines are skipped.
#include <ostream>

#include "formats.h"

namespace dgm::io {
namespace {

int32_t json_value(const json& v, const std::string& where) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > uint64_t(INT32_MAX)) throw DataError(where + ": value " + v.dump() + " is too large");
    return int32_t(v.get<uint64_t>());
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < INT32_MIN) throw DataError(where + ": value " + v.dump() + " is negative");
    if (i > INT32_MAX) throw DataError(where + ": value " + v.dump() + " is too large");
    return int32_t(i);
  }
  throw FormatError(where + ": expected an integer, got " + v.dump().substr(0, 40));
}

// Appends the values of a nested array whose extents must match shape[axis..].
void flatten(const json& a, const std::vector<int64_t>& shape, size_t axis, std::vector<int32_t>* out,
             const std::string& where) {
  if (!a.is_array())
    throw FormatError(where + ": \"x\" nested to depth " + std::to_string(axis) + " holds a non-array, expected " +
                      std::to_string(shape.size()) + " levels of arrays");
  if (int64_t(a.size()) != shape[axis])
    throw FormatError(where + ": \"x\" axis " + std::to_string(axis) + " has " + std::to_string(a.size()) +
                      " entries, expected " + std::to_string(shape[axis]));
  for (const auto& e : a) {
    if (axis + 1 == shape.size()) out->push_back(json_value(e, where));
    else flatten(e, shape, axis + 1, out, where);
  }
}

}  // namespace

void read_jsonl(const std::string& path, ConfigSection&, Records& out) {
  const Space& space = out.data.space();
  const TextFile f = read_text_for(path, "jsonl", out);
  // A record holds at most D values (each an int32 of up to 11 characters, a
  // separator and some space) and a label: longer lines are refused before
  // their JSON is built (16+ bytes a value in memory).
  const size_t max_line = size_t(4096) + 32 * size_t(space.dims());
  std::vector<int32_t> x;
  LineReader lines(f.text, f.first_line);
  std::string_view line;
  while (lines.next(&line)) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    out.record(lines.line_number(), [&] {
    const std::string where = at_line(f.name, lines.line_number());
    if (line.size() > max_line)
      throw FormatError(where + ": a record of " + std::to_string(line.size()) + " bytes, more than a sample of " +
                        space.describe() + " needs (at most " + std::to_string(max_line) + ")");
    json j;
    try {
      j = parse_json(line, where, max_line);
    } catch (const FormatError& e) {
      const std::string what = e.what();
      if (what.find(": invalid JSON at") == std::string::npos) throw;
      throw FormatError(what + "; expected {\"x\": [...]}");
    }
    if (!j.is_object()) throw FormatError(where + ": expected an object {\"x\": [...], \"label\": ...}");
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "x" && it.key() != "label")
        throw FormatError(where + ": unknown key '" + it.key() + "' (known: x, label)");
    if (!j.contains("x")) throw FormatError(where + ": missing key \"x\"");
    const json& jx = j["x"];
    if (!jx.is_array()) throw FormatError(where + ": \"x\" must be an array");
    x.clear();
    const bool nested = !jx.empty() && jx.front().is_array();
    if (nested && space.shape().size() > 1 && !space.variable_length()) {
      flatten(jx, space.shape(), 0, &x, where);
    } else {
      x.reserve(jx.size());
      for (const auto& v : jx) x.push_back(json_value(v, where));
      if (!space.variable_length() && int64_t(x.size()) != space.dims())
        throw FormatError(where + ": \"x\" has " + std::to_string(x.size()) + " values, expected " +
                          std::to_string(space.dims()));
    }
    int32_t label = -1;
    if (j.contains("label") && !j["label"].is_null()) label = json_value(j["label"], where + ": label");
    with_context(where, [&] { out.push(x, label); });
    });
  }
  if (out.data.empty() && out.errors() == 0 && !f.part) throw FormatError(f.name + ": no samples (only blank lines)");
}

void write_jsonl(const Dataset& data, std::ostream& out) {
  std::string text;
  std::vector<int32_t> x;
  for (size_t i = 0; i < data.size(); ++i) {
    x = data.row(i);
    text = "{\"x\":[";
    for (size_t d = 0; d < x.size(); ++d) {
      if (d) text += ',';
      text += std::to_string(x[d]);
    }
    text += ']';
    if (data.label(i) >= 0) text += ",\"label\":" + std::to_string(data.label(i));
    text += "}\n";
    out << text;
  }
}

}  // namespace dgm::io
