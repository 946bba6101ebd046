// model_file_test.cc — the .dgm container: round trip of typed arrays, and the
// distinct errors for foreign, truncated, corrupted and newer files.
#include "dgm/model_file.h"

#include <gtest/gtest.h>

#include <algorithm>
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
  char digits[5];
  std::snprintf(digits, sizeof digits, "%04u", unsigned(kModelFormatVersion + 1));
  newer.replace(11, 4, digits);
  newer = seal_model_file(newer.substr(0, newer.size() - 16));
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

// A file opened from disk is mapped: the directory is verified at once, each
// array's data when it is read (or, mapped, when verify() is called). Every
// byte is still covered.
TEST(ModelFile, OpenedFilesVerifyArraysWhenUsed) {
  const std::string dir = std::string(DGM_TEST_TMP) + "/model_file_OpenedFilesVerifyArraysWhenUsed";
  std::filesystem::create_directories(dir);
  const std::string good = sample_file();
  const std::string path = dir + "/m.dgm";
  for (size_t k = 0; k < good.size(); ++k) {
    std::string bad = good;
    bad[k] = char(bad[k] ^ 0x20);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    std::string msg;
    try {
      const ModelReader r = ModelReader::open(path);
      std::vector<float> f(6);
      r.read("f", f.data(), {2, 3});
      (void)r.read_vector<double>("d", 10);
      (void)r.read_vector<int32_t>("i", 10);
      r.map("b", DType::kU8, {3}).verify();
    } catch (const FormatError& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find("corrupted"), std::string::npos) << "byte " << k << ": '" << msg << "'";
  }
  // verify(): every array at once (dgm info).
  {
    std::string bad = good;
    bad[good.size() - 17] = char(bad[good.size() - 17] ^ 1);  // the last array's last byte
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    const ModelReader r = ModelReader::open(path);
    EXPECT_THROW(r.verify(), FormatError);
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << good;
  const ModelReader r = ModelReader::open(path);
  EXPECT_NO_THROW(r.verify());
  const MappedArray d = r.map("d", DType::kF64, {2});
  EXPECT_FALSE(d.verified());
  EXPECT_NO_THROW(d.verify());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d.as<double>()) % 64, 0u);  // in place, aligned
  EXPECT_EQ(d.as<double>()[1], 1e-300);
  EXPECT_THROW(r.map("d", DType::kF32, {2}), FormatError);
  // Parsed from memory: verified whole already.
  EXPECT_TRUE(ModelReader::parse(good, "m.dgm").map("d", DType::kF64, {2}).verified());
}

// Version 1 files (no array checksums, no padding, FNV-1a of every byte) are
// still read; made here from a version 2 file.
TEST(ModelFile, ReadsVersionOne) {
  const std::string v2 = sample_file();
  auto le = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(uint8_t(v2[at + size_t(i)])) << (8 * i);
    return v;
  };
  std::string v1 = v2.substr(0, 40);
  v1.replace(11, 4, "0001");
  size_t pos = 40;
  const uint64_t hlen = le(pos, 8);
  v1 += v2.substr(pos, 8 + hlen + 4);
  pos += 8 + hlen;
  const uint32_t count = uint32_t(le(pos, 4));
  pos += 4;
  const size_t sizes[] = {4, 8, 4, 1};  // f, d, i, b
  for (uint32_t a = 0; a < count; ++a) {
    const size_t start = pos;
    const size_t nlen = le(pos, 2);
    pos += 2 + nlen;
    const int rank = uint8_t(v2[pos + 1]);
    pos += 2;
    uint64_t elems = 1;
    for (int e = 0; e < rank; ++e, pos += 8) elems *= le(pos, 8);
    v1 += v2.substr(start, pos - start);
    pos += 8;
    pos += 1 + uint8_t(v2[pos]);
    v1 += v2.substr(pos, elems * sizes[a]);
    pos += elems * sizes[a];
  }
  ASSERT_EQ(pos, v2.size() - 16);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : v1) h = (h ^ uint8_t(c)) * 0x100000001b3ULL;
  for (int i = 0; i < 8; ++i) v1.push_back(char((h >> (8 * i)) & 0xff));
  v1 += "dgm-end\n";
  const ModelReader r = ModelReader::parse(v1, "v1.dgm");
  EXPECT_EQ(r.read_vector<double>("d", 10)[1], 1e-300);
  EXPECT_EQ(r.map("i", DType::kI32, {2}).as<int32_t>()[0], -3);
  std::string bad = v1;
  bad[v1.size() - 20] ^= 1;  // a data byte: the whole-file checksum
  EXPECT_NE(error_of(bad).find("corrupted"), std::string::npos) << error_of(bad);
}

// One changed byte anywhere changes the array checksum; so does a swap of words.
TEST(ModelFile, Checksum64SeesEveryByte) {
  std::string s(1000, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = char(i * 7);
  const uint64_t h = checksum64(s.data(), s.size());
  for (size_t i = 0; i < s.size(); ++i)
    for (int bit : {0, 7}) {
      std::string t = s;
      t[i] = char(t[i] ^ (1 << bit));
      EXPECT_NE(checksum64(t.data(), t.size()), h) << i;
    }
  std::string sw = s;
  std::swap_ranges(sw.begin(), sw.begin() + 8, sw.begin() + 8);
  EXPECT_NE(checksum64(sw.data(), sw.size()), h);
  EXPECT_NE(checksum64(s.data(), s.size() - 1), h);
}

}  // namespace
}  // namespace dgm
