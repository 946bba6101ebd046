// image_test.cc — images: PNG directory round trips (RGB 3x4x4 with label
// folders, binary), single files in every written format (PNG, BMP, PGM, PPM,
// PBM), ASCII netpbm, JPEG, channel conversion (BT.601 luma), list files,
// contact sheets, and the errors for wrong sizes, garbage and truncation.
#include <stb_image_write.h>

#include <algorithm>
#include <filesystem>

#include "dgm/io/image.h"
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

// The samples ordered by label, keeping the order within a label (how a
// directory of label folders reads back).
Dataset by_label(const Dataset& d) {
  std::vector<size_t> rows(d.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) { return d.label(a) < d.label(b); });
  return d.subset(rows);
}

TEST(Image, RgbDirectoryRoundTripWithLabelFolders) {
  const std::string dir = tmp_dir() + "/out";
  const Space s = Space::tensor({3, 4, 4}, 256, 3);
  const Dataset d = random_dataset(s, 12, 21);
  write_dataset(d, dir, "image");
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/0"));
  const Dataset back = read_dataset(json{{"path", dir}}, s);
  expect_same(by_label(d), back);
  expect_error<IoError>([&] { write_dataset(d, dir, "image"); }, dir + ": directory is not empty");
}

TEST(Image, BinaryAndGrayRoundTrips) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({5, 7}, 2), Space::tensor({1, 3, 2}, 256)}) {
    const Dataset d = random_dataset(s, 9, 22);
    const std::string out = dir + "/" + std::to_string(s.levels());
    write_dataset(d, out, "image");
    EXPECT_TRUE(std::filesystem::exists(out + "/000008.png"));
    expect_same(d, read_dataset(json{{"path", out}, {"format", "image"}}, s));
  }
}

TEST(Image, SingleFilesInEveryWrittenFormat) {
  const std::string dir = tmp_dir();
  const Dataset bin = random_dataset(Space::tensor({6, 11}, 2), 1, 23);
  const Dataset gray = random_dataset(Space::tensor({1, 5, 3}, 256), 1, 24);
  const Dataset rgb = random_dataset(Space::tensor({3, 2, 5}, 256), 1, 25);
  for (const char* ext : {".png", ".bmp", ".pgm", ".pbm"}) {
    write_image_file(bin, 0, dir + "/b" + ext);
    EXPECT_EQ(read_image_file(dir + "/b" + ext, bin.space()), bin.row(0)) << ext;
  }
  for (const char* ext : {".png", ".bmp", ".pgm"}) {
    write_image_file(gray, 0, dir + "/g" + ext);
    EXPECT_EQ(read_image_file(dir + "/g" + ext, gray.space()), gray.row(0)) << ext;
  }
  for (const char* ext : {".png", ".bmp", ".ppm"}) {
    write_image_file(rgb, 0, dir + "/c" + ext);
    EXPECT_EQ(read_image_file(dir + "/c" + ext, rgb.space()), rgb.row(0)) << ext;
  }
  expect_error<ConfigError>([&] { write_image_file(rgb, 0, dir + "/c.pgm"); }, dir + "/c.pgm: .pgm is grayscale");
  expect_error<ConfigError>([&] { write_image_file(gray, 0, dir + "/g.pbm"); }, dir + "/g.pbm:", "binary");
}

TEST(Image, AsciiNetpbmAndMaxval) {
  const std::string dir = tmp_dir();
  // P1: 1 is black (0), 0 is white (255 -> 1 in a binary space).
  const std::string p1 = write_file(dir + "/a.pbm", "P1\n# comment\n3 2\n1 0 1\n0 0 1\n");
  EXPECT_EQ(read_image_file(p1, Space::tensor({2, 3}, 2)), (std::vector<int32_t>{0, 1, 0, 1, 1, 0}));
  // P2 with maxval 15 scales to 0..255.
  const std::string p2 = write_file(dir + "/a.pgm", "P2 2 1 15 15 5\n");
  EXPECT_EQ(read_image_file(p2, Space::tensor({1, 2}, 256)), (std::vector<int32_t>{255, 85}));
  // P6 with 16-bit samples.
  const std::string p6 = write_file(dir + "/a.ppm", std::string("P6 1 1 65535\n\xff\xff\x00\x00\x80\x00", 19));
  EXPECT_EQ(read_image_file(p6, Space::tensor({3, 1, 1}, 256)), (std::vector<int32_t>{255, 0, 128}));
  const std::string bad = write_file(dir + "/bad.pgm", "P2 2 1 15 15 16\n");
  expect_error<FormatError>([&] { read_image_file(bad, Space::tensor({1, 2}, 256)); }, bad + ": netpbm:",
                            "exceeds maxval");
  const std::string cut = write_file(dir + "/cut.pgm", "P5 4 4 255\nabc");
  expect_error<FormatError>([&] { read_image_file(cut, Space::tensor({4, 4}, 256)); }, cut + ": netpbm: truncated");
}

TEST(Image, ChannelConversion) {
  const std::string dir = tmp_dir();
  Dataset rgb(Space::tensor({3, 1, 3}, 256));
  // Pixels (R,G,B): (255,0,0), (0,255,0), (10,20,200); CHW layout.
  rgb.push_back({255, 0, 10, 0, 255, 20, 0, 0, 200});
  write_image_file(rgb, 0, dir + "/c.png");
  // BT.601 luma, rounded: 0.299*255 = 76.2, 0.587*255 = 149.7, 2.99+11.74+22.8 = 37.5 -> 38.
  EXPECT_EQ(read_image_file(dir + "/c.png", Space::tensor({1, 3}, 256)), (std::vector<int32_t>{76, 150, 38}));
  Dataset gray(Space::tensor({1, 2}, 256));
  gray.push_back({7, 200});
  write_image_file(gray, 0, dir + "/g.png");
  EXPECT_EQ(read_image_file(dir + "/g.png", Space::tensor({3, 1, 2}, 256)),
            (std::vector<int32_t>{7, 200, 7, 200, 7, 200}));
  // Threshold: v >= t -> 1.
  EXPECT_EQ(read_image_file(dir + "/g.png", Space::tensor({1, 2}, 2), 7), (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(read_image_file(dir + "/g.png", Space::tensor({1, 2}, 2), 8), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(read_image_file(dir + "/g.png", Space::tensor({1, 2}, 2)), (std::vector<int32_t>{0, 1}));
  expect_error<ConfigError>([&] { read_image_file(dir + "/g.png", Space::tensor({1, 2}, 16)); },
                            dir + "/g.png: images are 8-bit");
  EXPECT_EQ(read_image_file(dir + "/g.png", Space::tensor({1, 2}, 16), 100), (std::vector<int32_t>{0, 1}));
}

TEST(Image, Jpeg) {
  const std::string dir = tmp_dir();
  std::vector<uint8_t> px(16 * 16, 200);
  for (int y = 0; y < 16; ++y)
    for (int x = 8; x < 16; ++x) px[size_t(y * 16 + x)] = 10;
  const std::string p = dir + "/a.jpg";
  ASSERT_NE(stbi_write_jpg(p.c_str(), 16, 16, 1, px.data(), 100), 0);
  const auto v = read_image_file(p, Space::tensor({16, 16}, 256));
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], px[i], 8) << i;
  const auto b = read_dataset(json{{"path", p}}, Space::tensor({1, 16, 16}, 2));
  ASSERT_EQ(b.size(), 1u);
  for (int64_t i = 0; i < 256; ++i) EXPECT_EQ(b.at(0, i), i % 16 < 8 ? 1 : 0) << i;
}

TEST(Image, ListFileWithLabels) {
  const std::string dir = tmp_dir();
  const Dataset d = random_dataset(Space::tensor({4, 4}, 256, 5), 3, 26);
  std::string list;
  for (size_t i = 0; i < d.size(); ++i) {
    write_image_file(d, i, dir + "/img" + std::to_string(i) + ".bmp");
    list += "img" + std::to_string(i) + ".bmp\t" + std::to_string(d.label(i)) + "\n";
  }
  const std::string lp = write_file(dir + "/all.list", list + "\n");
  expect_same(d, read_dataset(json{{"path", lp}, {"format", "image"}}, d.space()));
  const std::string bad = write_file(dir + "/bad.txt", "img0.bmp\t9\n");
  expect_error<DataError>([&] { read_dataset(json{{"path", bad}, {"format", "image"}}, d.space()); }, bad + ":1: ",
                          "label 9 outside");
  const std::string missing = write_file(dir + "/missing.txt", "nope.png\n");
  expect_error<IoError>([&] { read_dataset(json{{"path", missing}, {"format", "image"}}, d.space()); },
                        dir + "/nope.png: cannot open");
}

TEST(Image, DirectoryLabelsByName) {
  const std::string dir = tmp_dir();
  const Dataset d = random_dataset(Space::tensor({2, 2}, 256), 3, 27);
  for (const char* cls : {"cat", "dog"}) std::filesystem::create_directories(dir + "/named/" + cls);
  write_image_file(d, 0, dir + "/named/dog/a.png");
  write_image_file(d, 1, dir + "/named/cat/b.png");
  write_image_file(d, 2, dir + "/named/cat/a.png");
  write_file(dir + "/named/cat/.hidden", "ignored");
  const Dataset back = read_dataset(json{{"path", dir + "/named"}}, Space::tensor({2, 2}, 256, 2));
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back.row(0), d.row(2));  // cat/a.png
  EXPECT_EQ(back.label(0), 0);
  EXPECT_EQ(back.row(2), d.row(0));  // dog/a.png
  EXPECT_EQ(back.label(2), 1);
  expect_error<DataError>([&] { read_dataset(json{{"path", dir + "/named"}}, Space::tensor({2, 2}, 256, 3)); },
                          dir + "/named: 2 label subfolders, the space has 3 labels");
  expect_error<ConfigError>([&] { read_dataset(json{{"path", dir + "/named"}}, Space::tensor({2, 2}, 256)); },
                            dir + "/named: has label subfolders");
  write_file(dir + "/named/stray.png", "x");
  expect_error<FormatError>([&] { read_dataset(json{{"path", dir + "/named"}}, Space::tensor({2, 2}, 256, 2)); },
                            dir + "/named: mixes files");
  std::filesystem::create_directories(dir + "/empty");
  expect_error<FormatError>([&] { read_dataset(json{{"path", dir + "/empty"}}, Space::tensor({2, 2}, 256)); },
                            dir + "/empty: no images");
  std::filesystem::create_directories(dir + "/notes");
  write_file(dir + "/notes/readme.md", "hi");
  expect_error<FormatError>([&] { read_dataset(json{{"path", dir + "/notes"}}, Space::tensor({2, 2}, 256)); },
                            dir + "/notes/readme.md: not an image file");
}

TEST(Image, Errors) {
  const std::string dir = tmp_dir();
  const Dataset d = random_dataset(Space::tensor({3, 4, 4}, 256), 1, 28);
  write_image_file(d, 0, dir + "/a.png");
  const Space gray28 = Space::tensor({28, 28}, 256);
  expect_error<DataError>([&] { read_image_file(dir + "/a.png", gray28); },
                          dir + "/a.png: image is 4x4 (width x height), the space expects 28x28");
  const std::string png = read_file(dir + "/a.png");
  const std::string cut = write_file(dir + "/cut.png", png.substr(0, png.size() / 2));
  expect_error<FormatError>([&] { read_image_file(cut, d.space()); }, cut + ": truncated PNG");
  const std::string junk = write_file(dir + "/junk.png", "this is not an image at all");
  expect_error<FormatError>([&] { read_image_file(junk, d.space()); }, junk + ": not a PNG, JPEG, BMP or netpbm");
  const std::string empty = write_file(dir + "/empty.png", "");
  expect_error<FormatError>([&] { read_image_file(empty, d.space()); }, empty + ": empty file");
  std::filesystem::create_directories(dir + "/d.png");
  expect_error<IoError>([&] { read_image_file(dir + "/d.png", d.space()); }, dir + "/d.png: is a directory");
  expect_error<ConfigError>([&] { read_image_file(dir + "/a.png", Space::tensor({2, 4, 4}, 256)); },
                            dir + "/a.png: images need a space");
  expect_error<ConfigError>([&] { read_dataset(json{{"path", "-"}, {"format", "image"}}, d.space()); },
                            "data.path: '-' (stdin) is read only by the text formats");
}

TEST(Image, ContactSheet) {
  const std::string dir = tmp_dir();
  Dataset d(Space::tensor({2, 3}, 2));
  for (int i = 0; i < 5; ++i) d.push_back({1, 0, 1, 0, 1, i % 2});
  write_sheet_png(d, dir + "/sheet.png", 2, 2);
  // Gaps are max(2, scale / 2) = 2 pixels: 2 columns of 3*2 pixels + 2 = 14
  // wide; 3 rows of 2*2 pixels + 2 gaps of 2 = 16 high.
  const auto px = read_image_file(dir + "/sheet.png", Space::tensor({16, 14}, 256));
  auto at = [&](int y, int x) { return px[size_t(y * 14 + x)]; };
  EXPECT_EQ(at(0, 0), 255);
  EXPECT_EQ(at(1, 3), 0);
  EXPECT_EQ(at(0, 6), 128);   // vertical gap
  EXPECT_EQ(at(0, 7), 128);
  EXPECT_EQ(at(4, 0), 128);   // horizontal gap
  EXPECT_EQ(at(3, 5), 0);     // sample 0, (1,2) = 0
  EXPECT_EQ(at(3, 13), 255);  // sample 1, (1,2) = 1
  EXPECT_EQ(at(9, 13), 255);  // sample 3, (1,2) = 1
  EXPECT_EQ(at(15, 13), 128); // no sample 5
  expect_error<DataError>([&] { write_sheet_png(Dataset(d.space()), dir + "/e.png", 2, 1); }, dir + "/e.png: no samples");
}

}  // namespace
}  // namespace dgm
