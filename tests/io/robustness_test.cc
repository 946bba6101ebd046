// robustness_test.cc — damaged inputs never crash: valid files of every
// format, truncated at random points and with random bytes overwritten
// (seeded), either read or throw a dgm::Error whose message starts with the
// file name. Run under -DDGM_SANITIZE=ON this also checks memory safety.
#include "dgm/io/image.h"
#include "dgm/io/read.h"
#include "io/io_test_util.h"

namespace dgm {
namespace {

using test::random_dataset;
using test::read_file;
using test::tmp_dir;
using test::write_file;

void damage_and_read(const std::string& good, const std::string& format, const Space& space, json extra,
                     uint64_t seed) {
  const std::string bytes = read_file(good);
  ASSERT_FALSE(bytes.empty());
  Rng rng(seed);
  for (int trial = 0; trial < 60; ++trial) {
    std::string b = bytes;
    if (trial % 2 == 0) {
      b.resize(size_t(rng.below(b.size())));
    } else {
      const int flips = 1 + int(rng.below(4));
      for (int k = 0; k < flips; ++k) b[size_t(rng.below(b.size()))] = char(rng.below(256));
    }
    const std::string p = write_file(good + ".bad", b);
    json src = extra;
    src["path"] = p;
    src["format"] = format;
    try {
      const Dataset d = read_dataset(src, space);
      EXPECT_FALSE(d.empty());
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(p, 0), 0u) << format << " trial " << trial << ": " << e.what();
    }
  }
}

TEST(Robustness, DamagedFilesThrowOrRead) {
  const std::string dir = tmp_dir();
  const Space bin = Space::tensor({4, 4}, 2, 3);
  const Space rgb = Space::tensor({3, 6, 5}, 256, 3);
  const Dataset b = random_dataset(bin, 12, 61, 3);
  const Dataset c = random_dataset(rgb, 4, 62);
  for (const char* f : {"grid", "lines", "csv", "jsonl"}) {
    write_dataset(b, dir + "/x." + f, f);
    damage_and_read(dir + "/x." + f, f, bin, json::object(), 63);
  }
  write_dataset(c, dir + "/x.idx.gz", "idx");
  damage_and_read(dir + "/x.idx.gz", "idx", rgb, {{"labels", idx_labels_path(dir + "/x.idx.gz")}}, 64);
  write_dataset(c, dir + "/x.idx", "idx");
  damage_and_read(dir + "/x.idx", "idx", rgb, json::object(), 65);
  write_dataset(c, dir + "/x.bin", "cifar");
  damage_and_read(dir + "/x.bin", "cifar", rgb, json::object(), 66);
  for (const char* ext : {".png", ".bmp", ".ppm"}) {
    write_image_file(c, 0, dir + "/x" + ext);
    damage_and_read(dir + "/x" + ext, "image", rgb, json::object(), 67);
  }
}

}  // namespace
}  // namespace dgm
