// real_model_flip_test.cc — a real model file (a mixture trained on the
// shipped digits, saved by save_model as `dgm train` does) with any single
// byte changed is refused by load_model with the "corrupted" error: every
// byte position, each changed to a different value.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"

namespace dgm {
namespace {

TEST(RealModelFile, EverySingleByteChangeIsReportedAsCorruption) {
  const Space space = Space::tensor({5, 5}, 2);
  DataSplits data = load_data({{"train", std::string(DGM_SOURCE_DIR) + "/data/digits/skewed.txt"}, {"format", "grid"}},
                              space, 1);
  auto model = create_model(space, {{"type", "mixture"}, {"components", 3}}, {{"max_iterations", 5}});
  ThreadPool pool(1);
  Rng rng(1);
  model->fit(data.train, nullptr, {&pool, &rng, nullptr, nullptr});
  const std::filesystem::path dir = std::filesystem::path(DGM_TEST_TMP) / "hardening";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "digits.dgm").string();
  save_model(path, *model, {{"config", {{"model", {{"type", "mixture"}, {"components", 3}}},
                                        {"train", {{"max_iterations", 5}}}}},
                            {"seed", 1}});
  std::ifstream in(path, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(good.size(), 500u);
  ASSERT_NO_THROW(load_model(path));

  const std::string bad_path = (dir / "flipped.dgm").string();
  size_t refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = char(uint8_t(bad[i]) ^ (i % 2 ? 0x01 : 0x80));
    { std::ofstream(bad_path, std::ios::binary | std::ios::trunc) << bad; }
    try {
      load_model(bad_path);
      ADD_FAILURE() << "byte " << i << " changed: the file loaded";
    } catch (const FormatError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("corrupted"), std::string::npos) << "byte " << i << ": " << msg;
      EXPECT_EQ(msg.rfind(bad_path, 0), 0u) << "byte " << i << ": " << msg;
      ++refused;
    }
  }
  EXPECT_EQ(refused, good.size());
}

}  // namespace
}  // namespace dgm
