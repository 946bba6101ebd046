// commands_test.cc — the dgm commands run in-process through run_main, with
// stdout and stderr captured: exit statuses, data on stdout only, one-line
// errors, and a train -> sample -> score round trip on the shipped digits.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"

namespace dgm::cli {
namespace {

struct Result {
  int status;
  std::string out, err;
};

Result run(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), "dgm");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  std::istringstream in(input);
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  auto* old_in = std::cin.rdbuf(in.rdbuf());
  const int status = run_main(int(argv.size()), argv.data());
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  std::cin.rdbuf(old_in);
  return {status, out.str(), err.str()};
}

class Commands : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder a test: ctest runs the tests of this fixture in parallel.
    dir_ = std::string(DGM_TEST_TMP) + "/commands-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
    // The shipped config, whose data paths are relative to its folder.
    config_ = std::string(DGM_SOURCE_DIR) + "/configs/digits.json";
    model_ = dir_ + "/digits.dgm";
  }
  std::string dir_, config_, model_;
};

TEST_F(Commands, TrainSampleScoreRoundTrip) {
  Result t = run({"train", "--config", config_, "--output", model_});
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_TRUE(t.out.empty()) << "train printed data: " << t.out;
  EXPECT_NE(t.err.find("test"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("bits/dim"), std::string::npos) << t.err;

  Result s = run({"sample", "-n", "50", "--model", model_, "--seed", "4"});
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(std::count(s.out.begin(), s.out.end(), '\n'), 50);
  Result again = run({"sample", "-n", "50", "--model", model_, "--seed", "4", "--threads", "1"});
  EXPECT_EQ(again.out, s.out);

  Result sc = run({"score", "-", "--model", model_}, s.out);
  ASSERT_EQ(sc.status, 0) << sc.err;
  std::istringstream lines(sc.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    std::istringstream cols(line);
    std::string source, lp, bpd;
    std::getline(cols, source, '\t');
    std::getline(cols, lp, '\t');
    std::getline(cols, bpd, '\t');
    EXPECT_EQ(source, "<stdin>:" + std::to_string(n));
    EXPECT_LE(std::stod(lp), 0.0);
  }
  EXPECT_EQ(n, 50);
}

TEST_F(Commands, ErrorsAreOneLineWithStatus) {
  Result missing = run({"sample", "--model", dir_ + "/nothing.dgm"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err.rfind("dgm: error: ", 0), 0u) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_NE(missing.err.find("nothing.dgm"), std::string::npos);
  EXPECT_TRUE(missing.out.empty());

  Result usage = run({"sample", "--no-such-flag"});
  EXPECT_EQ(usage.status, 2);
  Result none = run({});
  EXPECT_EQ(none.status, 2);
  Result help = run({"train", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--config"), std::string::npos);

  Result bad_set = run({"train", "--config", config_, "--set", "model.componets=3", "-o", dir_ + "/x.dgm"});
  EXPECT_EQ(bad_set.status, 1);
  EXPECT_NE(bad_set.err.find("componets"), std::string::npos) << bad_set.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.dgm"));
}

TEST_F(Commands, ScoreReportsBadLinesAndScoresTheRest) {
  ASSERT_EQ(run({"train", "--config", config_, "--output", model_, "--quiet"}).status, 0);
  Result r = run({"score", "--model", model_}, "0000000000000000000000000\n00002\n1111111111111111111111111\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  EXPECT_NE(r.err.find("dgm: error: <stdin>:2"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dgm::cli
