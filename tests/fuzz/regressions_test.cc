// regressions_test.cc — replays every fuzzer input kept in the repository
// through the fuzz target's own code path (fuzz_targets.h): the seed corpus
// (tests/fuzz/corpus/<target>/) and the inputs that once crashed, hung or ran
// out of memory (tests/fuzz/regressions/<target>/, one file per fixed bug).
// Each must end in success or a dgm::Error, in well under a second; under
// -DDGM_SANITIZE=ON any memory or UB error fails the run.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/fuzz_targets.h"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const std::string& kind, const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(DGM_SOURCE_DIR) / "tests/fuzz" / kind / target;
  if (fs::is_directory(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void replay(const std::string& kind) {
  ::setenv("DGM_FUZZ_DIR", DGM_TEST_TMP "/fuzz", 0);
  size_t total = 0;
  for (const auto& [name, target] : dgm::fuzz::targets()) {
    for (const auto& f : inputs(kind, name)) {
      SCOPED_TRACE(f.string());
      std::ifstream in(f, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const auto start = std::chrono::steady_clock::now();
      EXPECT_NO_THROW(target(bytes));  // a dgm::Error is caught inside: only other exceptions escape
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_LT(s, 5.0) << "slow input";
      ++total;
    }
  }
  if (kind == "corpus") {
    EXPECT_GT(total, 50u);
  }
}

TEST(FuzzRegressions, SeedCorpusReplays) { replay("corpus"); }
TEST(FuzzRegressions, FixedCrashesStayFixed) { replay("regressions"); }

// Every target has a seed corpus.
TEST(FuzzRegressions, EveryTargetHasSeeds) {
  for (const auto& [name, target] : dgm::fuzz::targets()) EXPECT_GE(inputs("corpus", name).size(), 2u) << name;
}

}  // namespace

namespace dgm {
namespace {

// Found by image_fuzz: a JPEG whose DHT table has more than 256 codes made
// stb_image 2.27 write past its Huffman table (only visible to UBSan's bounds
// check); it is now refused before decoding.
// The second input has the table cut off by the end of the file (stb reads
// the missing bytes as zeros).
TEST(FuzzRegressions, JpegHuffmanTableOverflowIsRefused) {
  for (const char* name : {"jpeg-dht-over-256-codes", "jpeg-dht-table-past-eof", "jpeg-dht-after-ff-run"}) {
    const std::string path = std::string(DGM_SOURCE_DIR) + "/tests/fuzz/regressions/image/" + name;
    try {
      read_dataset({{"path", path}, {"format", "image"}}, Space::tensor({3, 4, 4}, 256));
      ADD_FAILURE() << name << ": read";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("Huffman table"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace dgm
