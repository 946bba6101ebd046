// grid.cc — the text grid format: a sample is shape[0] rows of shape[1]
// characters (one row for a 1-D space), samples separated by one or more blank
// lines. Characters: '0'..'9' for levels <= 10, and '#' / '.' for 1 / 0 in
// binary spaces. An optional line "label N" opens a sample of a labeled space.
//
//   label 7
//   #####
//   ...#.
//   ..#..
#include <cstdio>
#include <ostream>

#include "dgm/input.h"
#include "formats.h"

namespace dgm::io {
namespace {

// Rows and columns of one sample in a grid; throws ConfigError for spaces the
// grid cannot show.
void grid_extent(const Space& space, const std::string& name, int64_t* rows, int64_t* cols) {
  const auto& s = space.shape();
  if (space.variable_length())
    throw ConfigError(name + ": the grid format needs a fixed shape; use the lines format for sequences");
  if (space.levels() > 10)
    throw ConfigError(name + ": the grid format holds one character a value, so levels <= 10 (space has " +
                      std::to_string(space.levels()) + "); use lines, csv or jsonl");
  if (s.size() == 1) {
    *rows = 1;
    *cols = s[0];
  } else if (s.size() == 2) {
    *rows = s[0];
    *cols = s[1];
  } else if (s.size() == 3 && s[0] == 1) {
    *rows = s[1];
    *cols = s[2];
  } else {
    throw ConfigError(name + ": the grid format needs a 1-D or 2-D space (or {1,H,W}), not " + space.describe());
  }
}

bool blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t') return false;
  return true;
}

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string show_char(char c) {
  const unsigned char u = (unsigned char)c;
  if (u >= 32 && u < 127) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", u);
  return std::string("byte ") + buf;
}

}  // namespace

void check_grid_space(const Space& space, const std::string& name) {
  int64_t rows, cols;
  grid_extent(space, name, &rows, &cols);
}

void read_grid(const std::string& path, ConfigSection&, Records& out) {
  const Space& space = out.data.space();
  const std::string shown = input_name(path);
  int64_t rows, cols;
  grid_extent(space, shown, &rows, &cols);
  const TextFile f = read_text(path, "grid");
  const bool binary = space.is_binary();
  const int64_t levels = space.levels();
  std::vector<uint8_t> x(size_t(rows * cols));
  std::vector<int32_t> xi(x.size());

  // A record is a block of non-blank lines: an optional "label N" line, then
  // the rows of one sample. Blocks are parsed one at a time, so that under a
  // tolerant policy a bad block is skipped as a whole.
  std::vector<std::pair<size_t, std::string_view>> block;  // (line number, text)
  auto parse_block = [&] {
    size_t first = 0;
    int32_t label = -1;
    int64_t row = 0;
    for (size_t k = 0; k < block.size(); ++k) {
      const size_t n = block[k].first;
      std::string_view line = block[k].second;
      if (line.substr(0, 6) == "label ") {
        if (k != 0)
          throw FormatError(at_line(f.name, n) + ": 'label' line inside a sample; put it first, after a blank line");
        label = parse_value(line.substr(6), at_line(f.name, n), "label", true);
        continue;
      }
      if (first == 0) first = n;
      if (row == rows)
        throw FormatError(at_line(f.name, n) + ": sample starting at line " + std::to_string(first) +
                          " has more than " + std::to_string(rows) + " rows; separate samples with a blank line");
      if (int64_t(line.size()) != cols)
        throw FormatError(at_line(f.name, n) + ": row has " + std::to_string(line.size()) + " characters, expected " +
                          std::to_string(cols));
      uint8_t* o = x.data() + row * cols;
      for (int64_t c = 0; c < cols; ++c) {
        const char ch = line[size_t(c)];
        int v;
        if (ch >= '0' && ch <= '9') v = ch - '0';
        else if (binary && ch == '#') v = 1;
        else if (binary && ch == '.') v = 0;
        else
          throw FormatError(at_line(f.name, n) + ":" + std::to_string(c + 1) + ": bad character " + show_char(ch) +
                            (binary ? " (expected 0/1 or #/.)" : " (expected a digit 0.." + std::to_string(levels - 1) + ")"));
        if (v >= levels)
          throw DataError(at_line(f.name, n) + ":" + std::to_string(c + 1) + ": value " + std::to_string(v) +
                          " outside {0.." + std::to_string(levels - 1) + "}");
        o[c] = uint8_t(v);
      }
      ++row;
    }
    const size_t start = block.front().first;
    if (row == 0) throw FormatError(at_line(f.name, start) + ": 'label' line is not followed by the rows of a sample");
    if (row != rows)
      throw FormatError(at_line(f.name, start) + ": sample has " + std::to_string(row) + " rows, expected " +
                        std::to_string(rows));
    for (size_t k = 0; k < x.size(); ++k) xi[k] = x[k];
    with_context(at_line(f.name, start), [&] { out.push(xi, label); });
  };
  auto finish_block = [&] {
    if (block.empty()) return;
    out.record(block.front().first, parse_block);
    block.clear();
  };

  LineReader lines(f.text);
  std::string_view line;
  while (lines.next(&line)) {
    if (blank(line)) finish_block();
    else block.push_back({lines.line_number(), rstrip(line)});
  }
  finish_block();
  if (out.data.empty() && out.errors() == 0) throw FormatError(f.name + ": no samples (only blank lines)");
}

void write_grid(const Dataset& data, std::ostream& out) {
  int64_t rows, cols;
  grid_extent(data.space(), "grid", &rows, &cols);
  const bool binary = data.space().is_binary();
  std::string text;
  for (size_t i = 0; i < data.size(); ++i) {
    text.clear();
    if (i) text += '\n';
    if (data.label(i) >= 0) text += "label " + std::to_string(data.label(i)) + "\n";
    const uint8_t* p = data.row_u8(i);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const uint8_t v = p[r * cols + c];
        text += binary ? (v ? '#' : '.') : char('0' + v);
      }
      text += '\n';
    }
    out << text;
  }
}

}  // namespace dgm::io
