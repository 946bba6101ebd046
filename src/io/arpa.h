// arpa.h — the ARPA n-gram format (SRILM, KenLM): an n-gram model in backoff
// form as text, "\data\", the counts, then per order n the lines
// "log10 p <TAB> w_1 ... w_n [<TAB> log10 backoff]" and "\end\". This is the
// format alone; src/models/ngram.cc turns it into a model and back.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace dgm::io {

// Every n-gram of a file, in file order: words[ids[k]] are the words.
struct ArpaNgrams {
  std::vector<std::string> words;  // the 1-grams' words, in file order (<s>, </s>, <unk> among them)
  struct Order {
    std::vector<uint32_t> ids;      // (count * n) word ids, n a line
    std::vector<double> log10_prob;  // (count)
    std::vector<double> log10_backoff;  // (count); 0 where the line has none
  };
  std::vector<Order> orders;  // orders[n - 1] holds the n-grams
};

// Orders past this are refused (the models' limit).
constexpr int kArpaMaxOrder = 16;

// Whether a file's first bytes look like ARPA (a "\data\" line first, after blank lines).
bool looks_like_arpa(const std::string& head);
// Reads a whole ARPA text from `in` (`name` in messages, `size` its bytes);
// FormatError names the file and line. Counts are checked against the size
// before allocating.
ArpaNgrams read_arpa(std::istream& in, const std::string& name, uint64_t size);
// Writes the n-grams (log10 values with 9 significant digits). Words must hold
// no whitespace (ConfigError naming the word).
void write_arpa(const ArpaNgrams& a, std::ostream& out);

}  // namespace dgm::io
