// resume_test.cc — what `dgm train --resume` refuses, in-process: a checkpoint
// of a NADE run on the digits (stopped by SIGINT after its first checkpoint)
// is refused with another config (naming the key), with changed training data
// (naming the fingerprints), from another dgm version (naming both), and a
// finished model is not a checkpoint; the untouched checkpoint resumes.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"
#include "dgm/model_file.h"

namespace dgm::cli {
namespace {

struct Result {
  int status;
  std::string err;
};

Result run(std::vector<std::string> args) {
  args.insert(args.begin(), "dgm");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  const int status = run_main(int(argv.size()), argv.data());
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {status, err.str()};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The model file's checksums (model_file.h), recomputed after an edit.
void fix_checksum(std::string& b) { b = seal_model_file(b.substr(0, b.size() - 16)); }

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder a test: ctest runs the tests of this fixture in parallel.
    dir_ = std::string(DGM_TEST_TMP) + "/resume-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    data_ = dir_ + "/train.txt";
    std::filesystem::copy_file(std::string(DGM_SOURCE_DIR) + "/data/digits/skewed.txt", data_);
    config_ = dir_ + "/nade.json";
    std::ofstream(config_) << R"({"space": {"shape": [5, 5], "levels": 2},
      "data": {"train": "train.txt", "format": "grid", "validation_fraction": 0.1},
      "model": {"type": "nade", "hidden": 20},
      "train": {"epochs": 1000000, "batch_size": 20, "checkpoint_every": 1}})";
    model_ = dir_ + "/nade.dgm";
    partial_ = dir_ + "/nade.partial.dgm";
  }

  // Runs `args` (a training that does not end by itself) until a checkpoint
  // newer than the call exists, then sends SIGINT; expects exit 130.
  Result interrupted_run(const std::vector<std::string>& args) {
    std::error_code ec;
    const auto before = std::filesystem::last_write_time(partial_, ec);
    const bool existed = !ec;
    Result r{-1, ""};
    std::thread t([&] { r = run(args); });
    for (int i = 0; i < 3000; ++i) {
      const auto now = std::filesystem::last_write_time(partial_, ec);
      if (!ec && (!existed || now != before)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(::getpid(), SIGINT);
    t.join();
    EXPECT_EQ(r.status, 130) << r.err;
    EXPECT_TRUE(std::filesystem::exists(partial_));
    EXPECT_NE(r.err.find("dgm train --resume " + partial_), std::string::npos) << r.err;
    return r;
  }

  std::string dir_, data_, config_, model_, partial_;
};

TEST_F(Resume, RefusesAnotherConfigOtherDataOrVersion) {
  interrupted_run({"train", "-c", config_, "-o", model_, "-t", "1"});
  const std::string good = read_file(partial_);

  Result cfg = run({"train", "--resume", partial_, "--set", "train.learning_rate=0.5"});
  EXPECT_EQ(cfg.status, 1);
  EXPECT_NE(cfg.err.find("another config"), std::string::npos) << cfg.err;
  EXPECT_NE(cfg.err.find("train.learning_rate: 0.001 in the checkpoint, 0.5 here"), std::string::npos) << cfg.err;
  Result seed = run({"train", "--resume", partial_, "--seed", "9"});
  EXPECT_EQ(seed.status, 1);
  EXPECT_NE(seed.err.find("train.seed"), std::string::npos) << seed.err;

  std::string version = good;
  const std::string key = std::string("\"dgm_version\":\"") + DGM_VERSION + "\"";
  const size_t at = version.find(key);
  ASSERT_NE(at, std::string::npos);
  std::string other = DGM_VERSION;
  for (char& c : other)
    if (c >= '0' && c <= '9') c = c == '9' ? '8' : '9';
  version.replace(at + 15, other.size(), other);
  fix_checksum(version);
  write_file(partial_, version);
  Result ver = run({"train", "--resume", partial_});
  EXPECT_EQ(ver.status, 1);
  EXPECT_NE(ver.err.find("written by dgm " + other + ", this is dgm " + DGM_VERSION), std::string::npos) << ver.err;
  write_file(partial_, good);

  std::string digits = read_file(data_);
  const size_t hash = digits.find('#');
  ASSERT_NE(hash, std::string::npos);
  std::string changed = digits;
  changed[hash] = '.';
  write_file(data_, changed);
  Result data = run({"train", "--resume", partial_});
  EXPECT_EQ(data.status, 1);
  EXPECT_NE(data.err.find("the training data differ from the checkpoint's (fingerprint"), std::string::npos) << data.err;
  write_file(data_, digits);

  // Untouched, it is accepted (and stopped again).
  const Result again = interrupted_run({"train", "--resume", partial_, "-t", "1"});
  EXPECT_NE(again.err.find("resuming from " + partial_), std::string::npos) << again.err;
}

TEST_F(Resume, AFinishedModelIsNotACheckpoint) {
  ASSERT_EQ(run({"train", "-c", config_, "-o", model_, "-q", "--set", "train.epochs=3"}).status, 0);
  Result r = run({"train", "--resume", model_});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("holds no training state to resume from"), std::string::npos) << r.err;
  Result none = run({"train"});
  EXPECT_EQ(none.status, 2);
}

}  // namespace
}  // namespace dgm::cli
