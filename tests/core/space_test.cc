// space_test.cc — sizes, validation messages and the JSON round trip of Space.
#include "dgm/space.h"

#include <gtest/gtest.h>

#include "dgm/error.h"

namespace dgm {
namespace {

TEST(Space, DigitsSize) {
  Space s = Space::tensor({5, 5}, 2);
  EXPECT_EQ(s.dims(), 25);
  EXPECT_DOUBLE_EQ(s.log2_size(), 25.0);
  EXPECT_EQ(s.size_string(), "2^25 = 33554432");
  EXPECT_EQ(s.value_width(), 1);
}

TEST(Space, CifarSize) {
  Space s = Space::tensor({3, 32, 32}, 256, 10);
  EXPECT_EQ(s.dims(), 3072);
  EXPECT_NEAR(s.log2_size(), 24576.0 + std::log2(10.0), 1e-9);
  // 2^24576 * 10 = 10^(24576 log10 2 + 1) = 10^7399.1...
  EXPECT_EQ(s.size_string(), "256^3072 * 10 = 2^24576 * 10 > 10^7399");
  EXPECT_GT(s.log10_size(), 2458.0);
}

TEST(Space, SequenceSizeCountsEveryLength) {
  // Lengths 0..3 over 3 tokens: 1 + 3 + 9 + 27 = 40.
  Space s = Space::sequence(3, 3);
  EXPECT_NEAR(s.log2_size(), std::log2(40.0), 1e-12);
  EXPECT_EQ(s.size_string(), "sum_{t=0..3} 3^t = 40");
}

TEST(Space, ValueWidth) {
  EXPECT_EQ(Space::tensor({4}, 256).value_width(), 1);
  EXPECT_EQ(Space::tensor({4}, 257).value_width(), 2);
  EXPECT_EQ(Space::tensor({4}, 70000).value_width(), 4);
}

TEST(Space, ValidateNamesPositionAndValue) {
  Space s = Space::tensor({5, 5}, 2);
  std::vector<int32_t> x(25, 0);
  EXPECT_NO_THROW(s.validate(x.data(), 25));
  x[13] = 3;
  try {
    s.validate(x.data(), 25);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(), "position [2,3]: value 3 outside {0..1}");
  }
  EXPECT_THROW(s.validate(x.data(), 24), DataError);
  Space img = Space::tensor({3, 2, 2}, 256, 10);
  std::vector<int32_t> y(12, 0);
  y[7] = 300;
  try {
    img.validate(y.data(), 12, 1);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(), "position [c=1,y=1,x=1]: value 300 outside {0..255}");
  }
  y[7] = 0;
  EXPECT_THROW(img.validate(y.data(), 12, 10), DataError);
  EXPECT_NO_THROW(img.validate(y.data(), 12, -1));
}

TEST(Space, JsonRoundTrip) {
  for (const Space& s : {Space::tensor({5, 5}, 2), Space::tensor({3, 32, 32}, 256, 10), Space::sequence(64, 12155)}) {
    EXPECT_EQ(Space::from_json(s.to_json()), s);
  }
}

TEST(Space, BadJsonIsConfigError) {
  EXPECT_THROW(Space::from_json(nlohmann::json::parse(R"({"shape":[5,5]})")), ConfigError);
  EXPECT_THROW(Space::from_json(nlohmann::json::parse(R"({"shape":[5,0],"levels":2})")), ConfigError);
  EXPECT_THROW(Space::from_json(nlohmann::json::parse(R"({"shape":[5],"levels":1})")), ConfigError);
  EXPECT_THROW(Space::from_json(nlohmann::json::parse(R"({"shape":[5],"levels":2,"level":3})")), ConfigError);
  EXPECT_THROW(Space::from_json(nlohmann::json::parse(R"({"shape":[100000,100000,100000],"levels":2})")),
               ConfigError);
  EXPECT_THROW(Space::from_json(nlohmann::json::parse(R"({"shape":"x","levels":2})")), ConfigError);
}

}  // namespace
}  // namespace dgm
