// text.cc — tokenizers, vocabulary and the text-corpus loader (text.h).
// The word rule is the regular expression [a-z0-9]+|[^a-z0-9\s] written out
// as a scanner over code points (no std::regex: it is slow and locale-bound).
#include "dgm/io/text.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <iostream>
#include <map>

#include "dgm/comm.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/read.h"
#include "dgm/model_file.h"
#include "formats.h"

namespace dgm {

namespace {

// The lines of a text (a final line without newline counts; a trailing '\r'
// is dropped).
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  io::LineReader reader(text);
  std::string_view line;
  while (reader.next(&line)) lines.emplace_back(line);
  return lines;
}

}  // namespace

namespace {

bool is_ascii_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Length of the UTF-8 sequence starting at s[i] (1 for ASCII); 0 when invalid.
size_t utf8_length(const std::string& s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::string lower_ascii(const std::string& s) {
  std::string r = s;
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return r;
}

}  // namespace

json TokenizerOptions::to_json() const {
  json j = {{"tokenizer", kind}, {"lowercase", lowercase}};
  if (kind == "word") j["split"] = split;
  if (kind == "char") j["space_symbol"] = space_symbol;
  return j;
}

TokenizerOptions TokenizerOptions::from_json(const json& j, const std::string& path) {
  ConfigSection s(j, path);
  TokenizerOptions o;
  o.kind = s.get_choice("tokenizer", "word", {"word", "char"});
  o.lowercase = s.get_bool("lowercase", o.kind == "word");
  if (o.kind == "word") {
    o.split = s.get_choice("split", "regex", {"regex", "whitespace"});
  } else {
    o.split = "";
    o.space_symbol = s.get_string("space_symbol", "");
    if (!o.space_symbol.empty() && (utf8_length(o.space_symbol, 0) != o.space_symbol.size() || o.space_symbol == " "))
      throw ConfigError(path + ".space_symbol: must be one character other than a space, got '" + o.space_symbol + "'");
  }
  s.finish();
  return o;
}

Tokenizer::Tokenizer(TokenizerOptions opts) : opts_(std::move(opts)) {}

void Tokenizer::tokenize(const std::string& raw, std::vector<std::string>& out) const {
  const std::string line = opts_.lowercase ? lower_ascii(raw) : raw;
  const size_t n = line.size();
  if (opts_.kind == "char") {
    for (size_t i = 0; i < n;) {
      const size_t len = utf8_length(line, i);
      if (len == 0) throw DataError("invalid UTF-8 at byte " + std::to_string(i + 1));
      if (len == 1 && line[i] == ' ' && !opts_.space_symbol.empty()) out.push_back(opts_.space_symbol);
      else out.emplace_back(line, i, len);
      i += len;
    }
    return;
  }
  if (opts_.split == "whitespace") {
    size_t i = 0;
    while (i < n) {
      while (i < n && is_ascii_space(static_cast<unsigned char>(line[i]))) ++i;
      size_t j = i;
      while (j < n && !is_ascii_space(static_cast<unsigned char>(line[j]))) ++j;
      if (j > i) out.emplace_back(line, i, j - i);
      i = j;
    }
    return;
  }
  // [a-z0-9]+ | [^a-z0-9\s], with A-Z in the letter class when not lowercasing.
  auto alnum = [&](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!opts_.lowercase && c >= 'A' && c <= 'Z');
  };
  size_t i = 0;
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (is_ascii_space(c)) {
      ++i;
    } else if (alnum(c)) {
      size_t j = i + 1;
      while (j < n && alnum(static_cast<unsigned char>(line[j]))) ++j;
      out.emplace_back(line, i, j - i);
      i = j;
    } else {
      // One code point; a stray byte of invalid UTF-8 is one token by itself.
      size_t len = utf8_length(line, i);
      if (len == 0) len = 1;
      out.emplace_back(line, i, len);
      i += len;
    }
  }
}

std::string Tokenizer::detokenize(const std::vector<std::string>& tokens) const {
  std::string s;
  if (opts_.kind == "char") {
    for (const auto& t : tokens) s += (!opts_.space_symbol.empty() && t == opts_.space_symbol) ? std::string(" ") : t;
    return s;
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) s += ' ';
    s += tokens[i];
  }
  return s;
}

int64_t count_code_points(const std::string& s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

Vocabulary::Vocabulary() : Vocabulary(std::vector<std::string>{kUnkToken}) {}

Vocabulary::Vocabulary(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  if (tokens_.empty() || tokens_[0] != kUnkToken) throw FormatError("vocabulary: the first token must be <unk>");
  index_.reserve(tokens_.size() * 2);
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].empty()) throw FormatError("vocabulary: token " + std::to_string(i) + " is empty");
    if (!index_.emplace(tokens_[i], int32_t(i)).second)
      throw FormatError("vocabulary: token '" + tokens_[i] + "' appears twice");
  }
}

Vocabulary Vocabulary::build(const std::vector<std::vector<std::string>>& lines, int64_t min_count) {
  std::unordered_map<std::string, int64_t> index;
  std::vector<std::string> types;
  std::vector<int64_t> counts;
  for (const auto& line : lines)
    for (const auto& t : line) {
      auto it = index.find(t);
      if (it == index.end()) {
        it = index.emplace(t, int64_t(types.size())).first;
        types.push_back(t);
        counts.push_back(0);
      }
      ++counts[size_t(it->second)];
    }
  return build(types, counts, min_count);
}

Vocabulary Vocabulary::build(const std::vector<std::string>& types, const std::vector<int64_t>& counts,
                             int64_t min_count) {
  std::vector<size_t> kept;
  for (size_t i = 0; i < types.size(); ++i)
    if (counts[i] >= min_count && types[i] != kUnkToken) kept.push_back(i);
  std::sort(kept.begin(), kept.end(), [&](size_t a, size_t b) {
    return counts[a] != counts[b] ? counts[a] > counts[b] : types[a] < types[b];
  });
  std::vector<std::string> tokens{kUnkToken};
  tokens.reserve(kept.size() + 1);
  for (size_t i : kept) tokens.push_back(types[i]);
  return Vocabulary(std::move(tokens));
}

std::vector<int32_t> TextCodec::encode(const std::string& line, int64_t* oov, std::vector<uint8_t>* unknown) const {
  std::vector<std::string> toks;
  tokenizer_.tokenize(line, toks);
  std::vector<int32_t> ids(toks.size());
  int64_t count = 0;
  for (size_t i = 0; i < toks.size(); ++i) {
    if (toks[i] == Vocabulary::kBosToken || toks[i] == Vocabulary::kEosToken)
      throw DataError("token " + std::to_string(i + 1) + " is the reserved marker '" + toks[i] + "'");
    ids[i] = vocabulary_.id(toks[i]);
    const bool u = ids[i] == Vocabulary::kUnk && toks[i] != Vocabulary::kUnkToken;
    count += u;
    if (unknown) unknown->push_back(u);
  }
  if (oov) *oov = count;
  return ids;
}

std::string TextCodec::decode(const int32_t* ids, int64_t n) const {
  std::vector<std::string> toks;
  toks.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= vocabulary_.size())
      throw DataError("token id " + std::to_string(ids[i]) + " outside the vocabulary of " +
                      std::to_string(vocabulary_.size()));
    toks.push_back(vocabulary_.token(ids[i]));
  }
  return tokenizer_.detokenize(toks);
}

json TextCodec::to_json() const { return {{"type", "text"}, {"tokenizer", tokenizer_.options().to_json()}}; }

void TextCodec::save(ModelWriter& w) const {
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> offsets{0};
  for (const auto& tok : vocabulary_.tokens()) {
    bytes.insert(bytes.end(), tok.begin(), tok.end());
    offsets.push_back(bytes.size());
  }
  w.add("codec.vocab.bytes", bytes);
  w.add("codec.vocab.offsets", offsets);
}

std::string TextCodec::describe() const {
  const TokenizerOptions& o = tokenizer_.options();
  std::string s = "text: " + o.kind + " tokens";
  if (o.kind == "word") s += " (" + std::string(o.split == "whitespace" ? "split on whitespace" : "[a-z0-9]+ and single symbols") + ")";
  if (o.lowercase) s += ", lowercased";
  if (!o.space_symbol.empty()) s += ", spaces as '" + o.space_symbol + "'";
  return s + ", " + std::to_string(vocabulary_.size()) + " types (<unk> included)";
}

void TextCodec::check_space(const Space& space) const {
  if (!space.variable_length() || space.levels() != vocabulary_.size())
    throw DataError("a text codec of " + std::to_string(vocabulary_.size()) +
                    " types encodes into token sequences over that many levels, not " + space.describe());
}

std::string TextCodec::recognise(const std::string& head) const {
  // Any text is this codec's input: no NUL byte, and UTF-8 (a sequence cut
  // off by the end of the head is fine).
  if (head.empty() || head.find('\0') != std::string::npos) return "";
  for (size_t i = 0; i < head.size();) {
    const size_t n = utf8_length(head, i);
    if (n == 0) return head.size() - i < 4 ? "text" : "";
    i += n;
  }
  return "text";
}

void TextCodec::read(const std::string& path, const std::string&, ConfigSection& opts, Records& out) const {
  // Tokenizer keys may be repeated from the training config; they must agree
  // with the codec (a model tokenizes as it was trained).
  json given = json::object();
  for (const char* key : {"tokenizer", "lowercase", "split", "space_symbol"})
    if (opts.has(key)) given[key] = opts.get_json(key);
  opts.allow({"min_count"});
  opts.finish();
  if (!given.empty()) {
    const json mine = tokenizer_.options().to_json();
    const json theirs = TokenizerOptions::from_json(given, opts.path()).to_json();
    for (auto it = given.begin(); it != given.end(); ++it)
      if (theirs.value(it.key(), json()) != mine.value(it.key(), json()))
        throw ConfigError(opts.path() + "." + it.key() + ": " + theirs.value(it.key(), json()).dump() +
                          ", but the model's text codec has " + mine.value(it.key(), json()).dump());
  }
  if (out.part_of) {
    // This rank's byte range of the file; read_records checks the total.
    const io::TextFile f = io::read_text_part(path, "text", *out.part_of, /*allow_empty=*/true);
    encode_into(split_lines(f.text), out, f.first_line);
    out.part = true;
    return;
  }
  const std::vector<std::string> lines = read_text_lines(path);
  if (lines.empty()) throw FormatError(out.name + ": empty file, expected lines of text");
  encode_into(lines, out);
}

Records TextCodec::encode_lines(const std::vector<std::string>& lines, const Space& space, const std::string& name) const {
  Records out(space, name);
  encode_into(lines, out);
  return out;
}

void TextCodec::encode_into(const std::vector<std::string>& lines, Records& out, size_t first_line) const {
  const Space& space = out.data.space();
  out.chars.reserve(out.chars.size() + lines.size());
  std::vector<uint8_t> unknown;
  for (size_t i = 0; i < lines.size(); ++i) {
    out.record(first_line + i + 1, [&] {
      const std::string where = out.name + ":" + std::to_string(first_line + i + 1);
      unknown.clear();
      std::vector<int32_t> ids;
      try {
        ids = encode(lines[i], nullptr, &unknown);
      } catch (const DataError& e) {
        throw DataError(where + ": " + e.what());
      }
      if (int64_t(ids.size()) > space.dims())
        throw DataError(where + ": " + std::to_string(ids.size()) + " tokens exceed the maximum length " +
                        std::to_string(space.dims()) + " (raise space.shape)");
      out.push(ids, -1);
      out.unknown.insert(out.unknown.end(), unknown.begin(), unknown.end());
      out.chars.push_back(count_code_points(lines[i]) + 1);
    });
  }
}

void TextCodec::write(const Dataset& data, const std::string&, std::ostream& out) const {
  std::string text;
  std::vector<int32_t> row;
  for (size_t i = 0; i < data.size(); ++i) {
    row.resize(size_t(data.length(i)));
    data.get(i, row.data());
    text = decode(row);
    text += '\n';
    out << text;
  }
}

std::vector<std::string> read_text_lines(const std::string& path) {
  // The shared text reader: a missing file, a directory and NUL bytes are
  // errors naming the file, as for every text format.
  io::TextFile f;
  try {
    f = io::read_text(path, "text");
  } catch (const FormatError& e) {
    // An empty file is an empty corpus here; the caller decides.
    if (std::string(e.what()).find("empty file") == std::string::npos) throw;
    return {};
  }
  std::vector<std::string> lines;
  io::LineReader reader(f.text);
  std::string_view line;
  while (reader.next(&line)) lines.emplace_back(line);
  return lines;
}

namespace {

// The training file's tokens as provisional ids (first-seen order) with
// their counts: far smaller than keeping every token string (a char corpus
// has millions of one-character tokens).
struct TokenCounts {
  std::vector<std::string> types;   // provisional id -> token
  std::vector<int64_t> counts;      // provisional id -> occurrences
};

// The tokens of lines [first_line, first_line + lines.size()) of `path`,
// counted: of the whole file, or with comm of this rank's byte range, the
// counts then merged over the ranks (the same on every rank).
TokenCounts count_tokens(const std::string& path, const Tokenizer& tok, int64_t limit, Communicator* comm) {
  std::vector<std::string> lines;
  size_t first_line = 0;
  if (comm) {
    const io::TextFile f = io::read_text_part(path, "text", *comm, /*allow_empty=*/true);
    lines = split_lines(f.text);
    first_line = f.first_line;
    if (limit > 0) lines.resize(size_t(std::clamp<int64_t>(limit - int64_t(first_line), 0, int64_t(lines.size()))));
  } else {
    lines = read_text_lines(path);
    if (limit > 0 && int64_t(lines.size()) > limit) lines.resize(size_t(limit));
  }
  TokenCounts tc;
  std::unordered_map<std::string, int32_t> index;
  std::vector<std::string> toks;
  for (size_t i = 0; i < lines.size(); ++i) {
    toks.clear();
    try {
      tok.tokenize(lines[i], toks);
    } catch (const DataError& e) {
      throw DataError(input_name(path) + ":" + std::to_string(first_line + i + 1) + ": " + e.what());
    }
    for (const auto& t : toks) {
      auto it = index.find(t);
      if (it == index.end()) {
        it = index.emplace(t, int32_t(tc.types.size())).first;
        tc.types.push_back(t);
        tc.counts.push_back(0);
      }
      ++tc.counts[size_t(it->second)];
    }
  }
  return tc;
}

// Every rank's counts, summed by token (the vocabulary's order comes from
// the counts, not from this order). Collective; errors agreed.
TokenCounts merge_counts(Communicator& comm, const std::function<TokenCounts()>& count) {
  TokenCounts mine;
  const std::vector<std::string> all = comm.gather_checked([&] {
    mine = count();
    std::string s;
    for (size_t t = 0; t < mine.types.size(); ++t) {
      const uint64_t len = mine.types[t].size();
      s.append(reinterpret_cast<const char*>(&len), sizeof len);
      s += mine.types[t];
      s.append(reinterpret_cast<const char*>(&mine.counts[t]), sizeof(int64_t));
    }
    return s;
  });
  TokenCounts tc;
  std::unordered_map<std::string, size_t> index;
  for (const std::string& s : all)
    for (size_t at = 0; at < s.size();) {
      uint64_t len;
      std::memcpy(&len, s.data() + at, sizeof len);
      at += sizeof len;
      std::string tok = s.substr(at, size_t(len));
      at += size_t(len);
      int64_t c;
      std::memcpy(&c, s.data() + at, sizeof c);
      at += sizeof c;
      auto it = index.find(tok);
      if (it == index.end()) {
        it = index.emplace(tok, tc.types.size()).first;
        tc.types.push_back(std::move(tok));
        tc.counts.push_back(0);
      }
      tc.counts[it->second] += c;
    }
  return tc;
}

}  // namespace

std::shared_ptr<const Codec> TextCodec::fit(const json& data_section, const json& space_section, Space* space,
                                            Communicator* comm) {
  ConfigSection s(data_section, "data");
  const json train = s.get_json("train");
  std::string train_path;
  if (train.is_string()) train_path = train.get<std::string>();
  else if (train.is_object() && train.contains("path") && train["path"].is_string()) train_path = train["path"].get<std::string>();
  if (train_path.empty()) throw ConfigError("data.train: missing (a text file, one sequence a line)");
  if (train_path == "-") throw ConfigError("data.train: '-': the vocabulary and the training pass read the text twice; give a file");
  const int64_t min_count = s.get_int("min_count", 1, 1, int64_t(1) << 40);
  const int64_t limit = s.get_int("limit", 0, 0, int64_t(1) << 40);
  json tok_json = json::object();
  for (const char* key : {"tokenizer", "lowercase", "split", "space_symbol"})
    if (s.has(key)) tok_json[key] = s.get_json(key);
  const TokenizerOptions opts = TokenizerOptions::from_json(tok_json, "data");

  // The space section: the maximum length only; the levels come from the vocabulary.
  if (!space_section.is_object() || !space_section.contains("shape"))
    throw ConfigError("space: a text corpus needs {\"shape\": [max_length], \"variable_length\": true}");
  for (auto it = space_section.begin(); it != space_section.end(); ++it)
    if (it.key() != "shape" && it.key() != "levels" && it.key() != "variable_length")
      throw ConfigError("space: unknown key '" + it.key() + "' for a text corpus (known: shape, levels, variable_length)");
  if (space_section.contains("variable_length") && space_section["variable_length"] != true)
    throw ConfigError("space.variable_length: a text corpus is variable-length (true)");
  json shape = space_section["shape"];
  if (shape.is_array() && shape.size() == 1) shape = shape[0];
  if (!shape.is_number_integer() || shape.get<int64_t>() < 1)
    throw ConfigError("space.shape: expected [max_length] with max_length >= 1, got " + space_section["shape"].dump());
  const int64_t max_length = shape.get<int64_t>();

  Tokenizer tok(opts);
  const TokenCounts tc = comm ? merge_counts(*comm, [&] { return count_tokens(train_path, tok, limit, comm); })
                             : count_tokens(train_path, tok, limit, nullptr);
  Vocabulary vocab = Vocabulary::build(tc.types, tc.counts, min_count);
  if (vocab.size() < 2) throw DataError(train_path + ": no tokens (the vocabulary would hold only <unk>)");
  if (space_section.contains("levels") && space_section["levels"] != json(vocab.size()))
    throw ConfigError("space.levels: " + space_section["levels"].dump() + " but the vocabulary of " + train_path +
                      " has " + std::to_string(vocab.size()) + " tokens (<unk> included); drop the key");
  *space = Space::sequence(max_length, vocab.size());
  return std::make_shared<TextCodec>(std::move(tok), std::move(vocab));
}

std::shared_ptr<const Codec> TextCodec::load(const json& header, const ModelReader& r) {
  // Files of dgm 0.1 kept an n-gram's vocabulary in the model's own arrays
  // ("vocab.*", tokenizer in the "ngram" header section): read them as they are.
  const bool v01 = !header.contains("codec");
  const json& c = v01 ? header.at("ngram") : header.at("codec");
  const std::string prefix = v01 ? "vocab." : "codec.vocab.";
  const auto offsets = r.read_vector<uint64_t>(prefix + "offsets", uint64_t(1) << 31);
  const auto bytes = r.read_vector<uint8_t>(prefix + "bytes", uint64_t(1) << 32);
  if (offsets.empty() || offsets.front() != 0) throw FormatError(r.name() + ": corrupted vocabulary offsets");
  std::vector<std::string> toks;
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    if (offsets[i] > offsets[i + 1] || offsets[i + 1] > bytes.size())
      throw FormatError(r.name() + ": corrupted vocabulary offsets");
    toks.emplace_back(reinterpret_cast<const char*>(bytes.data()) + offsets[i], size_t(offsets[i + 1] - offsets[i]));
  }
  try {
    return std::make_shared<TextCodec>(Tokenizer(TokenizerOptions::from_json(c.at("tokenizer"), "codec.tokenizer")),
                                       Vocabulary(std::move(toks)));
  } catch (const Error& e) {
    throw FormatError(r.name() + ": bad text codec: " + e.what());
  }
}

}  // namespace dgm
