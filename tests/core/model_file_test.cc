// model_file_test.cc — the .dgm container: round trip of typed arrays, and the
// distinct errors for foreign, truncated, corrupted and newer files.
#include "dgm/model_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dgm/error.h"

namespace dgm {
namespace {

std::string sample_file() {
  ModelWriter w;
  w.header()["kind"] = "test";
  std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<double> d = {-0.5, 1e-300};
  std::vector<int32_t> i = {-3, 4};
  std::vector<uint8_t> b = {0, 255, 7};
  w.add("f", f.data(), {2, 3});
  w.add("d", d);
  w.add("i", i);
  w.add("b", b);
  return w.serialize();
}

std::string error_of(const std::string& bytes) {
  try {
    ModelReader::parse(bytes, "m.dgm");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

uint64_t fnv(const std::string& s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t k = 0; k < n; ++k) {
    h ^= uint8_t(s[k]);
    h *= 0x100000001b3ULL;
  }
  return h;
}

TEST(ModelFile, RoundTrip) {
  ModelReader r = ModelReader::parse(sample_file(), "m.dgm");
  EXPECT_EQ(r.header()["kind"], "test");
  std::vector<float> f(6);
  r.read("f", f.data(), {2, 3});
  EXPECT_EQ(f[2], 3.25f);
  EXPECT_EQ(r.read_vector<double>("d", 10)[1], 1e-300);
  EXPECT_EQ(r.read_vector<int32_t>("i", 10)[0], -3);
  EXPECT_EQ(r.read_vector<uint8_t>("b", 10)[1], 255);
  EXPECT_THROW(r.read("f", f.data(), {3, 2}), FormatError);   // wrong shape
  EXPECT_THROW(r.read_vector<double>("f", 100), FormatError);  // wrong type
  EXPECT_THROW(r.read_vector<float>("f", 5), FormatError);     // too many elements
  EXPECT_THROW(r.shape("missing"), FormatError);
}

TEST(ModelFile, EveryFlippedByteIsCorruption) {
  const std::string good = sample_file();
  for (size_t k = 0; k < good.size(); ++k) {
    std::string bad = good;
    bad[k] = char(bad[k] ^ 0x20);
    const std::string msg = error_of(bad);
    EXPECT_NE(msg.find("corrupted"), std::string::npos) << "byte " << k << ": '" << msg << "'";
  }
}

TEST(ModelFile, TruncatedForeignAndNewer) {
  const std::string good = sample_file();
  for (size_t n : {size_t(0), size_t(3), size_t(20), good.size() / 2, good.size() - 1}) {
    const std::string msg = error_of(good.substr(0, n));
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("not a dgm") != std::string::npos)
        << n << ": " << msg;
  }
  EXPECT_NE(error_of(good.substr(0, good.size() / 2)).find("truncated"), std::string::npos);
  EXPECT_EQ(error_of("\x89PNG\r\n\x1a\n plus some bytes that are not a model at all........"),
            "m.dgm: not a dgm model file");
  std::string newer = good;
  newer.replace(11, 4, "0002");
  uint64_t h = fnv(newer, newer.size() - 16);
  for (int b = 0; b < 8; ++b) newer[newer.size() - 16 + size_t(b)] = char((h >> (8 * b)) & 0xff);
  EXPECT_NE(error_of(newer).find("newer than this dgm reads"), std::string::npos) << error_of(newer);
}

TEST(ModelFile, AtomicWriteKeepsOldFileOnFailure) {
  const std::string dir = std::string(DGM_TEST_TMP) + "/model_file";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/m.dgm";
  ModelWriter w;
  w.header()["kind"] = "x";
  std::vector<float> v = {1, 2, 3};
  w.add("v", v);
  w.write(path);
  EXPECT_NO_THROW(ModelReader::open(path));
  // Missing folders are created (the rule for every output); a folder that
  // cannot be made is an IoError.
  EXPECT_NO_THROW(w.write(dir + "/new/folder/m.dgm"));
  EXPECT_NO_THROW(ModelReader::open(dir + "/new/folder/m.dgm"));
  EXPECT_THROW(w.write(path + "/under/a/file.dgm"), IoError);
  EXPECT_THROW(w.write("/dev/full/m.dgm"), IoError);
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_THROW(ModelReader::open(dir + "/absent.dgm"), IoError);
  EXPECT_THROW(ModelReader::open(dir), IoError);
}

}  // namespace
}  // namespace dgm
