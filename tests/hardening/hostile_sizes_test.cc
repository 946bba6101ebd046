// hostile_sizes_test.cc — headers and configs that ask for absurd sizes are
// refused with a clear error before any large allocation. Each case runs in a
// forked child under a small address-space limit (RLIMIT_AS: the child's
// current size + 256 MiB; not under AddressSanitizer, which needs a huge
// address space) and must finish in well under a second with the expected
// dgm::Error subclass and message.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "dgm/config.h"
#include "dgm/dataset.h"
#include "dgm/error.h"
#include "dgm/io/image.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"
#include "fuzz/fuzz_targets.h"
#include "hardening/limited.h"

namespace dgm {
namespace {

namespace fs = std::filesystem;
using test::expect_refused;
using test::Outcome;
using test::run_limited;
using HostileSizes = test::LimitedTest;

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

TEST_F(HostileSizes, IdxHeaderClaimingBillionsOfItems) {
  // 4294967295 items of 28x28: 3.4e12 values, in a 100-byte file.
  const std::string header = std::string("\0\0\x08\x03", 4) + be32(0xffffffffu) + be32(28) + be32(28);
  const std::string plain = file("big-idx3-ubyte", header + std::string(84, '\x01'));
  const Space s = Space::tensor({28, 28}, 2);
  expect_refused([&] { read_dataset({{"path", plain}, {"format", "idx"}}, s); }, "FormatError", "4294967295 items");
  // 2^32-1 items of 1x1 (fits the value limit): more than the file holds.
  const std::string small = file("small-idx3-ubyte", std::string("\0\0\x08\x03", 4) + be32(0xffffffffu) + be32(1) + be32(1) + "xyz");
  expect_refused([&] { read_dataset({{"path", small}, {"format", "idx"}}, Space::tensor({1, 1}, 256)); },
                 "FormatError", "4294967295 items");
  // The same claim compressed: more than a gzip file of its size can hold.
  const std::string gz = file("big-idx3-ubyte.gz", fuzz::gzip(header + std::string(1000, '\0')));
  expect_refused([&] { read_dataset({{"path", gz}, {"format", "idx"}}, s); }, "FormatError", "items");
  const std::string gz1 = file("b1-idx3-ubyte.gz", fuzz::gzip(std::string("\0\0\x08\x03", 4) + be32(0xffffffffu) + be32(1) + be32(1)));
  expect_refused([&] { read_dataset({{"path", gz1}, {"format", "idx"}}, Space::tensor({1, 1}, 256)); }, "FormatError",
                 "gzip file");
}

TEST_F(HostileSizes, CifarFileLargerThanMemoryAllows) {
  // A sparse file of 2^30 records of 3073 bytes (3 TiB on paper, nothing on disk).
  const std::string path = (dir_ / "huge.bin").string();
  { std::ofstream(path, std::ios::binary); }
  fs::resize_file(path, uint64_t(3073) << 20);  // 3 GiB: under the value limit, over memory here
  const Space s = Space::tensor({3, 32, 32}, 256, 10);
  const Outcome o = run_limited([&] {
    ::setenv("DGM_MEMORY_LIMIT_MB", "512", 1);
    read_dataset({{"path", path}, {"format", "cifar"}}, s);
  });
  EXPECT_EQ(o.type, "DataError") << o.message;
  EXPECT_NE(o.message.find(path), std::string::npos) << o.message;
  EXPECT_NE(o.message.find("of memory available"), std::string::npos) << o.message;
  EXPECT_LT(o.seconds, 2.0);
  // Past the hard value limit, whatever the memory.
  fs::resize_file(path, uint64_t(3073) << 24);
  expect_refused([&] { read_dataset({{"path", path}, {"format", "cifar"}}, s); }, "FormatError", "exceed the limit");
}

// A PNG claiming 100000 x 100000 pixels in its header (every chunk CRC right). It must be refused from the header, in every way
// of naming images: a file, a directory of label folders, a list file.
std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string td = type + data;
  return be32(uint32_t(data.size())) + td + be32(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(td.data()), uInt(td.size()))));
}

std::string huge_png() {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  png += png_chunk("IHDR", be32(100000) + be32(100000) + std::string("\x08\x00\x00\x00\x00", 5));
  png += png_chunk("IDAT", std::string(10, '\0'));
  png += png_chunk("IEND", "");
  return png;
}

TEST_F(HostileSizes, HugePngRefusedBeforeDecoding) {
  const std::string png = file("huge.png", huge_png());
  const Space s = Space::tensor({28, 28}, 2, 10);
  expect_refused([&] { read_dataset({{"path", png}, {"format", "image"}}, s); }, "DataError", "100000x100000");
  expect_refused([&] { read_image_file(png, s); }, "DataError", "100000x100000");
  fs::create_directories(dir_ / "tree" / "3");
  fs::copy_file(png, dir_ / "tree" / "3" / "a.png");
  expect_refused([&] { read_dataset({{"path", (dir_ / "tree").string()}, {"format", "image"}}, s); }, "DataError",
                 "100000x100000");
  const std::string list = file("list.txt", "huge.png\t3\n");
  expect_refused([&] { read_dataset({{"path", list}, {"format", "image"}}, s); }, "DataError", "100000x100000");
  // A netpbm header that claims as much.
  const std::string pgm = file("huge.pgm", "P5\n100000 100000\n255\n" + std::string(16, '\0'));
  expect_refused([&] { read_dataset({{"path", pgm}, {"format", "image"}}, s); }, "DataError", "100000x100000");
}

TEST_F(HostileSizes, ConfigSizes) {
  const Space digits = Space::tensor({5, 5}, 2);
  expect_refused([&] { create_model(digits, {{"type", "mixture"}, {"components", 1e12}}, json::object()); },
                 "ConfigError", "components");
  expect_refused([&] { create_model(digits, {{"type", "ngram"}, {"order", 1000}}, json::object()); }, "ConfigError",
                 "order");
  expect_refused([&] { Space::from_json({{"shape", {100000, 100000, 100000}}, {"levels", 2}}); }, "ConfigError",
                 "positions");
  expect_refused([&] { Space::from_json({{"shape", {1e15}}, {"levels", 2}}); }, "ConfigError", "positions");
  expect_refused([&] { Space::from_json({{"shape", {5}}, {"levels", 1e12}}); }, "ConfigError", "levels");
  // A space within the limits on which a mixture's table would not fit in memory.
  // (67 M table entries: under the table limit, over a 256 MiB budget.)
  const Space large = Space::tensor({4096, 4096}, 2);
  expect_refused(
      [&] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "256", 1);
        create_model(large, {{"type", "mixture"}, {"components", 2}}, json::object());
      },
      "ConfigError", "of memory available");
  const Space big = Space::tensor({16384, 16384}, 2);
  expect_refused([&] { create_model(big, {{"type", "mixture"}, {"components", 100000}}, json::object()); },
                 "ConfigError", "table entries");
  expect_refused(
      [&] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "256", 1);
        create_model(large, {{"type", "independent"}}, json::object());
      },
      "ConfigError", "of memory available");
  // Neural models: "hidden": 1e9 is past the key's range; 1e6 on Fashion-MNIST
  // is 1.6 G parameters, refused against the budget before allocating.
  const Space fmnist = Space::tensor({28, 28}, 2, 10);
  expect_refused([&] { create_model(fmnist, {{"type", "nade"}, {"hidden", 1e9}}, json::object()); }, "ConfigError",
                 "hidden");
  expect_refused(
      [&] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "256", 1);
        create_model(fmnist, {{"type", "made"}, {"hidden", 1000000}}, json::object());
      },
      "ConfigError", "of memory available");
}

// Rewrites the first extent of array `name` in a serialized model file and
// reseals the checksum, so that only the shape claim is hostile.
std::string with_extent(const std::string& file, const std::string& name, uint64_t extent) {
  const size_t at = file.find(name);
  EXPECT_NE(at, std::string::npos);
  std::string body = file.substr(0, file.size() - 16);
  const size_t pos = at + name.size() + 2;  // after dtype and rank
  for (int i = 0; i < 8; ++i) body[pos + size_t(i)] = char((extent >> (8 * i)) & 0xff);
  return fuzz::seal_model(body);
}

TEST_F(HostileSizes, ModelFileArraysClaimingHugeShapes) {
  const Space s = Space::tensor({5, 5}, 2);
  auto m = create_model(s, {{"type", "independent"}}, json::object());
  Dataset d(s);
  d.push_back(std::vector<int32_t>(25, 1));
  ThreadPool pool(1);
  Rng rng(1);
  m->fit(d, nullptr, {&pool, &rng, nullptr, nullptr});
  ModelWriter w;
  w.header() = {{"kind", "independent"}, {"space", s.to_json()}, {"config", {{"model", {{"type", "independent"}}}}}};
  m->save(w);
  const std::string good = w.serialize();
  ASSERT_NO_THROW(load_model(ModelReader::parse(good, "good.dgm")));
  // The first array's name follows the header and the uint32 array count.
  const size_t hlen = size_t(uint8_t(good[40])) | size_t(uint8_t(good[41])) << 8 | size_t(uint8_t(good[42])) << 16;
  const size_t first = 40 + 8 + hlen + 4;
  const uint16_t nlen = uint16_t(uint8_t(good[first]) | uint8_t(good[first + 1]) << 8);
  const std::string name = good.substr(first + 2, nlen);
  for (uint64_t extent : {uint64_t(1) << 40, uint64_t(1) << 62, ~uint64_t(0)}) {
    const std::string bad = with_extent(good, name, extent);
    expect_refused([&] { load_model(ModelReader::parse(bad, "bad.dgm")); }, "FormatError", "bad.dgm");
  }
  // A header length of 2^60.
  std::string body = good.substr(0, good.size() - 16);
  body[40 + 7] = 0x10;
  expect_refused([&] { ModelReader::parse(fuzz::seal_model(body), "bad.dgm"); }, "FormatError", "header");
  // A model file larger than memory allows (sparse).
  const std::string path = (dir_ / "huge.dgm").string();
  { std::ofstream(path, std::ios::binary) << good; }
  fs::resize_file(path, uint64_t(1) << 30);
  expect_refused(
      [&] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "256", 1);
        load_model(path);
      },
      "IoError", "of memory available");
}

TEST_F(HostileSizes, ArpaHeaderCounts) {
  const std::string arpa =
      file("big.arpa", "\\data\\\nngram 1=2000000000\nngram 2=2000000000\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n\\end\\\n");
  const Outcome o = run_limited([&] { NgramModel::read_arpa(arpa); });
  EXPECT_EQ(o.type, "FormatError") << o.message;
  EXPECT_NE(o.message.find("big.arpa: the header claims"), std::string::npos) << o.message;
  EXPECT_LT(o.seconds, 2.0);
  const std::string order = file("order.arpa", "\\data\\\nngram 1000=1\n\n\\end\\\n");
  expect_refused([&] { NgramModel::read_arpa(order); }, "FormatError", "order.arpa");
}

}  // namespace
}  // namespace dgm
