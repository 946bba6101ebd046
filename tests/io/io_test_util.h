// io_test_util.h — helpers for the io tests: a fresh temporary directory per
// test under DGM_TEST_TMP (never the source tree), random datasets, file
// writing, dataset equality and checks on the exception type and message.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "dgm/dataset.h"
#include "dgm/error.h"
#include "dgm/rng.h"

namespace dgm::test {

// DGM_TEST_TMP/io/<suite>.<test>, emptied and created.
inline std::string tmp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p = std::filesystem::path(DGM_TEST_TMP) / "io" /
                            (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

inline std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// n samples with values uniform in the levels; labels uniform in the labels,
// and every `unknown_every`-th label -1 (0 = never).
inline Dataset random_dataset(const Space& space, size_t n, uint64_t seed, size_t unknown_every = 0) {
  Rng rng(seed);
  Dataset d(space);
  std::vector<int32_t> x;
  for (size_t i = 0; i < n; ++i) {
    const int64_t len = space.variable_length() ? int64_t(rng.below(uint64_t(space.dims()) + 1)) : space.dims();
    x.resize(size_t(len));
    for (auto& v : x) v = int32_t(rng.below(uint64_t(space.levels())));
    int32_t label = -1;
    if (space.has_labels()) {
      label = int32_t(rng.below(uint64_t(space.labels())));
      if (unknown_every && i % unknown_every == 1) label = -1;
    }
    d.push_back(x, label);
  }
  return d;
}

inline void expect_same(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.space(), b.space());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a.row(i), b.row(i)) << "sample " << i;
    ASSERT_EQ(a.label(i), b.label(i)) << "sample " << i;
  }
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
}

// fn() must throw E whose message starts with `prefix` and contains `needle`.
template <class E, class F>
void expect_error(F fn, const std::string& prefix, const std::string& needle = "") {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one starting with '" << prefix << "'";
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << "message: " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected to contain: " << needle;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

}  // namespace dgm::test
