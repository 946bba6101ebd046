// text_formats_test.cc — grid, lines, csv and jsonl: every writer's output
// reads back identically (values and labels, unknown labels included), stdin,
// and each malformed input gives the right exception naming file and line.
#include <iostream>
#include <sstream>

#include "dgm/io/read.h"
#include "io/io_test_util.h"

namespace dgm {
namespace {

using test::expect_error;
using test::expect_same;
using test::random_dataset;
using test::tmp_dir;
using test::write_file;

Dataset round_trip(const Dataset& d, const std::string& path, const std::string& format) {
  write_dataset(d, path, format);
  return read_dataset(json{{"path", path}, {"format", format}}, d.space());
}

Dataset read(const std::string& path, const std::string& format, const Space& space, json extra = json::object()) {
  extra["path"] = path;
  extra["format"] = format;
  return read_dataset(extra, space);
}

const Space kDigits = Space::tensor({5, 5}, 2);

TEST(TextFormats, GridRoundTrip) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({5, 5}, 2), Space::tensor({5, 5}, 2, 10), Space::tensor({7}, 10),
                         Space::tensor({1, 3, 4}, 3, 4)}) {
    const Dataset d = random_dataset(s, 40, 7, 5);
    expect_same(d, round_trip(d, dir + "/x.grid", "grid"));
  }
}

TEST(TextFormats, GridReadsHashDotAndDigitsAndSeveralBlankLines) {
  const std::string dir = tmp_dir();
  const std::string p = write_file(dir + "/g.txt", "#.\n.#\n\n\n\n01\r\n10\n  \n");
  const Dataset d = read(p, "grid", Space::tensor({2, 2}, 2));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.row(0), (std::vector<int32_t>{1, 0, 0, 1}));
  EXPECT_EQ(d.row(1), (std::vector<int32_t>{0, 1, 1, 0}));
  const Dataset l = read(write_file(dir + "/l.txt", "label 3\n#.\n.#\n"), "grid", Space::tensor({2, 2}, 2, 4));
  EXPECT_EQ(l.label(0), 3);
}

TEST(TextFormats, GridErrorsNameFileAndLine) {
  const std::string dir = tmp_dir();
  const std::string w = write_file(dir + "/w.txt", "#####\n#####\n####\n#####\n#####\n");
  expect_error<FormatError>([&] { read(w, "grid", kDigits); }, w + ":3: row has 4 characters, expected 5");
  const std::string r = write_file(dir + "/r.txt", "#####\n#####\n\n");
  expect_error<FormatError>([&] { read(r, "grid", kDigits); }, r + ":1: sample has 2 rows, expected 5");
  const std::string m = write_file(dir + "/m.txt", "#####\n#####\n#####\n#####\n#####\n#####\n");
  expect_error<FormatError>([&] { read(m, "grid", kDigits); }, m + ":6:", "more than 5 rows");
  const std::string c = write_file(dir + "/c.txt", "#####\n##x##\n#####\n#####\n#####\n");
  expect_error<FormatError>([&] { read(c, "grid", kDigits); }, c + ":2:3: bad character 'x'");
  const std::string v = write_file(dir + "/v.txt", "00000\n00300\n00000\n00000\n00000\n");
  expect_error<DataError>([&] { read(v, "grid", kDigits); }, v + ":2:3: value 3 outside {0..1}");
  const std::string l = write_file(dir + "/l.txt", "label 2\n#####\n#####\n#####\n#####\n#####\n");
  expect_error<DataError>([&] { read(l, "grid", kDigits); }, l + ":1:", "no labels");
  const std::string e = write_file(dir + "/e.txt", "");
  expect_error<FormatError>([&] { read(e, "grid", kDigits); }, e + ": empty file");
  const std::string b = write_file(dir + "/b.txt", std::string("#####\n\x1f\x8b\x08\0\x01garbage", 16));
  expect_error<FormatError>([&] { read(b, "grid", kDigits); }, b + ":2: binary data");
  expect_error<IoError>([&] { read(dir, "grid", kDigits); }, dir + ": is a directory");
  expect_error<IoError>([&] { read(dir + "/missing.txt", "grid", kDigits); }, dir + "/missing.txt: cannot open");
  expect_error<ConfigError>([&] { read(w, "grid", Space::tensor({2, 2}, 16)); }, w + ":", "levels <= 10");
}

TEST(TextFormats, LinesRoundTrip) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({5, 5}, 2, 10), Space::tensor({5, 5}, 2), Space::tensor({6}, 1000, 3),
                         Space::tensor({3}, 70000), Space::sequence(12, 7), Space::sequence(5, 300)}) {
    const Dataset d = random_dataset(s, 50, 11, 4);
    expect_same(d, round_trip(d, dir + "/x.txt", "lines"));
  }
}

TEST(TextFormats, LinesShapeAndEmptySequences) {
  const std::string dir = tmp_dir();
  std::ostringstream out;
  Dataset d(Space::tensor({4}, 2, 5));
  d.push_back({0, 1, 1, 0}, 3);
  d.push_back({1, 1, 1, 1}, -1);
  write_dataset(d, out, "lines");
  EXPECT_EQ(out.str(), "0110\t3\n1111\n");
  Dataset s(Space::sequence(4, 12));
  s.push_back(std::vector<int32_t>{});
  s.push_back({11, 0});
  std::ostringstream so;
  write_dataset(s, so, "lines");
  EXPECT_EQ(so.str(), "\n11 0\n");
  expect_same(s, read(write_file(dir + "/s.txt", so.str()), "lines", s.space()));
  // Trailing blank lines end a fixed-shape file.
  EXPECT_EQ(read(write_file(dir + "/t.txt", "0110\n1111\n\n\n"), "lines", Space::tensor({4}, 2)).size(), 2u);
}

TEST(TextFormats, LinesErrors) {
  const std::string dir = tmp_dir();
  const Space s4 = Space::tensor({4}, 2);
  const std::string w = write_file(dir + "/w.txt", "0110\n011\n");
  expect_error<FormatError>([&] { read(w, "lines", s4); }, w + ":2: 3 values, expected 4");
  const std::string c = write_file(dir + "/c.txt", "0110\n0 1 1 0\n");
  expect_error<FormatError>([&] { read(c, "lines", s4); }, c + ":2:2: bad character ' '", "without spaces");
  const std::string n = write_file(dir + "/n.txt", "1 -5 3\n");
  expect_error<DataError>([&] { read(n, "lines", Space::tensor({3}, 100)); }, n + ":1: value 2", "negative");
  const std::string h = write_file(dir + "/h.txt", "1 99999999999999999999 3\n");
  expect_error<DataError>([&] { read(h, "lines", Space::tensor({3}, 100)); }, h + ":1: value 2", "too large");
  const std::string o = write_file(dir + "/o.txt", "1 100 3\n");
  expect_error<DataError>([&] { read(o, "lines", Space::tensor({3}, 100)); }, o + ":1: ", "outside {0..99}");
  const std::string x = write_file(dir + "/x.txt", "1 2x 3\n");
  expect_error<FormatError>([&] { read(x, "lines", Space::tensor({3}, 100)); }, x + ":1: value 2", "not an integer");
  const std::string l = write_file(dir + "/l.txt", "0110\t7\n");
  expect_error<DataError>([&] { read(l, "lines", Space::tensor({4}, 2, 5)); }, l + ":1: ", "label 7 outside");
  expect_error<DataError>([&] { read(l, "lines", s4); }, l + ":1: ", "no labels");
  const std::string e = write_file(dir + "/e.txt", "\n\n");
  expect_error<FormatError>([&] { read(e, "lines", s4); }, e + ": no samples");
  const std::string m = write_file(dir + "/m.txt", "0110\n\n0110\n");
  expect_error<FormatError>([&] { read(m, "lines", s4); }, m + ":2: 0 values, expected 4");
}

TEST(TextFormats, StdinReadsLines) {
  std::istringstream in("0110\n1001\n");
  auto* old = std::cin.rdbuf(in.rdbuf());
  Dataset d;
  try {
    d = read_dataset(json{{"path", "-"}}, Space::tensor({4}, 2));
  } catch (...) {
    std::cin.rdbuf(old);
    throw;
  }
  std::cin.rdbuf(old);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.row(1), (std::vector<int32_t>{1, 0, 0, 1}));
}

TEST(TextFormats, CsvRoundTrip) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({4}, 300, 6), Space::tensor({2, 3}, 2), Space::tensor({3}, 70000, 2),
                         Space::sequence(6, 9)}) {
    Dataset d = random_dataset(s, 30, 13, 3);
    if (s.variable_length()) {  // csv cannot hold the empty sequence
      Dataset nonempty(s);
      for (size_t i = 0; i < d.size(); ++i)
        if (d.length(i) > 0) nonempty.push_back(d.row(i));
      d = nonempty;
    }
    expect_same(d, round_trip(d, dir + "/x.csv", "csv"));
  }
}

TEST(TextFormats, CsvLabelColumnAndErrors) {
  const std::string dir = tmp_dir();
  const Space s = Space::tensor({3}, 10, 4);
  const std::string f = write_file(dir + "/f.csv", "2, 1,0,9\n\n3,4,5,6\n");
  const Dataset d = read(f, "csv", s, {{"label_column", "first"}});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.label(0), 2);
  EXPECT_EQ(d.row(0), (std::vector<int32_t>{1, 0, 9}));
  expect_error<FormatError>([&] { read(f, "csv", s, {{"label_column", "none"}}); }, f + ":1: 4 values, expected 3");
  expect_error<ConfigError>([&] { read(f, "csv", s, {{"label_column", "middle"}}); }, "data.label_column");
  expect_error<ConfigError>([&] { read(f, "csv", Space::tensor({4}, 10), {{"label_column", "last"}}); },
                            "data.label_column", "no labels");
  const std::string x = write_file(dir + "/x.csv", "1,2,3,0\n1,two,3,0\n");
  expect_error<FormatError>([&] { read(x, "csv", s); }, x + ":2: field 2", "'two' is not an integer");
  const std::string n = write_file(dir + "/n.csv", "1,-2,3,0\n");
  expect_error<DataError>([&] { read(n, "csv", s); }, n + ":1: field 2", "negative");
  expect_error<ConfigError>([&] { read(n, "csv", s, {{"thresold", 3}}); }, "data: unknown key 'thresold'");
}

TEST(TextFormats, JsonlRoundTripAndNested) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({2, 3}, 5, 3), Space::tensor({4}, 70000), Space::sequence(7, 4)}) {
    const Dataset d = random_dataset(s, 30, 17, 3);
    expect_same(d, round_trip(d, dir + "/x.jsonl", "jsonl"));
  }
  const std::string p = write_file(dir + "/n.jsonl", "{\"x\": [[0,1,2],[3,4,0]], \"label\": 2}\n\n{\"x\":[1,1,1,1,1,1]}\n");
  const Dataset d = read(p, "jsonl", Space::tensor({2, 3}, 5, 3));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d.row(0), (std::vector<int32_t>{0, 1, 2, 3, 4, 0}));
  EXPECT_EQ(d.label(0), 2);
  EXPECT_EQ(d.label(1), -1);
}

TEST(TextFormats, JsonlErrors) {
  const std::string dir = tmp_dir();
  const Space s = Space::tensor({2, 2}, 3, 2);
  const std::string j = write_file(dir + "/j.jsonl", "{\"x\":[0,1,2,0]}\n{\"x\":[0,1,2,0}\n");
  expect_error<FormatError>([&] { read(j, "jsonl", s); }, j + ":2: invalid JSON");
  const std::string m = write_file(dir + "/m.jsonl", "{\"y\":[0,1,2,0]}\n");
  expect_error<FormatError>([&] { read(m, "jsonl", s); }, m + ":1: unknown key 'y'");
  const std::string n = write_file(dir + "/n.jsonl", "{\"x\":[[0,1],[2]]}\n");
  expect_error<FormatError>([&] { read(n, "jsonl", s); }, n + ":1: \"x\" axis 1 has 1 entries, expected 2");
  const std::string f = write_file(dir + "/f.jsonl", "{\"x\":[0,1.5,2,0]}\n");
  expect_error<FormatError>([&] { read(f, "jsonl", s); }, f + ":1: expected an integer, got 1.5");
  const std::string l = write_file(dir + "/l.jsonl", "{\"x\":[0,1,2,0],\"label\":5}\n");
  expect_error<DataError>([&] { read(l, "jsonl", s); }, l + ":1: ", "label 5 outside");
  const std::string h = write_file(dir + "/h.jsonl", "{\"x\":[0,1,2,1e30]}\n");
  expect_error<FormatError>([&] { read(h, "jsonl", s); }, h + ":1: expected an integer");
  const std::string b = write_file(dir + "/b.jsonl", "{\"x\":[0,1,2,99999999999]}\n");
  expect_error<DataError>([&] { read(b, "jsonl", s); }, b + ":1: value 99999999999 is too large");
}

TEST(TextFormats, InferFormat) {
  EXPECT_EQ(infer_format("a/b.PNG"), "image");
  EXPECT_EQ(infer_format("x.jpeg"), "image");
  EXPECT_EQ(infer_format("train-images-idx3-ubyte.gz"), "idx");
  EXPECT_EQ(infer_format("t10k-labels-idx1-ubyte"), "idx");
  EXPECT_EQ(infer_format("x.idx.gz"), "idx");
  EXPECT_EQ(infer_format("data_batch_1.bin"), "cifar");
  EXPECT_EQ(infer_format("x.csv"), "csv");
  EXPECT_EQ(infer_format("x.jsonl"), "jsonl");
  EXPECT_EQ(infer_format("x.grid"), "grid");
  EXPECT_EQ(infer_format("x.txt"), "lines");
  EXPECT_EQ(infer_format("-"), "lines");
  EXPECT_EQ(infer_format(tmp_dir()), "image");
  expect_error<ConfigError>([] { read_dataset(json{{"path", "x"}, {"format", "gird"}}, kDigits); },
                            "data.format: unknown format 'gird'");
}

}  // namespace
}  // namespace dgm
