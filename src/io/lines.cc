// lines.cc — one sample a line, the form `dgm sample` prints and `dgm score -`
// reads back. Values are single characters without separators when levels <=
// 10 ("0110100"), else integers separated by spaces ("17 4021 9"). A labeled
// sample ends with a tab and its label ("0110100\t3"); a line without the tab
// has an unknown label. Sequences may have any length up to the maximum, so an
// empty line is the empty sequence; for fixed shapes, empty lines are errors
// except at the end of the file.
#include <ostream>

#include "formats.h"

namespace dgm::io {
namespace {

// Parses one line into *x and *label; errors are prefixed with `where`.
void parse_line(std::string_view line, const Space& space, const std::string& where, std::vector<int32_t>* out,
                int32_t* label_out) {
  const bool chars = space.levels() <= 10;
  const bool fixed = !space.variable_length();
  const int64_t D = space.dims();
  std::vector<int32_t>& x = *out;
  int32_t label = -1;
  const size_t tab = line.rfind('\t');
  if (tab != std::string_view::npos) {
    if (!space.has_labels())
      throw DataError(where + ": the line has a label column (after a tab) but the space has no labels");
    label = parse_value(line.substr(tab + 1), where, "label");
    line = line.substr(0, tab);
  }
  x.clear();
  if (chars) {
    for (size_t c = 0; c < line.size(); ++c) {
      const char ch = line[c];
      if (ch < '0' || ch > '9') {
        const bool space_sep = ch == ' ';
        throw FormatError(where + ":" + std::to_string(c + 1) + ": bad character '" +
                          std::string(1, (unsigned char)ch >= 32 && (unsigned char)ch < 127 ? ch : '?') +
                          "': with levels <= 10 a sample is one digit a value" +
                          (space_sep ? ", without spaces (e.g. 0110)" : ""));
      }
      if (int64_t(x.size()) == D)  // checked as it goes: a 100 MB line costs nothing
        throw FormatError(where + ": " + std::to_string(line.size()) + " values, " + (fixed ? "expected " : "at most ") +
                          std::to_string(D));
      x.push_back(ch - '0');
    }
  } else {
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i == line.size()) break;
      size_t j = i;
      while (j < line.size() && line[j] != ' ') ++j;
      if (int64_t(x.size()) == D) throw FormatError(where + ": more than " + std::to_string(D) + " values");
      x.push_back(parse_value(line.substr(i, j - i), where + ": value " + std::to_string(x.size() + 1), "value"));
      i = j;
    }
  }
  if (fixed && int64_t(x.size()) != D)
    throw FormatError(where + ": " + std::to_string(x.size()) + " values, expected " + std::to_string(D));
  *label_out = label;
}

}  // namespace

void read_lines(const std::string& path, ConfigSection&, Records& out) {
  const Space& space = out.data.space();
  TextFile f = read_text_for(path, "lines", out);
  if (!space.variable_length() && !f.more_follows) {
    // Trailing blank lines end the file; they are not samples.
    size_t end = f.text.find_last_not_of("\r\n \t");
    f.text.resize(end == std::string::npos ? 0 : end + 1);
    if (f.text.empty() && !f.part) throw FormatError(f.name + ": no samples (only blank lines)");
  }
  std::vector<int32_t> x;
  x.reserve(size_t(space.dims()));
  LineReader lines(f.text, f.first_line);
  std::string_view line;
  while (lines.next(&line)) {
    out.record(lines.line_number(), [&] {
      const std::string where = at_line(f.name, lines.line_number());
      int32_t label = -1;
      parse_line(line, space, where, &x, &label);
      with_context(where, [&] { out.push(x, label); });
    });
  }
  if (out.data.empty() && out.errors() == 0 && !f.part) throw FormatError(f.name + ": no samples");
}

void write_lines(const Dataset& data, std::ostream& out) {
  const bool chars = data.space().levels() <= 10;
  std::string text;
  std::vector<int32_t> x;
  for (size_t i = 0; i < data.size(); ++i) {
    text.clear();
    x = data.row(i);
    for (size_t d = 0; d < x.size(); ++d) {
      if (chars) {
        text += char('0' + x[d]);
      } else {
        if (d) text += ' ';
        text += std::to_string(x[d]);
      }
    }
    if (data.label(i) >= 0) text += "\t" + std::to_string(data.label(i));
    text += '\n';
    out << text;
  }
}

}  // namespace dgm::io
