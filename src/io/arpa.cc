// arpa.cc — reading and writing the ARPA n-gram format (arpa.h).
#include "arpa.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <istream>
#include <ostream>
#include <unordered_map>

#include "dgm/error.h"

namespace dgm::io {

bool looks_like_arpa(const std::string& head) {
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find('\n', pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "\\data\\") return true;
    if (line.find_first_not_of(" \t") != std::string::npos) return false;
    pos = end + 1;
  }
  return false;
}

ArpaNgrams read_arpa(std::istream& in, const std::string& path, uint64_t size) {
  std::string line;
  int64_t lineno = 0;
  auto fail = [&](const std::string& why) -> FormatError {
    return FormatError(path + ":" + std::to_string(lineno) + ": " + why);
  };
  auto next_line = [&]() -> bool {
    if (!std::getline(in, line)) return false;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  };
  // Header: skip to \data\, then "ngram n=count" lines.
  bool found = false;
  while (next_line())
    if (line == "\\data\\") {
      found = true;
      break;
    }
  if (!found) throw FormatError(path + ": not an ARPA file (no \\data\\ line)");
  std::vector<uint64_t> counts;
  while (next_line()) {
    if (line.empty()) {
      if (!counts.empty()) break;
      continue;
    }
    int n;
    unsigned long long c;
    char extra;
    if (std::sscanf(line.c_str(), "ngram %d=%llu%c", &n, &c, &extra) != 2)
      throw fail("expected 'ngram N=COUNT', got '" + line + "'");
    if (n != int(counts.size()) + 1) throw fail("n-gram counts out of order");
    if (n > kArpaMaxOrder) throw fail("order " + std::to_string(n) + " exceeds the maximum " + std::to_string(kArpaMaxOrder));
    if (c >= (1ull << 31)) throw fail("count " + std::to_string(c) + " is too large");
    counts.push_back(c);
  }
  if (counts.empty() || counts[0] == 0) throw FormatError(path + ": ARPA file without unigrams");
  const int N = int(counts.size());
  // The arrays are sized from the counts: a header claiming more n-grams than
  // the file can hold (an n-gram line has at least 2n + 2 bytes) is refused
  // before allocating.
  {
    uint64_t need = 0;
    for (int n = 1; n <= N; ++n) need += counts[size_t(n - 1)] * uint64_t(2 * n + 2);
    if (need > size)
      throw FormatError(path + ": the header claims n-grams of at least " + std::to_string(need) +
                        " bytes, the file has " + std::to_string(size) + "; truncated or corrupt");
  }

  auto expect_section = [&](int n) {
    while (next_line()) {
      if (line.empty()) continue;
      if (line == "\\" + std::to_string(n) + "-grams:") return;
      throw fail("expected \\" + std::to_string(n) + "-grams:, got '" + line + "'");
    }
    throw fail("missing \\" + std::to_string(n) + "-grams: section");
  };
  std::vector<std::string> fields;
  auto split = [&]() {
    fields.clear();
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      if (j > i) fields.emplace_back(line, i, j - i);
      i = j;
    }
  };
  auto number = [&](const std::string& s) -> double {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(v)) throw fail("bad number '" + s + "'");
    return v;
  };

  ArpaNgrams a;
  a.orders.resize(size_t(N));
  std::unordered_map<std::string, uint32_t> ids;
  for (int n = 1; n <= N; ++n) {
    expect_section(n);
    ArpaNgrams::Order& o = a.orders[size_t(n - 1)];
    const uint64_t count = counts[size_t(n - 1)];
    o.ids.reserve(size_t(count) * size_t(n));
    o.log10_prob.reserve(size_t(count));
    o.log10_backoff.reserve(size_t(count));
    for (uint64_t i = 0; i < count; ++i) {
      if (!next_line()) throw fail("file ends inside the " + std::to_string(n) + "-grams");
      split();
      if (fields.size() != size_t(n) + 1 && fields.size() != size_t(n) + 2) {
        if (n == 1) throw fail("expected 'log10p word [backoff]', got '" + line + "'");
        throw fail("expected 'log10p' and " + std::to_string(n) + " words [backoff], got '" + line + "'");
      }
      if (n == 1) {
        if (!ids.emplace(fields[1], uint32_t(a.words.size())).second) throw fail("word '" + fields[1] + "' listed twice");
        a.words.push_back(fields[1]);
        o.ids.push_back(uint32_t(a.words.size() - 1));
      } else {
        for (int k = 0; k < n; ++k) {
          auto it = ids.find(fields[size_t(k) + 1]);
          if (it == ids.end()) throw fail("word '" + fields[size_t(k) + 1] + "' is not among the 1-grams");
          o.ids.push_back(it->second);
        }
      }
      o.log10_prob.push_back(number(fields[0]));
      o.log10_backoff.push_back(fields.size() == size_t(n) + 2 ? number(fields.back()) : 0.0);
    }
  }
  while (next_line()) {
    if (line.empty()) continue;
    if (line == "\\end\\") break;
    throw fail("expected \\end\\, got '" + line + "'");
  }
  return a;
}

void write_arpa(const ArpaNgrams& a, std::ostream& out) {
  for (const auto& w : a.words)
    for (char c : w)
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        throw ConfigError("ARPA: the word '" + w +
                          "' holds whitespace, which ARPA cannot hold (set \"space_symbol\" for the char tokenizer)");
  const size_t N = a.orders.size();
  std::string text = "\\data\\\n";
  for (size_t n = 1; n <= N; ++n)
    text += "ngram " + std::to_string(n) + "=" + std::to_string(a.orders[n - 1].log10_prob.size()) + "\n";
  char num[64];
  for (size_t n = 1; n <= N; ++n) {
    text += "\n\\" + std::to_string(n) + "-grams:\n";
    const ArpaNgrams::Order& o = a.orders[n - 1];
    for (size_t i = 0; i < o.log10_prob.size(); ++i) {
      std::snprintf(num, sizeof num, "%.9g", o.log10_prob[i]);
      text += num;
      for (size_t k = 0; k < n; ++k) {
        text += k == 0 ? '\t' : ' ';
        text += a.words[o.ids[i * n + k]];
      }
      if (n < N && o.log10_backoff[i] != 0.0) {
        std::snprintf(num, sizeof num, "\t%.9g", o.log10_backoff[i]);
        text += num;
      }
      text += '\n';
      if (text.size() > (1u << 20)) {
        out << text;
        text.clear();
      }
    }
  }
  text += "\n\\end\\\n";
  out << text;
}

}  // namespace dgm::io
