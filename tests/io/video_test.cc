// video_test.cc — the video codec: GIFs written and read through giflib
// give back the clips exactly (gray, binary, RGB with a clip palette),
// frames composed by transparency and every disposal method, folders of
// frames, sheets, partial clips for completion,
// and bad input: truncated and corrupt GIFs, frames of different sizes,
// wrong frame counts and sizes, a decode larger than the memory budget.
#include "dgm/io/video.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "dgm/error.h"
#include "dgm/io/read.h"
#include "io/io_test_util.h"

namespace dgm {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::read_file;
using test::tmp_dir;
using test::write_file;

Records read(const VideoCodec& c, const Space& space, const std::string& path, const std::string& format = "gif") {
  Records r(space, path);
  json src = json::object();
  ConfigSection opts(src, "data");
  c.read(path, format, opts, r);
  return r;
}

// Rows of `r` matched to the samples of `d` by the written file's index.
void expect_clips(const Records& r, const Dataset& d) {
  ASSERT_EQ(r.data.size(), d.size());
  for (size_t i = 0; i < r.data.size(); ++i) {
    const size_t k = size_t(std::stoul(fs::path(r.source(i)).stem().string()));
    EXPECT_EQ(r.data.row(i), d.row(k)) << r.source(i);
    EXPECT_EQ(r.data.label(i), d.label(k)) << r.source(i);
  }
}

TEST(Video, GifRoundTripsGrayBinaryAndRgb) {
  const std::string dir = tmp_dir();
  const VideoCodec c(10);
  for (const Space& space : {Space::tensor({3, 1, 5, 7}, 256, 4), Space::tensor({4, 1, 6, 6}, 2, 3),
                             Space::tensor({2, 3, 3, 5}, 256, 2)}) {
    const Dataset d = test::random_dataset(space, 6, 11);
    const std::string out = dir + "/" + std::to_string(space.dims()) + "-" + std::to_string(space.levels());
    c.write_file(d, "gif", out);
    expect_clips(read(c, space, out), d);
  }
  // One clip, one file.
  const Space space = Space::tensor({2, 1, 4, 4}, 256);
  const Dataset d = test::random_dataset(space, 1, 3);
  c.write_file(d, "gif", dir + "/one.gif");
  int64_t frames = 0;
  EXPECT_EQ(read_gif_clip(dir + "/one.gif", space, -1, false, &frames), d.row(0));
  EXPECT_EQ(frames, 2);
  expect_error<ConfigError>([&] { c.write_file(test::random_dataset(space, 2, 3), "gif", dir + "/two.gif"); },
                            dir + "/two.gif: one GIF holds one clip");
  // An RGB clip of more than 256 colours does not fit a GIF.
  const Space rgb = Space::tensor({5, 3, 8, 8}, 256);  // 320 pixels
  expect_error<DataError>([&] { c.write_file(test::random_dataset(rgb, 1, 5), "gif", dir + "/rgb.gif"); },
                          dir + "/rgb.gif: the clip has more than 256 colours");
  EXPECT_FALSE(fs::exists(dir + "/rgb.gif"));
}

// A clip whose frames have a transparent colour and use each disposal method
// reads as a viewer shows it. The writer's clip is edited in place: every
// graphic control extension gets transparent index 3 and a disposal method.
TEST(Video, GifFramesAreComposedByTransparencyAndDisposal) {
  const std::string dir = tmp_dir();
  const VideoCodec c(8);
  const Space space = Space::tensor({4, 1, 3, 4}, 256);
  const int64_t HW = 12;
  Dataset d(space);
  std::vector<int32_t> x(size_t(4 * HW));
  for (size_t k = 0; k < x.size(); ++k) x[k] = int32_t((k * 5 + k / 7) % 7 + 1);  // 1..7; 3 is transparent
  d.push_back(x);
  c.write_file(d, "gif", dir + "/clip.gif");
  std::string gif = read_file(dir + "/clip.gif");
  const int disposal[4] = {1, 3, 2, 0};  // none, restore to previous, to background, unspecified
  size_t at = 0;
  for (int f = 0; f < 4; ++f, at += 3) {
    at = gif.find("\x21\xF9\x04", at);
    ASSERT_NE(at, std::string::npos);
    gif[at + 3] = char((gif[at + 3] & ~0x1D) | disposal[f] << 2 | 1);
    gif[at + 6] = 3;
  }
  const std::string edited = write_file(dir + "/edited.gif", gif);
  std::vector<int32_t> want(x.size());
  std::vector<int32_t> screen(size_t(HW), 0);
  auto draw = [&](int f) {
    for (int64_t k = 0; k < HW; ++k)
      if (x[size_t(f * HW + k)] != 3) screen[size_t(k)] = x[size_t(f * HW + k)];
    std::copy(screen.begin(), screen.end(), want.begin() + f * HW);
  };
  draw(0);                                      // drawn over black; disposal 1 keeps it
  const std::vector<int32_t> first = screen;
  draw(1);                                      // over frame 1; disposal 3 restores frame 1
  screen = first;
  draw(2);                                      // over frame 1 again; disposal 2 clears to black
  std::fill(screen.begin(), screen.end(), 0);
  draw(3);
  int64_t n = 0;
  EXPECT_EQ(read_gif_clip(edited, space, -1, false, &n), want);
  EXPECT_EQ(n, 4);
  // The same file without its trailer reads the same.
  ASSERT_EQ(gif.back(), '\x3B');
  const std::string open_end = write_file(dir + "/open.gif", gif.substr(0, gif.size() - 1));
  EXPECT_EQ(read_gif_clip(open_end, space, -1, false, &n), want);
}

TEST(Video, FramesFoldersAndSheets) {
  const std::string dir = tmp_dir();
  const VideoCodec c(8);
  const Space space = Space::tensor({3, 1, 4, 6}, 256, 2);
  const Dataset d = test::random_dataset(space, 4, 2);
  c.write_file(d, "frames", dir + "/clips");  // clips/<label>/<clip>/<frame>.png
  const Records r = read(c, space, dir + "/clips", "frames");
  expect_clips(r, d);
  // One clip folder.
  const Space plain = Space::tensor({3, 1, 4, 6}, 256);
  const std::string one = r.source(0);
  const Records r1 = read(c, plain, one, "frames");
  ASSERT_EQ(r1.data.size(), 1u);
  EXPECT_EQ(r1.data.row(0), r.data.row(0));
  // A folder of unlabeled clip folders.
  c.write_file(test::random_dataset(plain, 3, 4), "frames", dir + "/plain");
  EXPECT_EQ(read(c, plain, dir + "/plain", "frames").data.size(), 3u);
  // A sheet: a row of T frames a clip, scaled x8 (64 / 6, at most 8), 4-pixel gaps.
  c.write_file(d, "sheet", dir + "/sheet.png");
  const std::string png = read_file(dir + "/sheet.png");
  ASSERT_GE(png.size(), 24u);
  auto be32 = [&](size_t i) { return uint32_t(uint8_t(png[i])) << 24 | uint32_t(uint8_t(png[i + 1])) << 16 |
                                     uint32_t(uint8_t(png[i + 2])) << 8 | uint32_t(uint8_t(png[i + 3])); };
  EXPECT_EQ(be32(16), 3u * 6 * 8 + 2 * 4);  // width: 3 frames of 6 px x8, 2 gaps
  EXPECT_EQ(be32(20), 4u * 4 * 8 + 3 * 4);  // height: 4 clips of 4 px x8, 3 gaps
  expect_error<ConfigError>([&] { (void)read(c, space, dir + "/sheet.png", "sheet"); }, dir + "/sheet.png: the sheet");
}

TEST(Video, PartialClipsForCompletion) {
  const std::string dir = tmp_dir();
  const VideoCodec c(8);
  const Space two = Space::tensor({2, 1, 3, 3}, 256), four = Space::tensor({4, 1, 3, 3}, 256);
  const Dataset d = test::random_dataset(two, 1, 9);
  c.write_file(d, "gif", dir + "/start.gif");
  std::vector<uint8_t> known;
  const Dataset p = c.read_partial(dir + "/start.gif", "gif", four, &known);
  ASSERT_EQ(p.size(), 1u);
  ASSERT_EQ(known.size(), 36u);
  for (size_t k = 0; k < 36; ++k) EXPECT_EQ(known[k], k < 18 ? 1 : 0) << k;
  for (int64_t k = 0; k < 18; ++k) EXPECT_EQ(p.at(0, k), d.at(0, k));
  known.clear();
  expect_error<DataError>([&] { (void)c.read_partial(dir + "/start.gif", "gif", two, &known); },
                          dir + "/start.gif: 2 frames", "nothing is left to continue");
  // A single frame image starts a clip too.
  c.write_file(d, "frames", dir + "/f");
  known.clear();
  const Dataset q = c.read_partial(dir + "/f/000000/00.png", "frames", four, &known);
  EXPECT_EQ(std::count(known.begin(), known.end(), 1), 9);
}

TEST(Video, BadGifsAreOneLineNamingTheFile) {
  const std::string dir = tmp_dir();
  const VideoCodec c(8);
  const Space space = Space::tensor({2, 1, 6, 6}, 256);
  c.write_file(test::random_dataset(space, 1, 1), "gif", dir + "/ok.gif");
  const std::string gif = read_file(dir + "/ok.gif");
  int64_t n = 0;
  const std::string cut = write_file(dir + "/cut.gif", gif.substr(0, gif.size() * 2 / 3));
  expect_error<FormatError>([&] { (void)read_gif_clip(cut, space, -1, false, &n); }, cut + ": truncated GIF");
  const std::string junk = write_file(dir + "/junk.gif", "GIF? no, not a GIF at all");
  expect_error<FormatError>([&] { (void)read_gif_clip(junk, space, -1, false, &n); }, junk + ": not a GIF");
  const std::string empty = write_file(dir + "/empty.gif", "");
  expect_error<FormatError>([&] { (void)read_gif_clip(empty, space, -1, false, &n); }, empty + ": empty file");
  // A corrupt block type after the header.
  std::string bad = gif;
  const size_t first = bad.find("\x21\xF9\x04");
  ASSERT_NE(first, std::string::npos);
  bad[first] = '\x77';
  const std::string block = write_file(dir + "/block.gif", bad);
  expect_error<FormatError>([&] { (void)read_gif_clip(block, space, -1, false, &n); }, block + ": corrupt GIF: unknown block 0x77");
  // The second frame 3x3 at (1,1): frames of different sizes.
  std::string sub = gif;
  const size_t second = sub.find("\x21\xF9\x04", first + 1);
  ASSERT_NE(second, std::string::npos);
  const size_t desc = second + 8;
  ASSERT_EQ(sub[desc], '\x2C');
  sub[desc + 1] = 1, sub[desc + 3] = 1, sub[desc + 5] = 3, sub[desc + 7] = 3;
  const std::string sizes = write_file(dir + "/sizes.gif", sub);
  expect_error<DataError>([&] { (void)read_gif_clip(sizes, space, -1, false, &n); },
                          sizes + ": frame 2 is 3x3 at (1,1), the screen 6x6: frames of different sizes");
  // Wrong frame count, wrong screen size.
  expect_error<DataError>([&] { (void)read_gif_clip(dir + "/ok.gif", Space::tensor({3, 1, 6, 6}, 256), -1, false, &n); },
                          dir + "/ok.gif: 2 frames, the space has 3");
  expect_error<DataError>([&] { (void)read_gif_clip(dir + "/ok.gif", Space::tensor({2, 1, 6, 7}, 256), -1, false, &n); },
                          dir + "/ok.gif: frames are 6x6");
  // A screen of 65535 x 65535 with thousands of frames claimed: refused by
  // the space before anything is decoded, and by the memory budget when the
  // space is that large.
  std::string huge = gif;
  huge[6] = huge[7] = huge[8] = huge[9] = '\xff';
  const std::string big = write_file(dir + "/big.gif", huge);
  expect_error<DataError>([&] { (void)read_gif_clip(big, space, -1, false, &n); }, big + ": frame 1 is 6x6");
  setenv("DGM_MEMORY_LIMIT_MB", "1", 1);
  std::string wide = gif;
  // 1000 x 1000 screen and frames: a 16 MB decode.
  for (size_t at : {size_t(6), second + 8 + 5, first + 8 + 5}) wide[at] = '\xe8', wide[at + 1] = '\x03';
  for (size_t at : {size_t(8), second + 8 + 7, first + 8 + 7}) wide[at] = '\xe8', wide[at + 1] = '\x03';
  const std::string mem = write_file(dir + "/mem.gif", wide);
  expect_error<DataError>([&] { (void)read_gif_clip(mem, Space::tensor({2, 1, 1000, 1000}, 256), -1, false, &n); },
                          mem + ": decoding 2 frames of 1000x1000 needs", "memory");
  unsetenv("DGM_MEMORY_LIMIT_MB");
}

TEST(Video, SpacesAndCodecKeys) {
  Space space;
  const auto c = VideoCodec::fit({{"train", "x"}, {"format", "gif"}, {"fps", 12}},
                                 {{"shape", {8, 1, 32, 32}}, {"levels", 2}, {"labels", 10}}, &space);
  EXPECT_EQ(space, Space::tensor({8, 1, 32, 32}, 2, 10));
  EXPECT_EQ(c->to_json()["fps"], 12);
  expect_error<ConfigError>([&] { (void)VideoCodec::fit({{"format", "gif"}}, {{"shape", {32, 32}}, {"levels", 256}}, &space); },
                            "space: video needs a space {T, C, H, W}");
  expect_error<ConfigError>([&] { (void)VideoCodec::fit({{"format", "gif"}}, {{"shape", {2, 1, 3, 3}}, {"levels", 16}}, &space); },
                            "space: video needs", "levels 2 or 256");
}

}  // namespace
}  // namespace dgm
