// dataset_test.cc — storage widths, memory, shuffles, splits, views and
// sequences of Dataset.
#include "dgm/dataset.h"

#include <gtest/gtest.h>

#include "dgm/error.h"

namespace dgm {
namespace {

TEST(Dataset, OneByteAValue) {
  Dataset d(Space::tensor({28, 28}, 2));
  d.reserve(1000);
  std::vector<uint8_t> x(784, 1);
  for (int i = 0; i < 1000; ++i) d.push_back_u8(x.data());
  EXPECT_EQ(d.size(), 1000u);
  EXPECT_LE(d.memory_bytes(), 784u * 1000u + 64);
}

TEST(Dataset, WideValuesRoundTrip) {
  Dataset d(Space::tensor({3}, 70000));
  d.push_back({69999, 0, 123456 % 70000});
  EXPECT_EQ(d.width(), 4);
  EXPECT_EQ(d.row(0), (std::vector<int32_t>{69999, 0, 123456 % 70000}));
  Dataset w(Space::tensor({2}, 1000));
  w.push_back({999, 7});
  EXPECT_EQ(w.width(), 2);
  EXPECT_EQ(w.at(0, 0), 999);
}

TEST(Dataset, RejectsOutOfSpace) {
  Dataset d(Space::tensor({2, 2}, 2, 3));
  EXPECT_THROW(d.push_back({0, 1, 2, 0}, 0), DataError);
  EXPECT_THROW(d.push_back({0, 1, 1, 0}, 3), DataError);
  std::vector<uint8_t> x = {0, 1, 5, 0};
  EXPECT_THROW(d.push_back_u8(x.data(), 1), DataError);
  EXPECT_EQ(d.size(), 0u);
  d.push_back({0, 1, 1, 0}, 2);
  EXPECT_EQ(d.label(0), 2);
}

TEST(Dataset, ShuffleIsDeterministicPermutation) {
  Dataset d(Space::tensor({1}, 256));
  for (int i = 0; i < 200; ++i) d.push_back({i});
  Dataset a = d, b = d;
  a.shuffle(7);
  b.shuffle(7);
  std::vector<int> seen(200, 0);
  bool moved = false;
  for (size_t i = 0; i < 200; ++i) {
    EXPECT_EQ(a.at(i, 0), b.at(i, 0));
    seen[size_t(a.at(i, 0))]++;
    moved |= a.at(i, 0) != int(i);
  }
  EXPECT_TRUE(moved);
  for (int c : seen) EXPECT_EQ(c, 1);
  Dataset c = d;
  c.shuffle(8);
  bool differs = false;
  for (size_t i = 0; i < 200; ++i) differs |= c.at(i, 0) != a.at(i, 0);
  EXPECT_TRUE(differs);
}

TEST(Dataset, SplitTailAndViews) {
  Dataset d(Space::tensor({2}, 10, 2));
  for (int i = 0; i < 10; ++i) d.push_back({i, 9 - i}, i % 2);
  Dataset tail = d.split_tail(3);
  ASSERT_EQ(d.size(), 7u);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail.at(0, 0), 7);
  EXPECT_EQ(tail.label(0), 1);
  DataView v(d, 2, 5);
  EXPECT_EQ(v.size(), 3u);
  EXPECT_EQ(v.at(0, 0), 2);
  EXPECT_EQ(v.row_u8(1), d.row_u8(3));  // no copy
  EXPECT_EQ(v.sub(1, 3).at(1, 1), 5);
  EXPECT_THROW(DataView(d, 5, 9), DataError);
}

TEST(Dataset, VariableLengthSequences) {
  Dataset d(Space::sequence(5, 300));
  d.push_back({1, 2, 3});
  d.push_back(std::vector<int32_t>{});
  d.push_back({299, 0, 1, 2, 4});
  EXPECT_THROW(d.push_back({1, 2, 3, 4, 5, 6}), DataError);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.length(0), 3);
  EXPECT_EQ(d.length(1), 0);
  EXPECT_EQ(d.row(2), (std::vector<int32_t>{299, 0, 1, 2, 4}));
  Dataset s = d.subset({2, 0});
  EXPECT_EQ(s.row(0), d.row(2));
  EXPECT_EQ(s.row(1), d.row(0));
  Dataset sh = d;
  sh.shuffle(3);
  EXPECT_EQ(sh.size(), 3u);
}

TEST(Dataset, FingerprintSeesValuesAndLabels) {
  Dataset a(Space::tensor({2}, 2, 2)), b(Space::tensor({2}, 2, 2));
  a.push_back({0, 1}, 0);
  b.push_back({0, 1}, 1);
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  b.set_label(0, 0);
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.fingerprint_hex().size(), 16u);
}

// Dataset::borrow (the Python module's zero-copy scoring): reads another
// buffer in place, checks every value and label, and owns its values once
// copied or grown.
TEST(Dataset, BorrowReadsInPlaceAndChecks) {
  const Space space = Space::tensor({2, 2}, 3, 2);
  std::vector<uint8_t> buf = {0, 1, 2, 0, 2, 2, 1, 1};
  Dataset d = Dataset::borrow(space, buf.data(), 2, {1, -1}, "x");
  EXPECT_TRUE(d.borrowed());
  EXPECT_EQ(d.row_u8(1), buf.data() + 4);  // no copy
  EXPECT_EQ(d.row(1), (std::vector<int32_t>{2, 2, 1, 1}));
  EXPECT_EQ(d.label(0), 1);
  EXPECT_EQ(d.label(1), -1);
  EXPECT_THROW(d.raw(), DataError);
  Dataset owned(space);
  owned.push_back({0, 1, 2, 0}, 1);
  owned.push_back({2, 2, 1, 1}, -1);
  EXPECT_EQ(d.fingerprint(), owned.fingerprint());
  Dataset copy = d;  // owns its values
  EXPECT_FALSE(copy.borrowed());
  EXPECT_EQ(copy.raw(), owned.raw());
  EXPECT_EQ(d.slice(1, 2).raw(), owned.slice(1, 2).raw());
  d.push_back({1, 1, 1, 1}, 0);  // grows: owns its values
  EXPECT_FALSE(d.borrowed());
  buf[0] = 2;
  EXPECT_EQ(d.at(0, 0), 0);
  EXPECT_EQ(d.size(), 3u);

  buf[5] = 3;
  try {
    Dataset::borrow(space, buf.data(), 2, {}, "x");
    FAIL() << "a value past the levels was borrowed";
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(), "x[1]: position [0,1]: value 3 outside {0..2}");
  }
  buf[5] = 2;
  EXPECT_THROW(Dataset::borrow(space, buf.data(), 2, {0, 2}, "x"), DataError);   // label 2 of 2
  EXPECT_THROW(Dataset::borrow(space, buf.data(), 2, {0}, "x"), DataError);      // 1 label for 2 samples
  EXPECT_THROW(Dataset::borrow(Space::tensor({4}, 2), buf.data(), 2, {0, 1}), DataError);  // no labels
  const std::vector<uint16_t> wide = {999, 0, 1000};
  EXPECT_THROW(Dataset::borrow(Space::tensor({3}, 1000), reinterpret_cast<const uint8_t*>(wide.data()), 1),
               DataError);
  EXPECT_EQ(Dataset::borrow(Space::tensor({3}, 1001), reinterpret_cast<const uint8_t*>(wide.data()), 1).at(0, 2),
            1000);
}

}  // namespace
}  // namespace dgm
