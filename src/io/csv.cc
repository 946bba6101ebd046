// csv.cc — comma-separated integers, one sample a row, no header line. A
// label column is chosen by the source key "label_column": "first", "last" or
// "none" (default "last" when the space has labels, else "none"); -1 there is
// an unknown label. Spaces around fields are allowed; blank lines are skipped
// (so an empty sequence cannot be written as csv).
#include <ostream>

#include "formats.h"

namespace dgm::io {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void read_csv(const std::string& path, ConfigSection& opts, Records& out) {
  const Space& space = out.data.space();
  const std::string column =
      opts.get_choice("label_column", space.has_labels() ? "last" : "none", {"first", "last", "none"});
  if (column != "none" && !space.has_labels())
    throw ConfigError(opts.path() + ".label_column: '" + column +
                      "' but the space has no labels; add \"labels\": L to the space or use \"none\"");
  const TextFile f = read_text_for(path, "csv", out);
  const int64_t D = space.dims();
  std::vector<int32_t> fields;
  LineReader lines(f.text, f.first_line);
  std::string_view line;
  while (lines.next(&line)) {
    if (trim(line).empty()) continue;
    out.record(lines.line_number(), [&] {
    const std::string where = at_line(f.name, lines.line_number());
    fields.clear();
    size_t i = 0;
    while (true) {
      size_t j = line.find(',', i);
      if (j == std::string_view::npos) j = line.size();
      if (int64_t(fields.size()) > D + 1)
        throw FormatError(where + ": more than " + std::to_string(D + (column != "none")) + " fields");
      // Negative values are refused below, once the label column (-1 = unknown) is known.
      fields.push_back(parse_value(trim(line.substr(i, j - i)), where + ": field " + std::to_string(fields.size() + 1),
                                   "value", true));
      if (j == line.size()) break;
      i = j + 1;
    }
    for (size_t k = 0; k < fields.size(); ++k) {
      const bool is_label = (column == "first" && k == 0) || (column == "last" && k + 1 == fields.size());
      if (fields[k] < 0 && !is_label)
        throw DataError(where + ": field " + std::to_string(k + 1) + ": value " + std::to_string(fields[k]) +
                        " is negative");
    }
    int32_t label = -1;
    if (column != "none") {
      if (fields.size() < 2) throw FormatError(where + ": expected values and a label column");
      if (column == "first") {
        label = fields.front();
        fields.erase(fields.begin());
      } else {
        label = fields.back();
        fields.pop_back();
      }
    }
    if (!space.variable_length() && int64_t(fields.size()) != D)
      throw FormatError(where + ": " + std::to_string(fields.size()) + " values, expected " + std::to_string(D) +
                        (column != "none" ? " (plus the label column)" : ""));
    with_context(where, [&] { out.push(fields, label); });
    });
  }
  if (out.data.empty() && out.errors() == 0 && !f.part) throw FormatError(f.name + ": no samples (only blank lines)");
}

void write_csv(const Dataset& data, std::ostream& out) {
  std::string text;
  std::vector<int32_t> x;
  for (size_t i = 0; i < data.size(); ++i) {
    text.clear();
    x = data.row(i);
    if (x.empty()) throw DataError("csv: sample " + std::to_string(i) + " is empty, which csv cannot hold (blank lines are skipped); use lines or jsonl");
    for (size_t d = 0; d < x.size(); ++d) {
      if (d) text += ',';
      text += std::to_string(x[d]);
    }
    if (data.has_labels()) text += "," + std::to_string(data.label(i));
    text += '\n';
    out << text;
  }
}

}  // namespace dgm::io
