// round_two_test.cc — the failures of hardening round two (issue 17), each a
// regression test: resources the system refuses (threads), JSON nested or
// sized to crash or exhaust, corrupt containers accepted, and inputs that
// grow past the memory budget. Cases that need a memory limit run in a forked
// child (hardening/limited.h).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "dgm/config.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/thread_pool.h"
#include "fuzz/fuzz_targets.h"
#include "hardening/limited.h"

namespace dgm {
namespace {

using test::expect_refused;
using RoundTwo = test::LimitedTest;

TEST_F(RoundTwo, ThreadsTheSystemRefusesAreAnErrorNotAHang) {
#ifdef DGM_ASAN
  GTEST_SKIP() << "needs an address-space limit, which AddressSanitizer does not allow";
#endif
  // Under RLIMIT_AS (+256 MiB) only a few dozen 8 MiB thread stacks fit.
  expect_refused([] { ThreadPool pool(1000); }, "IoError", "cannot start 1000 threads");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// Expects a one-line error of type E that starts with `prefix` and contains
// `needle`, and is short (a message must not echo the input).
template <typename E>
void expect_short_error(const std::function<void()>& fn, const std::string& prefix, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected '" << needle << "'";
  } catch (const E& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(prefix, 0), 0u) << msg.substr(0, 300);
    EXPECT_NE(msg.find(needle), std::string::npos) << msg.substr(0, 300) << "\n  expected: " << needle;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line";
    EXPECT_LT(msg.size(), 300u) << msg.substr(0, 300);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << std::string(e.what()).substr(0, 300);
  }
}

// ---- JSON: depth, size and duplicate keys, wherever dgm reads JSON ----

TEST_F(RoundTwo, ConfigNestedDeepIsAShortErrorNotAStackOverflow) {
  for (size_t depth : {size_t(100000), size_t(50000), size_t(65)}) {
    const std::string path =
        file("deep.json", "{\"space\": {\"shape\": [5, 5], \"levels\": 2}, \"model\": " + nested(depth) + "}");
    expect_short_error<ConfigError>([&] { load_config_file(path); }, path + ": ", "nested more than 64 levels");
  }
  // 64 levels are fine.
  EXPECT_NO_THROW(load_config_file(file("ok.json", "{\"a\": " + nested(63) + "}")));
}

TEST_F(RoundTwo, SetValueNestedDeepIsRefused) {
  json cfg = json::object();
  expect_short_error<ConfigError>([&] { apply_override(cfg, "model.k=" + nested(100000)); }, "--set model.k: ",
                                  "nested more than 64 levels");
  apply_override(cfg, "model.name=[not json");  // not JSON at all: a string, as before
  EXPECT_EQ(cfg["model"]["name"], "[not json");
  expect_short_error<ConfigError>([&] { apply_override(cfg, "model.k={\"a\": 1, \"a\": 2}"); }, "--set model.k: ",
                                  "duplicate key 'a'");
}

TEST_F(RoundTwo, DuplicateKeysAreRefused) {
  const std::string cfg = file("dup.json", "{\"model\": {\"type\": \"mixture\", \"components\": 3,\n \"components\": 4}}");
  expect_short_error<ConfigError>([&] { load_config_file(cfg); }, cfg + ": ", "duplicate key 'model.components'");
  // The same key in two objects is fine.
  EXPECT_NO_THROW(load_config_file(file("two.json", "{\"a\": {\"k\": 1}, \"b\": {\"k\": 1}, \"c\": [{\"k\": 1}, {\"k\": 2}]}")));
  const std::string jl = file("dup.jsonl", "{\"x\": [0, 1, 2], \"label\": 1}\n{\"x\": [0, 1, 2], \"x\": [2, 2, 2]}\n");
  expect_short_error<FormatError>([&] { read_dataset({{"path", jl}, {"format", "jsonl"}}, Space::tensor({3}, 3, 2)); },
                                  jl + ":2: ", "duplicate key 'x'");
}

TEST_F(RoundTwo, JsonlRecordNestedDeepOrHugeIsRefused) {
  const Space s = Space::tensor({3}, 3);
  const std::string deep = file("deep.jsonl", "{\"x\": [0, 1, 2]}\n{\"x\": " + nested(1000) + "}\n");
  expect_short_error<FormatError>([&] { read_dataset({{"path", deep}, {"format", "jsonl"}}, s); }, deep + ":2: ",
                                  "nested more than 64 levels");
  const std::string deeper = file("deeper.jsonl", "{\"x\": " + nested(100000) + "}\n");
  expect_short_error<FormatError>([&] { read_dataset({{"path", deeper}, {"format", "jsonl"}}, s); }, deeper + ":1: ",
                                  "a record of 200007 bytes");
  // 40 MB of zeros in one record would take ~1 GB as a JSON tree: refused by
  // its length (a sample of 3 values cannot need it) before parsing.
  const std::string big = file("big.jsonl", "{\"x\": [" + std::string(40 << 20, ' ') + "0, 1, 2]}\n");
  expect_refused([&] { read_dataset({{"path", big}, {"format", "jsonl"}}, s); }, "FormatError",
                 ":1: a record of 41943056 bytes");
}

// A model file whose header is replaced by `header` (the checksum recomputed,
// so that only the header is wrong).
std::string with_header(const std::string& file_bytes, const std::string& header) {
  const size_t at = 16 + 24;
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(file_bytes[at + size_t(i)])) << (8 * i);
  std::string body = file_bytes.substr(0, at);
  for (int i = 0; i < 8; ++i) body.push_back(char((uint64_t(header.size()) >> (8 * i)) & 0xff));
  body += header;
  body += file_bytes.substr(at + 8 + n, file_bytes.size() - 16 - (at + 8 + n));
  return fuzz::seal_model(body);
}

class ModelHeader : public RoundTwo {
 protected:
  void SetUp() override {
    RoundTwo::SetUp();
    const Space space = Space::tensor({2, 2}, 2);
    auto model = create_model(space, {{"type", "independent"}}, json::object());
    Dataset d(space);
    d.push_back({0, 1, 1, 0});
    d.push_back({1, 1, 0, 0});
    ThreadPool pool(1);
    Rng rng(1);
    model->fit(d, nullptr, {&pool, &rng, nullptr, nullptr});
    const std::string path = (dir_ / "good.dgm").string();
    save_model(path, *model, {{"config", {{"model", {{"type", "independent"}}}}}});
    good_ = slurp(path);
    ModelReader r = ModelReader::parse(good_, "good");
    header_ = r.header();
  }
  std::string good_;
  json header_;
};

TEST_F(ModelHeader, NestedDeepWithAValidChecksumIsRefused) {
  std::string h = header_.dump();
  h.insert(h.size() - 1, ", \"deep\": " + nested(100000));
  const std::string path = file("deep.dgm", with_header(good_, h));
  expect_short_error<FormatError>([&] { load_model(path); }, path + ": bad model header: ",
                                  "nested more than 64 levels");
  // Parsed, this took 2 GB: refused in bounded memory.
  expect_refused([&] { load_model(path); }, "FormatError", "nested more than 64 levels");
}

TEST_F(ModelHeader, DuplicateKeyIsRefused) {
  std::string h = header_.dump();
  h.insert(h.size() - 1, ", \"kind\": \"mixture\"");
  const std::string path = file("dup.dgm", with_header(good_, h));
  expect_short_error<FormatError>([&] { load_model(path); }, path + ": bad model header: ", "duplicate key 'kind'");
}

TEST_F(ModelHeader, KindThatContradictsTheConfigIsRefused) {
  ASSERT_NO_THROW(load_model(file("same.dgm", with_header(good_, header_.dump()))));
  json h = header_;
  h["kind"] = "mixture";  // info would report a mixture; the config says independent
  const std::string path = file("kind.dgm", with_header(good_, h.dump()));
  expect_short_error<FormatError>([&] { load_model(path); }, path + ": bad model header: ",
                                  "kind 'mixture' but config.model.type \"independent\"");
  // Without a type in the config, the model is made from 'kind'.
  h = header_;
  h["config"]["model"].erase("type");
  auto m = load_model(file("notype.dgm", with_header(good_, h.dump())));
  EXPECT_EQ(m->kind(), "independent");
}

}  // namespace
}  // namespace dgm
