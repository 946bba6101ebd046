// text.h — text corpora as datasets of token sequences: tokenizers (UTF-8
// code points or words), a vocabulary built from the training data, and the
// text codec of "format": "text". One line is one sequence; the sentence
// markers <s> and </s> are implicit (models add them), <unk> is token id 0.
//
//   TrainingData td = load_training_data(config["data"], config["space"], seed);  // io/read.h
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

#include "dgm/codec.h"
#include "dgm/config.h"
#include "dgm/dataset.h"
#include "dgm/io/read.h"

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

// The text codec: a tokenizer with its vocabulary, lines of text <-> id
// sequences. Its format "text" reads one sequence a line (the whole line,
// tokenized; OOV tokens become <unk> and are flagged in Records::unknown) and
// writes the detokenized samples a line each. Stored in model files as
// {"type": "text", "tokenizer": {...}} and the arrays codec.vocab.bytes and
// codec.vocab.offsets.
class TextCodec : public Codec {
 public:
  TextCodec() = default;
  TextCodec(Tokenizer tokenizer, Vocabulary vocabulary)
      : tokenizer_(std::move(tokenizer)), vocabulary_(std::move(vocabulary)) {}

  const Tokenizer& tokenizer() const { return tokenizer_; }
  const Vocabulary& vocabulary() const { return vocabulary_; }

  // Ids of the tokens of a line; *oov (optional) receives the number of
  // tokens not in the vocabulary (mapped to <unk>), `unknown` (optional) a
  // flag a token. Literal "<s>" or "</s>" tokens are a DataError (they are
  // markers, not words).
  std::vector<int32_t> encode(const std::string& line, int64_t* oov = nullptr,
                              std::vector<uint8_t>* unknown = nullptr) const;
  std::string decode(const int32_t* ids, int64_t n) const;
  std::string decode(const std::vector<int32_t>& ids) const { return decode(ids.data(), int64_t(ids.size())); }
  // Lines as records of `space` (what the "text" format reads from a file):
  // OOVs flagged, characters counted; a line past the maximum length is a
  // DataError naming "name:LINE".
  Records encode_lines(const std::vector<std::string>& lines, const Space& space,
                       const std::string& name = "<lines>") const;

  // Codec
  std::string type() const override { return "text"; }
  json to_json() const override;
  void save(ModelWriter& w) const override;
  std::string describe() const override;
  void check_space(const Space& space) const override;
  std::vector<std::string> formats() const override { return {"text"}; }
  std::string recognise(const std::string& head) const override;
  void read(const std::string& path, const std::string& format, ConfigSection& opts, Records& out) const override;
  void write(const Dataset& data, const std::string& format, std::ostream& out) const override;
  std::vector<int32_t> encode_prompt(const std::string& text) const override { return encode(text); }
  std::string unit() const override { return tokenizer_.options().kind == "char" ? "char" : "token"; }

  // The registry's factory and loader (codec.h CodecKind). fit reads the data
  // section's "train" file (its first "limit" lines when given) with the keys
  // "tokenizer" ("word" or "char"), "lowercase", "split", "space_symbol" and
  // "min_count" (default 1), and the space section's maximum length:
  // {"shape": [max_length], "variable_length": true}; "levels", when given,
  // must equal the vocabulary size. ConfigError / IoError / DataError name
  // the key or the file and line.
  // With comm, each rank counts the tokens of its byte range of the file and
  // the vocabulary comes from the merged counts.
  static std::shared_ptr<const Codec> fit(const json& data_section, const json& space_section, Space* space,
                                          Communicator* comm = nullptr);
  static std::shared_ptr<const Codec> load(const json& header, const ModelReader& r);

 private:
  // Lines [first_line, first_line + lines.size()) of a file, into out.
  void encode_into(const std::vector<std::string>& lines, Records& out, size_t first_line = 0) const;
  Tokenizer tokenizer_;
  Vocabulary vocabulary_;
};

// Reads a text file as lines (a final line without newline counts; a trailing
// '\r' is dropped). "-" reads stdin. IoError names the path.
std::vector<std::string> read_text_lines(const std::string& path);

}  // namespace dgm
