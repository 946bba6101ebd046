// npy_test.cc — the .npy reader and writer: round trips for every level
// width with labels, headers of every integer dtype in both byte orders and
// all three format versions, the shapes a space accepts and refuses, labels
// files, values outside the levels (the message names the index), and
// malformed files (bad magic, version, dict, dtype, Fortran order,
// truncated, trailing bytes, hostile sizes) refused in one line before
// anything is allocated for them. tests/cli/npy.sh checks files numpy itself
// wrote and reads dgm's files back with numpy.
#include <cstring>

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

// A .npy file as numpy writes it: version 1.0 (or `major`), the dict padded
// to 64 bytes, then `items`.
std::string npy(const std::string& dict, const std::string& items, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string d = dict;
  const size_t total = (prefix + d.size() + 1 + 63) / 64 * 64;
  d += std::string(total - prefix - d.size() - 1, ' ') + "\n";
  std::string out("\x93NUMPY", 6);
  out += char(major);
  out += char(0);
  for (size_t b = 0; b < prefix - 8; ++b) out += char((d.size() >> (8 * b)) & 0xff);
  return out + d + items;
}

std::string dict(const std::string& descr, const std::string& shape, const std::string& order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }";
}

// v as an item of `size` bytes in the given byte order.
std::string item(int64_t v, int size, bool big) {
  std::string s(size_t(size), '\0');
  for (int b = 0; b < size; ++b) s[size_t(big ? size - 1 - b : b)] = char((uint64_t(v) >> (8 * b)) & 0xff);
  return s;
}

Dataset read(const std::string& path, const Space& s, json extra = json::object()) {
  extra["path"] = path;
  extra["format"] = "npy";
  return read_dataset(extra, s);
}

TEST(Npy, RoundTripEveryWidthWithLabels) {
  const std::string dir = tmp_dir();
  for (const Space& s : {Space::tensor({4, 5}, 2, 10), Space::tensor({3, 2, 2}, 256, 3), Space::tensor({7}, 300),
                         Space::tensor({2, 3}, 32768, 4), Space::tensor({5}, 40000), Space::tensor({3}, Space::kMaxLevels)}) {
    const Dataset d = random_dataset(s, 37, 5, 4);  // every 4th label unknown
    const std::string p = dir + "/x.npy";
    write_dataset(d, p, "");  // the format from the name
    json extra = json::object();
    if (s.has_labels()) extra["labels"] = npy_labels_path(p);
    expect_same(d, read(p, s, extra));
    // Header: the dtype for the levels, the shape N x space, C order.
    const std::string bytes = read_file(p);
    const std::string descr = s.levels() <= 256 ? "|u1" : s.levels() <= 32768 ? "<i2" : "<i4";
    EXPECT_NE(bytes.find("'descr': '" + descr + "'"), std::string::npos) << bytes.substr(0, 128);
    std::string shape = "(37";
    for (int64_t e : s.shape()) shape += ", " + std::to_string(e);
    EXPECT_NE(bytes.find("'shape': " + shape + ")"), std::string::npos) << bytes.substr(0, 128);
    EXPECT_NE(bytes.find("'fortran_order': False"), std::string::npos);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    const size_t header = 10 + (uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8));
    EXPECT_EQ(header % 64, 0u);
    EXPECT_EQ(bytes[header - 1], '\n');
    EXPECT_EQ(bytes.size(), header + 37 * size_t(s.dims()) * (descr == "|u1" ? 1 : descr == "<i2" ? 2 : 4));
    if (s.has_labels()) {
      const std::string lb = read_file(npy_labels_path(p));
      EXPECT_NE(lb.find("'descr': '<i8', 'fortran_order': False, 'shape': (37,)"), std::string::npos);
    }
  }
  EXPECT_EQ(npy_labels_path("a/train.npy"), "a/train-labels.npy");
  EXPECT_EQ(npy_labels_path("a/train"), "a/train-labels.npy");
  EXPECT_EQ(infer_format("x/y.NPY"), "npy");
}

TEST(Npy, EveryIntegerDtypeInBothByteOrders) {
  const std::string dir = tmp_dir();
  const Space s = Space::tensor({2, 3}, 100);
  const std::vector<int64_t> values = {0, 1, 7, 42, 99, 63, 5, 98, 2, 3, 4, 50};  // 2 samples
  for (const char kind : {'i', 'u'}) {
    for (const int size : {1, 2, 4, 8}) {
      for (const char order : {'<', '>', '|', '='}) {
        if (order == '|' && size != 1) continue;
        const std::string descr = std::string(1, order) + kind + std::to_string(size);
        std::string items;
        for (int64_t v : values) items += item(v, size, order == '>');
        for (int major : {1, 2, 3}) {
          if (major != 1 && order != '<') continue;
          const std::string p = write_file(dir + "/a.npy", npy(dict(descr, "(2, 2, 3)"), items, major));
          const Dataset d = read(p, s);
          ASSERT_EQ(d.size(), 2u) << descr;
          for (size_t i = 0; i < 2; ++i)
            for (int64_t k = 0; k < 6; ++k) ASSERT_EQ(d.at(i, k), values[i * 6 + size_t(k)]) << descr << " v" << major;
        }
      }
    }
  }
  // Booleans: one byte, 0 or 1.
  const std::string b = write_file(dir + "/b.npy", npy(dict("|b1", "(1, 4)"), std::string("\1\0\1\1", 4)));
  EXPECT_EQ(read(b, Space::tensor({4}, 2)).row(0), (std::vector<int32_t>{1, 0, 1, 1}));
  // A big-endian value that would read as 256 in little-endian order is 1.
  const std::string be = write_file(dir + "/be.npy", npy(dict(">u2", "(1, 1)"), std::string("\0\1", 2)));
  EXPECT_EQ(read(be, Space::tensor({1}, 2)).at(0, 0), 1);
}

TEST(Npy, ShapesTheSpaceAccepts) {
  const std::string dir = tmp_dir();
  const std::string items(3 * 4 * 5, '\1');
  const Space s = Space::tensor({4, 5}, 2);
  for (const std::string shape : {"(3, 4, 5)", "(3, 20)", "(3, 1, 4, 5)", "(3, 4, 1, 5)"}) {
    const std::string p = write_file(dir + "/a.npy", npy(dict("|u1", shape), items));
    EXPECT_EQ(read(p, s).size(), 3u) << shape;
  }
  const std::string p = write_file(dir + "/gray.npy", npy(dict("|u1", "(3, 4, 5)"), items));
  EXPECT_EQ(read(p, Space::tensor({1, 4, 5}, 2)).size(), 3u);
  // A 1-D array is N samples of one value.
  const std::string one = write_file(dir + "/one.npy", npy(dict("|u1", "(3,)"), std::string("\1\0\1", 3)));
  EXPECT_EQ(read(one, Space::tensor({1}, 2)).size(), 3u);
  // The rest is refused naming both shapes.
  for (const std::string shape : {"(3, 5, 4)", "(60,)", "(1, 3, 20)", "(3, 2, 10)"}) {
    const std::string q = write_file(dir + "/b.npy", npy(dict("|u1", shape), items));
    std::string shown = shape.substr(1, shape.size() - 2);
    for (size_t k; (k = shown.find(", ")) != std::string::npos;) shown.replace(k, 2, "x");
    if (shown.back() == ',') shown.pop_back();
    expect_error<DataError>([&] { read(q, s); }, q + ": the array is " + shown + "; the space {0..1}^(4x5) needs N x 4x5 or N x 20");
  }
  const std::string scalar = write_file(dir + "/s.npy", npy(dict("|u1", "()"), "\1"));
  expect_error<DataError>([&] { read(scalar, Space::tensor({1}, 2)); }, scalar + ": the array is ()");
  // Variable-length spaces have no fixed shape.
  expect_error<ConfigError>([&] { read(p, Space::sequence(20, 2)); }, p + ": .npy holds arrays of fixed-shape samples");
}

TEST(Npy, ValuesOutsideTheLevelsNameTheIndex) {
  const std::string dir = tmp_dir();
  std::string items(2 * 2 * 3, '\0');
  items[1 * 6 + 1 * 3 + 2] = 2;  // sample 1, position [1,2]
  const std::string p = write_file(dir + "/a.npy", npy(dict("|u1", "(2, 2, 3)"), items));
  expect_error<DataError>([&] { read(p, Space::tensor({2, 3}, 2)); },
                          p + ": the value at index (1, 1, 2) is 2, outside {0..1} (" + p + "#2, position [1,2])");
  // Negative values of signed types, and unsigned values past int64.
  const std::string n = write_file(dir + "/n.npy", npy(dict("<i2", "(1, 2)"), item(3, 2, false) + item(-5, 2, false)));
  expect_error<DataError>([&] { read(n, Space::tensor({2}, 10)); }, n + ": the value at index (0, 1) is -5, outside {0..9}");
  const std::string u = write_file(dir + "/u.npy", npy(dict("<u8", "(1, 1)"), std::string(8, '\xff')));
  expect_error<DataError>([&] { read(u, Space::tensor({1}, 10)); }, u + ": the value at index (0, 0) is above 2^63");
  // A flattened array names its own index.
  const std::string f = write_file(dir + "/f.npy", npy(dict("|u1", "(2, 6)"), items));
  expect_error<DataError>([&] { read(f, Space::tensor({2, 3}, 2)); }, f + ": the value at index (1, 5) is 2");
  // 8-bit values into a binary space: with a threshold they binarise.
  std::string gray = {char(0), char(127), char(128), char(255)};
  const std::string g = write_file(dir + "/g.npy", npy(dict("|u1", "(1, 4)"), gray));
  EXPECT_EQ(read(g, Space::tensor({4}, 2), {{"threshold", 128}}).row(0), (std::vector<int32_t>{0, 0, 1, 1}));
  expect_error<DataError>([&] { read(g, Space::tensor({4}, 2)); }, g + ": the value at index (0, 1) is 127");
}

TEST(Npy, LabelsFromASecondFile) {
  const std::string dir = tmp_dir();
  const Space s = Space::tensor({2}, 4, 3);
  const std::string x = write_file(dir + "/x.npy", npy(dict("|u1", "(3, 2)"), std::string("\0\1\2\3\1\1", 6)));
  const std::string l = write_file(dir + "/l.npy", npy(dict(">i4", "(3,)"), item(2, 4, true) + item(-1, 4, true) + item(0, 4, true)));
  const Dataset d = read(x, s, {{"labels", l}});
  EXPECT_EQ(d.label(0), 2);
  EXPECT_EQ(d.label(1), -1);
  EXPECT_EQ(d.label(2), 0);
  const std::string col = write_file(dir + "/c.npy", npy(dict("|u1", "(3, 1)"), std::string("\2\1\0", 3)));
  EXPECT_EQ(read(x, s, {{"labels", col}}).label(0), 2);
  // Without a labels file the labels are unknown.
  EXPECT_EQ(read(x, s).label(1), -1);
  const std::string bad = write_file(dir + "/bad.npy", npy(dict("|u1", "(3,)"), std::string("\0\3\1", 3)));
  expect_error<DataError>([&] { read(x, s, {{"labels", bad}}); }, bad + ": label 3 at index 1 is outside {0..2}");
  const std::string shorter = write_file(dir + "/short.npy", npy(dict("|u1", "(2,)"), std::string("\0\1", 2)));
  expect_error<FormatError>([&] { read(x, s, {{"labels", shorter}}); },
                            shorter + ": the labels array is 2; the data has 3 samples");
  const std::string flt = write_file(dir + "/f.npy", npy(dict("<f4", "(3,)"), std::string(12, '\0')));
  expect_error<FormatError>([&] { read(x, s, {{"labels", flt}}); }, flt + ": dtype '<f4' (floating point) is not an integer type");
  expect_error<ConfigError>([&] { read(x, Space::tensor({2}, 4), {{"labels", l}}); }, "data.labels: a labels file is given but the space has no labels");
  expect_error<IoError>([&] { read(x, s, {{"labels", dir + "/none.npy"}}); }, dir + "/none.npy: cannot open");
}

TEST(Npy, MalformedFilesAreRefusedInOneLine) {
  const std::string dir = tmp_dir();
  const Space s = Space::tensor({2}, 256);
  const std::string items = "\1\2\3\4";
  auto refused = [&](const std::string& name, const std::string& bytes, const std::string& needle) {
    const std::string p = write_file(dir + "/" + name, bytes);
    expect_error<FormatError>([&] { read(p, s); }, p + ": ", needle);
  };
  const std::string good = npy(dict("|u1", "(2, 2)"), items);
  EXPECT_EQ(read(write_file(dir + "/good.npy", good), s).size(), 2u);
  refused("empty", "", "empty file");
  refused("magic", "\x89PNG\r\n\x1a\n" + good.substr(8), "not a .npy file");
  refused("short", good.substr(0, 8), "truncated .npy header");
  refused("version", good.substr(0, 6) + "\x04" + good.substr(7), ".npy format version 4.0 is not supported");
  // The header length against the file and the limit.
  std::string longhdr = good;
  longhdr[8] = '\xff';
  longhdr[9] = '\x7f';
  refused("longhdr", longhdr, "the .npy header claims 32767 bytes, the file has");
  std::string v2 = npy(dict("|u1", "(2, 2)"), items, 2);
  v2[10] = '\x10';  // 1 MiB + the real length
  refused("hugehdr", v2, "more than the 65536 a header may have");
  refused("fortran", npy(dict("|u1", "(2, 2)", "True"), items), "Fortran order (fortran_order: True); dgm reads C order");
  refused("float", npy(dict("<f8", "(2, 2)"), std::string(32, '\0')), "dtype '<f8' (floating point) is not an integer type");
  refused("object", npy(dict("|O", "(2, 2)"), items), "(Python object) is not an integer type");
  refused("size3", npy(dict("<i3", "(2, 2)"), items), "item size of 3");
  refused("noorder", npy(dict("|i4", "(2, 2)"), std::string(16, '\0')), "no byte order ('|') but items of 4 bytes");
  refused("struct", npy("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,), }", items),
          "a structured dtype");
  refused("nokey", npy("{'descr': '|u1', 'shape': (2, 2), }", items), "missing 'fortran_order'");
  refused("twice", npy("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", items),
          "'descr' is given twice");
  refused("extra", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), 'x': 1, }", items), "unknown key 'x'");
  refused("notuple", npy(dict("|u1", "(4)"), items), "the shape (4) is not a tuple; write (4,)");
  refused("negative", npy(dict("|u1", "(2, -2)"), items), "expected a non-negative integer in the shape");
  refused("nobrace", npy("'descr': '|u1'", items), "expected '{'");
  refused("after", npy(dict("|u1", "(2, 2)") + " x", items), "text after the closing '}'");
  refused("unterminated", npy("{'descr': '|u1, 'fortran_order': False, 'shape': (2, 2), }", items),
          "expected ',' or '}'");
  std::string nonl = good;
  nonl[10 + (uint8_t(good[8]) | (uint8_t(good[9]) << 8)) - 1] = ' ';
  refused("nonewline", nonl, "it does not end with a newline");
  // The shape's claim against the file, before allocating.
  refused("truncated", good.substr(0, good.size() - 1), "truncated: a 2x2 array of '|u1' needs 4 bytes after the header, the file has 3");
  refused("trailing", good + "x", "1 bytes after the 2x2 array the header describes");
  refused("claim", npy(dict("<u8", "(1000000000, 2)"), items), "needs 16000000000 bytes after the header, the file has 4");
  refused("limit", npy(dict("|u1", "(4294967296, 4294967296)"), items), "more than the limit of 17179869184 values");
  refused("extent", npy(dict("|u1", "(99999999999999999999, 2)"), items), "a shape extent too large");
  // Python 2's long integers are read.
  EXPECT_EQ(read(write_file(dir + "/py2.npy", npy(dict("|u1", "(2L, 2L)"), items)), s).size(), 2u);
  // An empty array has no samples.
  expect_error<FormatError>([&] { read(write_file(dir + "/none.npy", npy(dict("|u1", "(0, 2)"), "")), s); },
                            dir + "/none.npy: no samples");
  // Missing files and folders are IoErrors.
  expect_error<IoError>([&] { read(dir + "/missing.npy", s); }, dir + "/missing.npy: cannot open");
  expect_error<IoError>([&] { read(dir, s); }, dir + ": is a directory");
}

TEST(Npy, WriterRefusesWhatNpyCannotHold) {
  const std::string dir = tmp_dir();
  const Dataset seq = random_dataset(Space::sequence(5, 3), 4, 1);
  expect_error<ConfigError>([&] { write_dataset(seq, dir + "/s.npy", "npy"); }, dir + "/s.npy: .npy holds arrays of fixed-shape samples");
  const Dataset d = random_dataset(Space::tensor({2}, 3), 4, 1);
  expect_error<ConfigError>([&] { write_dataset(d, "-", "npy"); }, "-: ");
  // A failed write leaves nothing behind (the folder is a file here).
  write_file(dir + "/f", "x");
  expect_error<IoError>([&] { write_dataset(d, dir + "/f/x.npy", "npy"); }, dir + "/f");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
}

}  // namespace
}  // namespace dgm
