// text.cc — tokenizers, vocabulary and the text-corpus loader (text.h).
// The word rule is the regular expression [a-z0-9]+|[^a-z0-9\s] written out
// as a scanner over code points (no std::regex: it is slow and locale-bound).
#include "dgm/io/text.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>

#include "dgm/distributed.h"
#include "dgm/error.h"
#include "formats.h"

namespace dgm {
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

std::vector<int32_t> TextCodec::encode(const std::string& line, int64_t* oov) const {
  std::vector<std::string> toks;
  tokenizer_.tokenize(line, toks);
  std::vector<int32_t> ids(toks.size());
  int64_t unknown = 0;
  for (size_t i = 0; i < toks.size(); ++i) {
    if (toks[i] == Vocabulary::kBosToken || toks[i] == Vocabulary::kEosToken)
      throw DataError("token " + std::to_string(i + 1) + " is the reserved marker '" + toks[i] + "'");
    ids[i] = vocabulary_.id(toks[i]);
    unknown += ids[i] == Vocabulary::kUnk && toks[i] != Vocabulary::kUnkToken;
  }
  if (oov) *oov = unknown;
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

std::vector<std::string> read_text_lines(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw IoError(path + ": cannot open text file");
    in = &file;
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(*in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (in->bad()) throw IoError(path + ": read error");
  return lines;
}

namespace {

// A file's lines as provisional token ids (first-seen order) with their
// counts: far smaller than keeping every token string (a char corpus has
// millions of one-character tokens).
struct TokenizedFile {
  std::vector<std::string> types;   // provisional id -> token
  std::vector<int64_t> counts;      // provisional id -> occurrences
  std::vector<int32_t> ids;         // all tokens, line after line
  std::vector<uint64_t> offsets{0};  // (lines + 1)
};

// Lines [first_line, first_line + lines.size()) of `path`, tokenized.
TokenizedFile tokenize_lines(const std::vector<std::string>& lines, size_t first_line, const std::string& path,
                             const Tokenizer& tok, TextSplitInfo* info) {
  TokenizedFile tf;
  std::unordered_map<std::string, int32_t> index;
  info->path = path;
  info->lines = int64_t(lines.size());
  std::vector<std::string> toks;
  for (size_t i = 0; i < lines.size(); ++i) {
    toks.clear();
    try {
      tok.tokenize(lines[i], toks);
    } catch (const DataError& e) {
      throw DataError(path + ":" + std::to_string(first_line + i + 1) + ": " + e.what());
    }
    for (size_t k = 0; k < toks.size(); ++k) {
      if (toks[k] == Vocabulary::kBosToken || toks[k] == Vocabulary::kEosToken)
        throw DataError(path + ":" + std::to_string(first_line + i + 1) + ": token " + std::to_string(k + 1) +
                        " is the reserved marker '" + toks[k] + "'");
      auto it = index.find(toks[k]);
      if (it == index.end()) {
        it = index.emplace(toks[k], int32_t(tf.types.size())).first;
        tf.types.push_back(toks[k]);
        tf.counts.push_back(0);
      }
      ++tf.counts[size_t(it->second)];
      tf.ids.push_back(it->second);
    }
    tf.offsets.push_back(tf.ids.size());
    info->tokens += int64_t(toks.size());
    info->chars += count_code_points(lines[i]) + 1;
  }
  return tf;
}

TokenizedFile tokenize_file(const std::string& path, const Tokenizer& tok, int64_t limit, TextSplitInfo* info) {
  std::vector<std::string> lines = read_text_lines(path);
  if (limit > 0 && int64_t(lines.size()) > limit) lines.resize(size_t(limit));
  return tokenize_lines(lines, 0, path, tok, info);
}

Dataset encode_lines(const TokenizedFile& tf, const Vocabulary& vocab, const Space& space, TextSplitInfo* info,
                     size_t first_line = 0) {
  std::vector<int32_t> map(tf.types.size());
  std::vector<uint8_t> unknown(tf.types.size());
  for (size_t p = 0; p < tf.types.size(); ++p) {
    map[p] = vocab.id(tf.types[p]);
    unknown[p] = map[p] == Vocabulary::kUnk && tf.types[p] != Vocabulary::kUnkToken;
  }
  Dataset d(space);
  const size_t n = tf.offsets.size() - 1;
  d.reserve(n, tf.ids.size());
  std::vector<int32_t> row;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t b = tf.offsets[i], e = tf.offsets[i + 1];
    if (int64_t(e - b) > space.dims())
      throw DataError(info->path + ":" + std::to_string(first_line + i + 1) + ": " + std::to_string(e - b) +
                      " tokens exceed the maximum length " + std::to_string(space.dims()) + " (raise space.shape)");
    row.resize(size_t(e - b));
    for (uint64_t k = b; k < e; ++k) {
      row[size_t(k - b)] = map[size_t(tf.ids[k])];
      info->oov += unknown[size_t(tf.ids[k])];
    }
    d.push_back(row);
  }
  return d;
}

}  // namespace

namespace {

struct TextPlan {
  std::string train_path, valid_path, test_path;
  int64_t min_count = 1, limit = 0, max_length = 0;
  TokenizerOptions opts;
  json space_section;
};

TextPlan plan_text(const json& data_section, const json& space_section) {
  TextPlan p;
  p.space_section = space_section;
  ConfigSection s(data_section, "data");
  const std::string format = s.get_string("format", "text");
  if (format != "text") throw ConfigError("data.format: load_text_data reads \"text\", got \"" + format + "\"");
  p.train_path = s.get_string("train", "");
  if (p.train_path.empty()) throw ConfigError("data.train: missing (a text file, one sequence a line)");
  p.valid_path = s.get_string("validation", "");
  p.test_path = s.get_string("test", "");
  p.min_count = s.get_int("min_count", 1, 1, int64_t(1) << 40);
  p.limit = s.get_int("limit", 0, 0, int64_t(1) << 40);
  json tok_json = json::object();
  for (const char* key : {"tokenizer", "lowercase", "split", "space_symbol"})
    if (s.has(key)) tok_json[key] = s.get_json(key);
  p.opts = TokenizerOptions::from_json(tok_json, "data");
  s.finish();

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
  p.max_length = shape.get<int64_t>();
  return p;
}

// The space of a vocabulary, checked against the config's space section.
Space text_space(const TextPlan& p, const Vocabulary& vocab) {
  if (vocab.size() < 2) throw DataError(p.train_path + ": no tokens (the vocabulary would hold only <unk>)");
  if (p.space_section.contains("levels") && p.space_section["levels"] != json(vocab.size()))
    throw ConfigError("space.levels: " + p.space_section["levels"].dump() + " but the vocabulary of " + p.train_path +
                      " has " + std::to_string(vocab.size()) + " tokens (<unk> included); drop the key");
  return Space::sequence(p.max_length, vocab.size());
}

template <typename T>
void put_raw(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T take_raw(const std::string& s, size_t& at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof v);
  at += sizeof v;
  return v;
}

// Distributed: every rank tokenizes the lines of its byte range of each file;
// the vocabulary comes from the merged counts (so it is the one-process
// vocabulary); the encoded lines then move to their block shards.
TextData load_text_sharded(const TextPlan& p, Communicator& comm) {
  struct Part {
    TokenizedFile tokens;
    size_t first_line = 0;
  };
  auto read_part = [&](const std::string& path, int64_t limit, TextSplitInfo* info) {
    Part part;
    const io::TextFile f = io::read_text_part(path, "text", comm, /*allow_empty=*/true);
    part.first_line = f.first_line;
    std::vector<std::string> lines;
    for (size_t at = 0; at < f.text.size();) {
      size_t nl = f.text.find('\n', at);
      if (nl == std::string::npos) nl = f.text.size();
      std::string line = f.text.substr(at, nl - at);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (limit > 0 && int64_t(f.first_line + lines.size()) >= limit) break;
      lines.push_back(std::move(line));
      at = nl + 1;
    }
    comm.gather_checked([&] {
      part.tokens = tokenize_lines(lines, f.first_line, path, Tokenizer(p.opts), info);
      return std::string();
    });
    info->path = path;
    return part;
  };
  // Totals over the ranks (and the samples before this rank's).
  auto totals = [&](TextSplitInfo* info, uint64_t* before) {
    int64_t v[4] = {info->lines, info->tokens, info->oov, info->chars};
    const ShardPlace place = shard_place(comm, uint64_t(info->lines));
    comm.sum(v, 4);
    info->lines = v[0], info->tokens = v[1], info->oov = v[2], info->chars = v[3];
    *before = place.offset;
  };
  auto encode = [&](const Part& part, const Vocabulary& vocab, const Space& space, TextSplitInfo* info) {
    Dataset d;
    comm.gather_checked([&] {
      d = encode_lines(part.tokens, vocab, space, info, part.first_line);
      return std::string();
    });
    uint64_t first = 0;
    totals(info, &first);
    std::vector<int> dest(d.size());
    std::vector<uint64_t> key(d.size());
    for (size_t i = 0; i < d.size(); ++i) {
      key[i] = first + i;
      dest[i] = shard_owner(uint64_t(info->lines), key[i], comm.size());
    }
    return exchange_rows(comm, d, dest, key).rows;
  };

  TextData td;
  Part train = read_part(p.train_path, p.limit, &td.train_info);
  // The merged vocabulary: every rank's (token, count) pairs, summed.
  std::string mine;
  for (size_t t = 0; t < train.tokens.types.size(); ++t) {
    put_raw<uint64_t>(mine, train.tokens.types[t].size());
    mine += train.tokens.types[t];
    put_raw<int64_t>(mine, train.tokens.counts[t]);
  }
  std::unordered_map<std::string, int64_t> merged;
  for (const std::string& s : comm.all_gather(mine))
    for (size_t at = 0; at < s.size();) {
      const uint64_t len = take_raw<uint64_t>(s, at);
      std::string tok = s.substr(at, size_t(len));
      at += size_t(len);
      merged[tok] += take_raw<int64_t>(s, at);
    }
  std::vector<std::string> types;
  std::vector<int64_t> counts;
  for (auto& [tok, c] : merged) {
    types.push_back(tok);
    counts.push_back(c);
  }
  Vocabulary vocab = Vocabulary::build(types, counts, p.min_count);
  td.space = text_space(p, vocab);
  td.train = encode(train, vocab, td.space, &td.train_info);
  train = Part();
  td.validation = Dataset(td.space);
  td.test = Dataset(td.space);
  if (!p.valid_path.empty()) {
    Part v = read_part(p.valid_path, 0, &td.validation_info);
    td.validation = encode(v, vocab, td.space, &td.validation_info);
  }
  if (!p.test_path.empty()) {
    Part t = read_part(p.test_path, 0, &td.test_info);
    td.test = encode(t, vocab, td.space, &td.test_info);
  }
  td.codec = TextCodec(Tokenizer(p.opts), std::move(vocab));
  return td;
}

}  // namespace

TextData load_text_data(const json& data_section, const json& space_section, Communicator& comm) {
  const TextPlan p = plan_text(data_section, space_section);
  if (comm.size() > 1) return load_text_sharded(p, comm);
  const std::string& train_path = p.train_path;
  const std::string& valid_path = p.valid_path;
  const std::string& test_path = p.test_path;
  TextData td;
  Tokenizer tok(p.opts);
  TokenizedFile train_tokens = tokenize_file(train_path, tok, p.limit, &td.train_info);
  Vocabulary vocab = Vocabulary::build(train_tokens.types, train_tokens.counts, p.min_count);
  td.space = text_space(p, vocab);
  td.train = encode_lines(train_tokens, vocab, td.space, &td.train_info);
  train_tokens = TokenizedFile();
  if (!valid_path.empty()) {
    auto v = tokenize_file(valid_path, tok, 0, &td.validation_info);
    td.validation = encode_lines(v, vocab, td.space, &td.validation_info);
  } else {
    td.validation = Dataset(td.space);
  }
  if (!test_path.empty()) {
    auto t = tokenize_file(test_path, tok, 0, &td.test_info);
    td.test = encode_lines(t, vocab, td.space, &td.test_info);
  } else {
    td.test = Dataset(td.space);
  }
  td.codec = TextCodec(std::move(tok), std::move(vocab));
  return td;
}

TextData load_text_data(const json& data_section, const json& space_section) {
  LocalCommunicator one;
  return load_text_data(data_section, space_section, one);
}

}  // namespace dgm
