// stats_test.cc — `dgm stats` in-process: a small binary grid set written with
// the io layer's own writer, read back by run_stats, figures checked by hand
// (counts, duplicates, entropy, top order) in both the text and JSON forms.
#include "cmd_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "dgm/config.h"
#include "dgm/error.h"
#include "dgm/io/read.h"

namespace dgm::cli {
namespace {

// {0,1}^(2x3) rows: "a" three times, "b" once, "c" twice (first seen after b).
std::string write_fixture() {
  std::filesystem::create_directories(DGM_TEST_TMP);
  const std::string path = std::string(DGM_TEST_TMP) + "/stats_fixture.txt";
  Dataset d(Space::tensor({2, 3}, 2));
  const std::vector<int32_t> a = {1, 0, 1, 0, 1, 0}, b = {1, 1, 1, 1, 1, 1}, c = {0, 0, 0, 0, 0, 1};
  for (const auto* x : {&a, &b, &a, &c, &a, &c}) d.push_back(*x);
  write_dataset(d, path, "grid");
  return path;
}

StatsOptions fixture_options() {
  StatsOptions o;
  o.data = write_fixture();
  o.format = "grid";
  o.shape = {2, 3};
  o.levels = 2;
  o.top = 2;
  return o;
}

TEST(StatsCommand, JsonFiguresMatchHandCounts) {
  StatsOptions o = fixture_options();
  o.json = true;
  std::ostringstream out, log;
  ASSERT_EQ(run_stats(o, out, log), 0);
  const json j = json::parse(out.str());
  EXPECT_EQ(j.at("dims"), 6);
  EXPECT_EQ(j.at("space_describe"), "{0..1}^(2x3)");
  const json& t = j.at("splits").at("train");
  EXPECT_EQ(t.at("samples"), 6);
  EXPECT_EQ(t.at("distinct"), 3);
  EXPECT_EQ(t.at("duplicates"), 3);
  // Probabilities 1/2, 1/3, 1/6.
  const double h = -(0.5 * std::log(0.5) + std::log(1.0 / 3) / 3 + std::log(1.0 / 6) / 6);
  EXPECT_NEAR(t.at("entropy_nats").get<double>(), h, 1e-12);
  EXPECT_NEAR(t.at("entropy_bits").get<double>(), h / std::log(2.0), 1e-12);
  EXPECT_NEAR(t.at("support_fraction").get<double>(), 3.0 / 64, 1e-12);
  ASSERT_EQ(t.at("top").size(), 2u);
  EXPECT_EQ(t.at("top")[0].at("count"), 3);
  EXPECT_EQ(t.at("top")[0].at("values"), (std::vector<int>{1, 0, 1, 0, 1, 0}));
  EXPECT_EQ(t.at("top")[1].at("count"), 2);
  EXPECT_EQ(t.at("top")[1].at("values"), (std::vector<int>{0, 0, 0, 0, 0, 1}));
  EXPECT_FALSE(j.at("splits").contains("test"));
}

TEST(StatsCommand, TextDrawsGridsOfTheTopSamples) {
  StatsOptions o = fixture_options();
  std::ostringstream out, log;
  ASSERT_EQ(run_stats(o, out, log), 0);
  const std::string s = out.str();
  EXPECT_NE(s.find("{0..1}^(2x3)"), std::string::npos) << s;
  EXPECT_NE(s.find("2^6 = 64"), std::string::npos) << s;
  EXPECT_NE(s.find("distinct      3"), std::string::npos) << s;
  EXPECT_NE(s.find("duplicates    3"), std::string::npos) << s;
  EXPECT_NE(s.find("#1  count 3  p 0.5"), std::string::npos) << s;
  // The two top samples side by side: rows "#.#" / ".#." and "..." / "..#".
  EXPECT_NE(s.find("#.#  ..."), std::string::npos) << s;
  EXPECT_NE(s.find(".#.  ..#"), std::string::npos) << s;
  EXPECT_TRUE(out.str().find("dgm stats") == std::string::npos);  // messages go to the log
  EXPECT_NE(log.str().find("read 6 training samples"), std::string::npos);
}

TEST(StatsCommand, ErrorsAreThrownNotPrinted) {
  StatsOptions o = fixture_options();
  o.data = std::string(DGM_TEST_TMP) + "/no_such_file.txt";
  std::ostringstream out, log;
  try {
    run_stats(o, out, log);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_file.txt"), std::string::npos) << e.what();
  }
  o = fixture_options();
  o.labels_file = "labels.idx";
  EXPECT_THROW(run_stats(o, out, log), ConfigError);  // labels file without --labels
  EXPECT_TRUE(out.str().empty());
}

}  // namespace
}  // namespace dgm::cli
