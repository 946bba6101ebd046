// text.h — text corpora as datasets of token sequences: tokenizers (UTF-8
// code points or words), a vocabulary built from the training data, and the
// loader for "format": "text". One line is one sequence; the sentence markers
// <s> and </s> are implicit (models add them), <unk> is token id 0.
//
//   TextData td = load_text_data(config["data"], config["space"]);
//   // td.space = {"shape": [max_length], "levels": |vocabulary|, "variable_length": true}
//   model->fit(td.train, &td.validation, ctx);
//
// Tokenizers ("tokenizer" key of the data section):
//   word  tokens are the matches of [a-z0-9]+|[^a-z0-9\s] on the lowercased
//         line ("lowercase": true, the default; with false the letter class
//         also holds A-Z); "split": "whitespace" splits on whitespace only
//         (for corpora that are already tokenized). Detokenized by joining
//         with single spaces.
//   char  one token per UTF-8 code point (invalid UTF-8 is a DataError);
//         "lowercase" defaults to false; "space_symbol": "_" maps a space to
//         "_" when encoding and "_" back to a space when decoding (ARPA files
//         cannot hold a space token). Detokenized by concatenation.
// Lowercasing and \s are ASCII-only (as in Perl's lc without a locale); other
// code points pass through unchanged and, for the word rule, are one token each.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "dgm/comm.h"
#include "dgm/config.h"
#include "dgm/dataset.h"

namespace dgm {

struct TokenizerOptions {
  std::string kind = "word";     // "word" or "char"
  bool lowercase = true;         // default true for word, false for char
  std::string split = "regex";   // word only: "regex" or "whitespace"
  std::string space_symbol;      // char only: e.g. "_"; empty = keep spaces

  json to_json() const;
  // ConfigError naming `path`.key on an unknown kind, split or key.
  static TokenizerOptions from_json(const json& j, const std::string& path = "tokenizer");
};

class Tokenizer {
 public:
  Tokenizer() = default;
  explicit Tokenizer(TokenizerOptions opts);
  const TokenizerOptions& options() const { return opts_; }

  // Appends the tokens of one line (without its newline) to `out`. DataError
  // (no location; callers add file and line) on invalid UTF-8 for char.
  void tokenize(const std::string& line, std::vector<std::string>& out) const;
  std::vector<std::string> tokenize(const std::string& line) const {
    std::vector<std::string> out;
    tokenize(line, out);
    return out;
  }
  // Tokens back to text: words joined by spaces, chars concatenated (with
  // space_symbol mapped back to a space).
  std::string detokenize(const std::vector<std::string>& tokens) const;

 private:
  TokenizerOptions opts_;
};

// Number of UTF-8 code points in s (bytes that are not continuation bytes).
int64_t count_code_points(const std::string& s);

// Token strings <-> ids. Id 0 is "<unk>"; the others are the training tokens
// with at least min_count occurrences, by decreasing count then byte order.
class Vocabulary {
 public:
  static constexpr int32_t kUnk = 0;
  static constexpr const char* kUnkToken = "<unk>";
  static constexpr const char* kBosToken = "<s>";
  static constexpr const char* kEosToken = "</s>";

  Vocabulary();  // just <unk>
  // From tokens in order (tokens[0] must be "<unk>"); FormatError on duplicates.
  explicit Vocabulary(std::vector<std::string> tokens);
  // Counts every token of the tokenized lines; keeps those seen >= min_count.
  static Vocabulary build(const std::vector<std::vector<std::string>>& lines, int64_t min_count);
  // The same from distinct tokens and their counts.
  static Vocabulary build(const std::vector<std::string>& types, const std::vector<int64_t>& counts,
                          int64_t min_count);

  int64_t size() const { return int64_t(tokens_.size()); }
  const std::string& token(int32_t id) const { return tokens_[size_t(id)]; }
  const std::vector<std::string>& tokens() const { return tokens_; }
  // The id of a token, kUnk when absent ("<unk>" itself maps to kUnk).
  int32_t id(const std::string& token) const {
    auto it = index_.find(token);
    return it == index_.end() ? kUnk : it->second;
  }
  bool contains(const std::string& token) const { return index_.count(token) > 0; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> index_;
};

// A tokenizer with its vocabulary: lines <-> id sequences.
class TextCodec {
 public:
  TextCodec() = default;
  TextCodec(Tokenizer tokenizer, Vocabulary vocabulary)
      : tokenizer_(std::move(tokenizer)), vocabulary_(std::move(vocabulary)) {}

  const Tokenizer& tokenizer() const { return tokenizer_; }
  const Vocabulary& vocabulary() const { return vocabulary_; }

  // Ids of the tokens of a line; *oov (optional) receives the number of
  // tokens not in the vocabulary (mapped to <unk>). Literal "<s>" or "</s>"
  // tokens are a DataError (they are markers, not words).
  std::vector<int32_t> encode(const std::string& line, int64_t* oov = nullptr) const;
  std::string decode(const int32_t* ids, int64_t n) const;
  std::string decode(const std::vector<int32_t>& ids) const { return decode(ids.data(), int64_t(ids.size())); }

 private:
  Tokenizer tokenizer_;
  Vocabulary vocabulary_;
};

// Reads a text file as lines (a final line without newline counts; a trailing
// '\r' is dropped). "-" reads stdin. IoError names the path.
std::vector<std::string> read_text_lines(const std::string& path);

// Totals of a text split, for the tokens/OOV/bits-per-char summaries.
struct TextSplitInfo {
  std::string path;
  int64_t lines = 0;
  int64_t tokens = 0;  // words, without the </s> markers
  int64_t oov = 0;     // tokens mapped to <unk>
  int64_t chars = 0;   // code points of the lines plus one newline per line
};

struct TextData {
  Space space;  // sequence(max_length, vocabulary size)
  TextCodec codec;
  Dataset train, validation, test;  // validation / test may be empty
  TextSplitInfo train_info, validation_info, test_info;
};

// The loader for a "data" section with "format": "text". Keys: "train"
// (required), "validation", "test" (paths), "format", "tokenizer" ("word" or
// "char"), "lowercase", "split", "space_symbol", "min_count" (default 1),
// "limit" (at most N training lines). The space section gives the maximum
// length: {"shape": [max_length], "variable_length": true} ("levels", when
// given, must equal the vocabulary size). ConfigError / IoError / DataError
// name the key or the file and line.
TextData load_text_data(const json& data_section, const json& space_section);
// The same for a distributed run: each rank reads the lines of its byte range
// of each file, the vocabulary comes from the counts merged over the ranks,
// and each rank gets its block shard (comm.h) of every split; the split
// totals are over all ranks. Collective; with one rank, the form above.
TextData load_text_data(const json& data_section, const json& space_section, Communicator& comm);

}  // namespace dgm
