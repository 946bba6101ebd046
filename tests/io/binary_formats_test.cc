// binary_formats_test.cc — IDX (plain and gzip) and CIFAR binary batches:
// round trips with labels, hostile headers refused before allocating,
// truncation and wrong sizes, and the real Fashion-MNIST training set
// (60000 x 784, loaded in well under a second into 47 MB).
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "dgm/io/read.h"
#include "io/io_test_util.h"

namespace dgm {
namespace {

using test::expect_error;
using test::expect_same;
using test::random_dataset;
using test::read_file;
using test::tmp_dir;
using test::write_file;

std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

std::string idx_header(uint8_t ndim, const std::vector<uint32_t>& dims) {
  std::string h{'\0', '\0', '\x08', char(ndim)};
  for (uint32_t d : dims) h += be32(d);
  return h;
}

std::string gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
  return path;
}

TEST(Idx, RoundTripPlainAndGzipWithLabels) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({4, 5}, 2, 10), Space::tensor({4, 5}, 256, 10), Space::tensor({7}, 7)}) {
    const Dataset d = random_dataset(s, 33, 31);
    for (const std::string name : {"/a-images-idx3-ubyte", "/b.idx", "/c.idx.gz", "/train-images-idx3-ubyte.gz"}) {
      const std::string p = dir + name;
      write_dataset(d, p, "");
      json src = {{"path", p}};
      if (s.has_labels()) src["labels"] = idx_labels_path(p);
      expect_same(d, read_dataset(src, s));
    }
  }
  // .gz really is gzip; the plain file really is plain.
  EXPECT_EQ(read_file(dir + "/c.idx.gz").substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(read_file(dir + "/b.idx").substr(0, 4), std::string("\0\0\x08\x02", 4));
  EXPECT_EQ(idx_labels_path("x/train-images-idx3-ubyte.gz"), "x/train-labels-idx1-ubyte.gz");
  EXPECT_EQ(idx_labels_path("c.idx.gz"), "c-labels.idx.gz");
}

// A two-file format (IDX, npy: images and labels) is written whole or not at
// all: when the labels file cannot be made (here a name one byte past
// NAME_MAX), the images file is not put in place either, and the old pair stays.
TEST(Idx, LabelsThatCannotBeWrittenLeaveNoImagesFile) {
  const std::string dir = tmp_dir();
  const Dataset d = random_dataset(Space::tensor({2, 2}, 256, 10), 3, 5);
  for (const std::string ext : {".idx", ".idx.gz", ".npy"}) {
    SCOPED_TRACE(ext);
    // The images name fits (255 bytes); "-labels" makes the labels name too long.
    const std::string path = dir + "/" + std::string(255 - ext.size(), 'i') + ext;
    const std::string labels = labels_path(path, ext == ".npy" ? "npy" : "idx");
    expect_error<IoError>([&] { write_dataset(d, path, ext == ".npy" ? "npy" : "idx"); }, labels + ": cannot create: File name too long");
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_TRUE(std::filesystem::is_empty(dir));
  }
}

TEST(Idx, HostileAndBrokenFiles) {
  const std::string dir = tmp_dir();
  const Space s = Space::tensor({2, 2}, 256, 10);
  auto rd = [&](const std::string& p, json extra = json::object()) {
    extra["path"] = p;
    extra["format"] = "idx";
    return read_dataset(extra, s);
  };
  // 4294967295 x 28 x 28 = 3.4e12 values: refused before allocating.
  const Space s28 = Space::tensor({28, 28}, 256);
  const std::string huge = gzip(dir + "/huge.gz", idx_header(3, {0xffffffffu, 28, 28}) + "abcd");
  expect_error<FormatError>([&] { read_dataset(json{{"path", huge}, {"format", "idx"}}, s28); },
                            huge + ": the header claims 4294967295 items", "more than the limit");
  // Under the limit but more than the file can hold: refused before allocating too.
  const std::string lie = gzip(dir + "/lie.gz", idx_header(3, {0xffffffffu, 2, 2}) + "abcd");
  expect_error<FormatError>([&] { rd(lie); }, lie + ": the header claims 4294967295 items", "truncated or corrupt");
  const std::string lie2 = write_file(dir + "/lie", idx_header(3, {1000000000u, 2, 2}) + "abcd");
  expect_error<FormatError>([&] { rd(lie2); }, lie2 + ": truncated: the header claims 1000000000 items");
  const std::string magic = write_file(dir + "/magic", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(16, 'x'));
  expect_error<FormatError>([&] { rd(magic); }, magic + ": not an IDX file (magic 0x89504e47");
  const std::string type = write_file(dir + "/type", std::string("\0\0\x0d\x03", 4) + be32(1) + be32(2) + be32(2));
  expect_error<FormatError>([&] { rd(type); }, type + ": IDX element type 0x0d");
  const std::string cut = write_file(dir + "/cut", idx_header(3, {10, 2, 2}) + std::string(30, '\x05'));
  expect_error<FormatError>([&] { rd(cut); }, cut + ": truncated: the header claims 10 items (56 bytes), the file has 46");
  const std::string cutgz = dir + "/cut.gz";
  gzip(cutgz, idx_header(3, {100, 2, 2}) + std::string(400, '\x07'));
  const std::string gzbytes = read_file(cutgz);
  write_file(cutgz, gzbytes.substr(0, gzbytes.size() - 12));
  expect_error<FormatError>([&] { rd(cutgz); }, cutgz + ": ");
  const std::string extra = write_file(dir + "/extra", idx_header(3, {1, 2, 2}) + std::string(5, '\x01'));
  expect_error<FormatError>([&] { rd(extra); }, extra + ": data after the 1 items");
  const std::string shape = write_file(dir + "/shape", idx_header(3, {1, 3, 3}) + std::string(9, '\x01'));
  expect_error<DataError>([&] { rd(shape); }, shape + ": samples are 3x3, the space", "expects 2x2");
  // Extents whose product wraps around 2^64 (2^32-1 to the 5th) are refused, not mistaken for 2x2.
  const std::string wrap = write_file(dir + "/wrap", idx_header(6, {1, 0xffffffffu, 0xffffffffu, 0xffffffffu,
                                                                   0xffffffffu, 0xffffffffu}) + "abcd");
  expect_error<DataError>([&] { rd(wrap); }, wrap + ": samples are 4294967295x", "expects 2x2");
  // Extents that multiply to D fit a flat space.
  const std::string flat = write_file(dir + "/flat", idx_header(3, {1, 2, 2}) + "\x01\x02\x03\x04");
  EXPECT_EQ(read_dataset(json{{"path", flat}, {"format", "idx"}}, Space::tensor({4}, 256)).row(0),
            (std::vector<int32_t>{1, 2, 3, 4}));
  const std::string empty = write_file(dir + "/empty", "");
  expect_error<FormatError>([&] { rd(empty); }, empty + ": empty file");
  expect_error<IoError>([&] { rd(dir); }, dir + ": is a directory");
  const std::string hdr = write_file(dir + "/hdr", std::string("\0\0\x08\x03\0\0", 6));
  expect_error<FormatError>([&] { rd(hdr); }, hdr + ": truncated IDX header");

  const std::string good = write_file(dir + "/good", idx_header(3, {2, 2, 2}) + std::string(8, '\x01'));
  const std::string few = write_file(dir + "/few", idx_header(1, {1}) + "\x01");
  expect_error<FormatError>([&] { rd(good, {{"labels", few}}); }, few + ": 1 labels, but the images file has 2");
  const std::string big = write_file(dir + "/big", idx_header(1, {2}) + "\x01\x0c");
  expect_error<DataError>([&] { rd(good, {{"labels", big}}); }, big + ": label 1 is 12, outside {0..9}");
  expect_error<FormatError>([&] { rd(few); }, few + ": 1-dimensional IDX file");
  expect_error<ConfigError>(
      [&] { read_dataset(json{{"path", good}, {"format", "idx"}, {"labels", few}}, Space::tensor({2, 2}, 256)); },
      "data.labels: a labels file is given but the space has no labels");
  const std::string wide = write_file(dir + "/wide", idx_header(3, {1, 2, 2}) + "\x01\x02\x03\x09");
  expect_error<DataError>([&] { read_dataset(json{{"path", wide}, {"format", "idx"}}, Space::tensor({2, 2}, 4)); },
                          wide + ": item 0: position [1,1]: value 9 outside {0..3}");
  // A threshold turns bytes into 0/1 for any levels.
  EXPECT_EQ(read_dataset(json{{"path", wide}, {"format", "idx"}, {"threshold", 3}}, Space::tensor({2, 2}, 4)).row(0),
            (std::vector<int32_t>{0, 0, 1, 1}));
}

TEST(Cifar, RoundTripAndErrors) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({3, 32, 32}, 256, 10), Space::tensor({3, 4, 4}, 256)}) {
    const Dataset d = random_dataset(s, 5, 41);
    write_dataset(d, dir + "/x.bin", "");
    EXPECT_EQ(std::filesystem::file_size(dir + "/x.bin"), 5 * (1 + uint64_t(s.dims())));
    expect_same(d, read_dataset(json{{"path", dir + "/x.bin"}}, s));
  }
  const Space s = Space::tensor({3, 4, 4}, 256, 10);
  const std::string odd = write_file(dir + "/odd.bin", std::string(2 * 49 + 3, '\x01'));
  expect_error<FormatError>([&] { read_dataset(json{{"path", odd}}, s); },
                            odd + ": size 101 bytes is not a multiple of the record size 49");
  const std::string empty = write_file(dir + "/empty.bin", "");
  expect_error<FormatError>([&] { read_dataset(json{{"path", empty}}, s); }, empty + ": empty file");
  std::string recs(3 * 49, '\x02');
  recs[2 * 49] = '\x0a';
  const std::string lab = write_file(dir + "/lab.bin", recs);
  expect_error<DataError>([&] { read_dataset(json{{"path", lab}}, s); },
                          lab + ": record 3: label byte 10 outside the CIFAR-10 classes 0..9");
  // The label byte is checked whatever the space: one without labels drops it, but a byte of 200
  // means the file is not a CIFAR-10 batch.
  recs[2 * 49] = char(200);
  const std::string lab200 = write_file(dir + "/lab200.bin", recs);
  expect_error<DataError>([&] { read_dataset(json{{"path", lab200}}, Space::tensor({3, 4, 4}, 256)); },
                          lab200 + ": record 3: label byte 200 outside the CIFAR-10 classes 0..9");
  expect_error<IoError>([&] { read_dataset(json{{"path", dir}, {"format", "cifar"}}, s); }, dir + ": is a directory");
}

// The real Fashion-MNIST training set, when installed.
TEST(Idx, FashionMnistTrainingSet) {
  const std::string images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  const std::string labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images) || !std::filesystem::exists(labels))
    GTEST_SKIP() << "Fashion-MNIST not installed at /usr/share/datasets/fashion-mnist/";
  for (int levels : {2, 256}) {
    const Space s = Space::tensor({28, 28}, levels, 10);
    const auto t0 = std::chrono::steady_clock::now();
    const Dataset d = read_dataset(json{{"path", images}, {"labels", labels}, {"format", "idx"}}, s);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[ timing   ] Fashion-MNIST train, levels " << levels << ": " << secs << " s, "
              << d.memory_bytes() / 1e6 << " MB\n";
    ASSERT_EQ(d.size(), 60000u);
    EXPECT_LE(d.memory_bytes(), 60000u * 784u + 60000u * 4u + 4096u);
    EXPECT_LT(secs, 5.0);  // ~0.3 s on an idle machine; generous for a loaded one
    std::vector<int> per_label(10, 0);
    for (size_t i = 0; i < d.size(); ++i) ++per_label[size_t(d.label(i))];
    EXPECT_EQ(per_label, std::vector<int>(10, 6000));
    EXPECT_EQ(d.label(0), 9);  // the first training item is an ankle boot
    // Known answers from Python's gzip module: the first image's bytes sum to
    // 76247, and 343 of them are >= 128.
    int64_t sum = 0;
    for (int64_t k = 0; k < 784; ++k) sum += d.at(0, k);
    EXPECT_EQ(sum, levels == 2 ? 343 : 76247);
  }
}

}  // namespace
}  // namespace dgm
