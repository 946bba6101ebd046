// text_test.cc — tokenizers (the word regex rule, whitespace split, UTF-8
// code points, space symbol), the vocabulary, and the text-corpus loader.
#include "dgm/io/text.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "dgm/error.h"
#include "dgm/io/read.h"

namespace dgm {
namespace {

using Toks = std::vector<std::string>;

Tokenizer make(const json& j) { return Tokenizer(TokenizerOptions::from_json(j)); }

std::string write_temp(const std::string& name, const std::string& text) {
  std::filesystem::create_directories(DGM_TEST_TMP);
  const std::string path = std::string(DGM_TEST_TMP) + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(Tokenizer, WordRegexRule) {
  const Tokenizer t = make({{"tokenizer", "word"}});
  // [a-z0-9]+|[^a-z0-9\s] on the lowercased line.
  EXPECT_EQ(t.tokenize("In the beginning God created the heaven and the earth."),
            (Toks{"in", "the", "beginning", "god", "created", "the", "heaven", "and", "the", "earth", "."}));
  EXPECT_EQ(t.tokenize("Isn't it 42nd--yes!"), (Toks{"isn", "'", "t", "it", "42nd", "-", "-", "yes", "!"}));
  EXPECT_EQ(t.tokenize("  \t "), Toks{});
  // A non-ASCII code point is one token of its own (lowercasing is ASCII-only).
  EXPECT_EQ(t.tokenize("Café über"), (Toks{"caf", "é", "ü", "ber"}));
  EXPECT_EQ(t.tokenize("Café"), (Toks{"caf", "é"}));
  EXPECT_EQ(t.tokenize("ÜBER"), (Toks{"Ü", "ber"}));
  EXPECT_EQ(t.detokenize({"a", "b", "."}), "a b .");
}

TEST(Tokenizer, WordWithoutLowercase) {
  const Tokenizer t = make({{"tokenizer", "word"}, {"lowercase", false}});
  EXPECT_EQ(t.tokenize("God said, Let"), (Toks{"God", "said", ",", "Let"}));
}

TEST(Tokenizer, WhitespaceSplit) {
  const Tokenizer t = make({{"tokenizer", "word"}, {"split", "whitespace"}});
  EXPECT_EQ(t.tokenize("in the  beginning ,\tgod ."), (Toks{"in", "the", "beginning", ",", "god", "."}));
  EXPECT_EQ(t.tokenize("Don't"), (Toks{"don't"}));
}

TEST(Tokenizer, CharCodePoints) {
  const Tokenizer t = make({{"tokenizer", "char"}});
  // 2-, 3- and 4-byte UTF-8 sequences are single tokens.
  EXPECT_EQ(t.tokenize("aé€😀"), (Toks{"a", "é", "€", "😀"}));
  EXPECT_EQ(t.tokenize("A b"), (Toks{"A", " ", "b"}));  // no lowercasing by default
  EXPECT_EQ(t.detokenize({"a", "é", " ", "b"}), "aé b");
  EXPECT_THROW(t.tokenize(std::string("a\xC3")), DataError);        // truncated sequence
  EXPECT_THROW(t.tokenize(std::string("\xC0\xAF")), DataError);     // overlong form
  EXPECT_THROW(t.tokenize(std::string("\xED\xA0\x80")), DataError); // surrogate
  EXPECT_EQ(count_code_points("aé€😀"), 4);
}

TEST(Tokenizer, CharSpaceSymbol) {
  const Tokenizer t = make({{"tokenizer", "char"}, {"space_symbol", "_"}, {"lowercase", true}});
  EXPECT_EQ(t.tokenize("In the"), (Toks{"i", "n", "_", "t", "h", "e"}));
  EXPECT_EQ(t.detokenize({"i", "n", "_", "t"}), "in t");
  EXPECT_THROW(make({{"tokenizer", "char"}, {"space_symbol", "ab"}}), ConfigError);
  EXPECT_THROW(make({{"tokenizer", "word"}, {"space_symbol", "_"}}), ConfigError);  // char only
  EXPECT_THROW(make({{"tokenizer", "bpe"}}), ConfigError);
}

TEST(Vocabulary, BuildOrderAndMinCount) {
  const Vocabulary v = Vocabulary::build({{"b", "a", "c", "a"}, {"b", "a", "d"}}, 2);
  // <unk> first, then by count (a: 3, b: 2); c and d (1 each) fall under min_count.
  EXPECT_EQ(v.tokens(), (Toks{"<unk>", "a", "b"}));
  EXPECT_EQ(v.id("a"), 1);
  EXPECT_EQ(v.id("c"), Vocabulary::kUnk);
  EXPECT_EQ(v.id("<unk>"), Vocabulary::kUnk);
  const Vocabulary all = Vocabulary::build({{"y", "x"}}, 1);
  EXPECT_EQ(all.tokens(), (Toks{"<unk>", "x", "y"}));  // ties by byte order
  EXPECT_THROW(Vocabulary(Toks{"a"}), FormatError);
  EXPECT_THROW(Vocabulary(Toks{"<unk>", "a", "a"}), FormatError);
}

TEST(TextCodec, EncodeDecodeAndOov) {
  const TextCodec c(make({{"tokenizer", "word"}}), Vocabulary(Toks{"<unk>", "the", "earth", "."}));
  int64_t oov = -1;
  EXPECT_EQ(c.encode("The EARTH was.", &oov), (std::vector<int32_t>{1, 2, 0, 3}));
  EXPECT_EQ(oov, 1);
  EXPECT_EQ(c.decode({1, 2, 0, 3}), "the earth <unk> .");
  EXPECT_THROW(c.decode({4}), DataError);
  const TextCodec w(make({{"tokenizer", "word"}, {"split", "whitespace"}}), Vocabulary(Toks{"<unk>", "a"}));
  EXPECT_THROW(w.encode("a </s> a"), DataError);
}

// A text corpus read as `dgm train` reads it.
TrainingData load_text(json data, const json& space) {
  data["format"] = "text";
  return load_training_data(data, space, 1);
}

TEST(LoadTextData, SplitsVocabularyAndCounts) {
  const std::string train = write_temp("text_train.txt", "the cat sat\nthe dog\n\nthe cat\n");
  const std::string test = write_temp("text_test.txt", "the bird sat\r\nthe cat");
  const TrainingData td = load_text({{"train", train}, {"test", test}, {"tokenizer", "word"}},
                                    {{"shape", {8}}, {"variable_length", true}});
  const auto& codec = *dynamic_cast<const TextCodec*>(td.codec.get());
  // Vocabulary: <unk>, the (3), cat (2), dog, sat.
  EXPECT_EQ(codec.vocabulary().tokens(), (Toks{"<unk>", "the", "cat", "dog", "sat"}));
  EXPECT_EQ(td.space, Space::sequence(8, 5));
  ASSERT_EQ(td.train.size(), 4u);
  EXPECT_EQ(td.train.row(0), (std::vector<int32_t>{1, 2, 4}));
  EXPECT_EQ(td.train.length(2), 0);  // an empty line is an empty sequence
  ASSERT_EQ(td.test.size(), 2u);
  EXPECT_EQ(td.test.row(0), (std::vector<int32_t>{1, 0, 4}));
  EXPECT_TRUE(td.validation.empty());
  // The records of a split: OOVs flagged where they stand, characters counted.
  const Records r = read_split({{"train", train}, {"test", test}, {"format", "text"}}, "test", td.space, &codec);
  EXPECT_EQ(r.unknown, (std::vector<uint8_t>{0, 1, 0, 0, 0}));
  EXPECT_EQ(r.chars, (std::vector<int64_t>{12 + 1, 7 + 1}));
  EXPECT_EQ(r.source(1), test + ":2");
  // The text codec writes what it reads.
  std::ostringstream out;
  write_dataset(td.test, out, "text", &codec);
  EXPECT_EQ(out.str(), "the <unk> sat\nthe cat\n");
  // Tokenizer keys that disagree with the codec are refused, those that agree pass.
  EXPECT_THROW(read_records({{"path", test}, {"format", "text"}, {"tokenizer", "char"}}, td.space, &codec), ConfigError);
  EXPECT_NO_THROW(read_records({{"path", test}, {"format", "text"}, {"tokenizer", "word"}}, td.space, &codec));
}

TEST(LoadTextData, Errors) {
  const std::string train = write_temp("text_train2.txt", "a b c d\n");
  const json space = {{"shape", {3}}, {"variable_length", true}};
  try {
    load_text({{"train", train}}, space);
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("text_train2.txt:1: 4 tokens exceed the maximum length 3"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(load_text({{"train", train}, {"tokeniser", "word"}}, {{"shape", {8}}}), ConfigError);
  EXPECT_THROW(load_text({{"train", train}}, {{"shape", {8}}, {"levels", 3}}), ConfigError);  // vocabulary is 5
  EXPECT_NO_THROW(load_text({{"train", train}}, {{"shape", {8}}, {"levels", 5}}));
  EXPECT_THROW(load_text({{"train", train + ".missing"}}, {{"shape", {8}}}), IoError);
  const std::string bad = write_temp("text_bad.txt", "ok\nnot \xC3 ok\n");
  try {
    load_text({{"train", bad}, {"tokenizer", "char"}}, {{"shape", {8}}});
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("text_bad.txt:2: invalid UTF-8"), std::string::npos) << e.what();
  }
  // Text with a NUL byte is not text, as for every text format.
  const std::string nul = write_temp("text_nul.txt", std::string("ok\nnul \0 here\n", 14));
  EXPECT_THROW(load_text({{"train", nul}}, {{"shape", {8}}}), FormatError);
}

}  // namespace
}  // namespace dgm
