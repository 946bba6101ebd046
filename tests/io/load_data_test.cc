// load_data_test.cc — the config's "data" section: validation by fraction
// (seeded shuffle), by count (the last N) or by file, limits, label files,
// pass-through source keys and unknown keys; and the shipped 5x5 digits, whose
// per-file and per-digit counts must match data/digits/README.md.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "dgm/config.h"
#include "dgm/io/read.h"
#include "io/io_test_util.h"

namespace dgm {
namespace {

using test::expect_error;
using test::expect_same;
using test::random_dataset;
using test::tmp_dir;

const std::string kSource = DGM_SOURCE_DIR;
const Space kDigits = Space::tensor({5, 5}, 2);

TEST(LoadData, DigitsConfig) {
  json cfg = load_config_file(kSource + "/configs/digits.json");
  const Space space = Space::from_json(cfg["space"]);
  json data = cfg["data"];
  // Its paths are relative to the config's folder.
  resolve_data_paths(data, kSource + "/configs");
  EXPECT_EQ(data["train"], kSource + "/data/digits/skewed.txt");
  const DataSplits s = load_data(data, space, 1);
  EXPECT_EQ(s.train.size(), 270u);
  EXPECT_EQ(s.validation.size(), 30u);
  EXPECT_EQ(s.test.size(), 100u);
  // The same seed gives the same split; another seed another one.
  const DataSplits again = load_data(data, space, 1);
  expect_same(s.validation, again.validation);
  const DataSplits other = load_data(data, space, 2);
  EXPECT_NE(s.validation.fingerprint(), other.validation.fingerprint());
  // Together, train and validation are the file's samples.
  Dataset all = s.train;
  all.append(s.validation);
  Dataset file = read_dataset(json{{"path", data["train"]}, {"format", "grid"}}, space);
  std::multiset<std::vector<int32_t>> a, b;
  for (size_t i = 0; i < all.size(); ++i) a.insert(all.row(i));
  for (size_t i = 0; i < file.size(); ++i) b.insert(file.row(i));
  EXPECT_EQ(a, b);
}

TEST(LoadData, CountLimitAndValidationFile) {
  const std::string dir = tmp_dir();
  const Dataset d = random_dataset(kDigits, 50, 51);
  write_dataset(d, dir + "/t.grid", "grid");
  write_dataset(d.slice(0, 7), dir + "/v.grid", "grid");
  // "validation_split": "tail" keeps the file's last rows (a fixed split).
  DataSplits s = load_data(
      json{{"train", dir + "/t.grid"}, {"validation_count", 10}, {"validation_split", "tail"}, {"limit", 15}}, kDigits, 3);
  expect_same(s.validation, d.slice(40, 50));
  expect_same(s.train, d.slice(0, 15));
  EXPECT_TRUE(s.test.empty());
  // By default the split is drawn at random under the seed: not the tail, the
  // same for the same seed, both parts in the file's order and together the file.
  s = load_data(json{{"train", dir + "/t.grid"}, {"validation_count", 10}}, kDigits, 3);
  ASSERT_EQ(s.validation.size(), 10u);
  ASSERT_EQ(s.train.size(), 40u);
  EXPECT_NE(s.validation.fingerprint(), d.slice(40, 50).fingerprint());
  EXPECT_EQ(s.validation.fingerprint(), load_data(json{{"train", dir + "/t.grid"}, {"validation_count", 10}}, kDigits, 3)
                                            .validation.fingerprint());
  {
    std::multiset<std::vector<int32_t>> a, b;
    for (size_t i = 0; i < 40; ++i) a.insert(s.train.row(i));
    for (size_t i = 0; i < 10; ++i) a.insert(s.validation.row(i));
    for (size_t i = 0; i < 50; ++i) b.insert(d.row(i));
    EXPECT_EQ(a, b);
  }
  s = load_data(json{{"train", dir + "/t.grid"}, {"validation", dir + "/v.grid"}}, kDigits, 3);
  EXPECT_EQ(s.train.size(), 50u);
  expect_same(s.validation, d.slice(0, 7));
  s = load_data(json{{"train", dir + "/t.grid"}, {"validation_fraction", 0.2}, {"validation_split", "tail"}}, kDigits, 3);
  expect_same(s.validation, d.slice(40, 50));
  s = load_data(json{{"train", {{"path", dir + "/t.grid"}, {"format", "grid"}}}, {"test", dir + "/v.grid"}}, kDigits, 3);
  EXPECT_EQ(s.test.size(), 7u);
}

TEST(LoadData, IdxLabelsAndThresholdPassThrough) {
  const std::string dir = tmp_dir();
  const Space s = Space::tensor({3, 3}, 2, 4);
  const Dataset d = random_dataset(s, 20, 52);
  write_dataset(d, dir + "/train-images-idx3-ubyte.gz", "idx");
  write_dataset(d.slice(0, 5), dir + "/t10k-images-idx3-ubyte.gz", "idx");
  const DataSplits sp = load_data(json{{"train", dir + "/train-images-idx3-ubyte.gz"},
                                       {"labels", dir + "/train-labels-idx1-ubyte.gz"},
                                       {"test", dir + "/t10k-images-idx3-ubyte.gz"},
                                       {"test_labels", dir + "/t10k-labels-idx1-ubyte.gz"},
                                       {"threshold", 200},
                                       {"validation_count", 4},
                                       {"validation_split", "tail"}},
                                  s, 1);
  expect_same(sp.train, d.slice(0, 16));
  expect_same(sp.validation, d.slice(16, 20));
  expect_same(sp.test, d.slice(0, 5));
}

TEST(LoadData, ConfigErrors) {
  const std::string dir = tmp_dir();
  write_dataset(random_dataset(kDigits, 10, 53), dir + "/t.grid", "grid");
  const std::string t = dir + "/t.grid";
  expect_error<ConfigError>([&] { load_data(json{{"test", t}}, kDigits, 1); }, "data.train: missing");
  expect_error<ConfigError>([&] { load_data(json{{"train", t}, {"componets", 3}}, kDigits, 1); },
                            "data.train: unknown key 'componets'");
  expect_error<ConfigError>([&] { load_data(json{{"train", t}, {"threshold", 3}}, kDigits, 1); },
                            "data.train: unknown key 'threshold'");
  expect_error<ConfigError>(
      [&] { load_data(json{{"train", t}, {"validation", t}, {"validation_count", 2}}, kDigits, 1); }, "data: give at most one");
  expect_error<ConfigError>([&] { load_data(json{{"train", t}, {"validation_fraction", 1.5}}, kDigits, 1); },
                            "data.validation_fraction: must be between");
  expect_error<ConfigError>([&] { load_data(json{{"train", t}, {"validation_count", 10}}, kDigits, 1); },
                            "data: the validation split takes 10 of the 10");
  expect_error<ConfigError>([&] { load_data(json{{"train", t}, {"validation_split", "tail"}}, kDigits, 1); },
                            "data.validation_split:");
  expect_error<ConfigError>([&] { load_data(json{{"train", t}, {"shuffle", true}}, kDigits, 1); }, "data.train: unknown key 'shuffle'");
  expect_error<ConfigError>([&] { load_data(json{{"train", 3}}, kDigits, 1); }, "data.train: expected a path");
  expect_error<ConfigError>([&] { load_data(json{{"train", t}, {"test_labels", "x"}}, kDigits, 1); },
                            "data.test_labels: given without data.test");
  expect_error<IoError>([&] { load_data(json{{"train", dir + "/nope.grid"}}, kDigits, 1); }, dir + "/nope.grid: cannot open");
}

// Per-file totals and per-digit counts as listed in data/digits/README.md.
std::map<std::string, std::vector<int>> readme_counts() {
  std::ifstream in(kSource + "/data/digits/README.md");
  std::map<std::string, std::vector<int>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| ", 0) != 0 || line.find(".txt") == std::string::npos) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    std::string c;
    while (std::getline(ss, c, '|')) cells.push_back(c);
    std::vector<int> counts;  // total, then digits 0..9
    for (size_t k = 1; k <= 11; ++k) counts.push_back(std::stoi(cells.at(k)));
    const size_t a = cells[0].find_first_not_of(' '), b = cells[0].find_last_not_of(' ');
    out[cells[0].substr(a, b - a + 1)] = counts;
  }
  return out;
}

TEST(ShippedDigits, CountsMatchReadme) {
  const auto readme = readme_counts();
  ASSERT_EQ(readme.size(), 5u) << "README table not found";
  const Dataset glyphs = read_dataset(json{{"path", kSource + "/data/digits/digits.txt"}, {"format", "grid"}}, kDigits);
  ASSERT_EQ(glyphs.size(), 10u);
  for (const auto& [name, counts] : readme) {
    const Dataset d = read_dataset(json{{"path", kSource + "/data/digits/" + name}, {"format", "grid"}}, kDigits);
    EXPECT_EQ(int(d.size()), counts[0]) << name;
    if (name == "noisy.txt") {
      // 5% of pixels flipped: about 1.25 a sample against the nearest glyph.
      int64_t flips = 0;
      for (size_t i = 0; i < d.size(); ++i) {
        int64_t best = 25;
        for (size_t g = 0; g < 10; ++g) {
          int64_t h = 0;
          for (int64_t k = 0; k < 25; ++k) h += d.at(i, k) != glyphs.at(g, k);
          best = std::min(best, h);
        }
        flips += best;
      }
      EXPECT_GT(flips, 0.02 * 25 * double(d.size())) << name;
      EXPECT_LT(flips, 0.08 * 25 * double(d.size())) << name;
      continue;
    }
    std::vector<int> per(10, 0);
    for (size_t i = 0; i < d.size(); ++i) {
      int found = -1;
      for (size_t g = 0; g < 10; ++g)
        if (d.row(i) == glyphs.row(g)) found = int(g);
      ASSERT_GE(found, 0) << name << " sample " << i << " is not a glyph";
      ++per[size_t(found)];
    }
    EXPECT_EQ(per, std::vector<int>(counts.begin() + 1, counts.end())) << name;
  }
}

}  // namespace
}  // namespace dgm
