// round_two_test.cc — the failures of hardening round two (issue 17), each a
// regression test: resources the system refuses (threads), JSON nested or
// sized to crash or exhaust, corrupt containers accepted, and inputs that
// grow past the memory budget. Cases that need a memory limit run in a forked
// child (hardening/limited.h).
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "dgm/config.h"
#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/image.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/thread_pool.h"
#include "fuzz/fuzz_targets.h"
#include "hardening/limited.h"

namespace dgm {
namespace {

namespace fs = std::filesystem;
using test::expect_refused;
using test::Outcome;
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
  // 20 MB in one record would take ~0.5 GB as a JSON tree: refused by
  // its length (a sample of 3 values cannot need it) before parsing.
  const std::string big = file("big.jsonl", "{\"x\": [" + std::string(20 << 20, ' ') + "0, 1, 2]}\n");
  expect_refused([&] { read_dataset({{"path", big}, {"format", "jsonl"}}, s); }, "FormatError",
                 ":1: a record of 20971536 bytes");
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

// ---- containers: gzip CRC, length and trailing data; truncated images ----

class Containers : public RoundTwo {
 protected:
  // A 3-image 2x2 IDX file, gzip-compressed, and its bytes.
  void SetUp() override {
    RoundTwo::SetUp();
    Dataset d(space_);
    for (int i = 0; i < 3; ++i) d.push_back({i * 10, 255, 7, i}, -1);
    good_path_ = (dir_ / "good-idx3-ubyte.gz").string();
    write_dataset(d, good_path_, "idx");
    good_ = slurp(good_path_);
    ASSERT_EQ(uint8_t(good_[0]), 0x1f);
    ASSERT_EQ(read_dataset({{"path", good_path_}, {"format", "idx"}}, space_).size(), 3u);
  }
  Dataset read(const std::string& name, const std::string& bytes) {
    return read_dataset({{"path", file(name, bytes)}, {"format", "idx"}}, space_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  const Space space_ = Space::tensor({2, 2}, 256);
  std::string good_path_, good_;
};

TEST_F(Containers, GzipTrailerCutOffIsAnError) {
  const std::string cut = good_.substr(0, good_.size() - 8);
  expect_short_error<FormatError>([&] { read("cut-idx3-ubyte.gz", cut); }, path("cut-idx3-ubyte.gz") + ": ",
                                  "truncated gzip data");
  // The same with a pixel changed: without the CRC nothing would notice.
  std::string raw(16 + 12, '\0');
  {
    z_stream z{};
    inflateInit2(&z, 15 + 16);
    z.next_in = reinterpret_cast<Bytef*>(&good_[0]);
    z.avail_in = uInt(good_.size());
    z.next_out = reinterpret_cast<Bytef*>(&raw[0]);
    z.avail_out = uInt(raw.size());
    ASSERT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
    inflateEnd(&z);
  }
  raw[20] = char(raw[20] ^ 0x40);
  const std::string flipped = fuzz::gzip(raw);
  // Keep the compressed pixels but the original trailer (its CRC no longer matches).
  const std::string bad_crc = flipped.substr(0, flipped.size() - 8) + good_.substr(good_.size() - 8);
  expect_short_error<FormatError>([&] { read("crc-idx3-ubyte.gz", bad_crc); }, path("crc-idx3-ubyte.gz") + ": ",
                                  "corrupt gzip data (incorrect data check)");
  expect_short_error<FormatError>([&] { read("flipcut-idx3-ubyte.gz", flipped.substr(0, flipped.size() - 8)); },
                                  path("flipcut-idx3-ubyte.gz") + ": ", "truncated gzip data");
  // A wrong length (ISIZE) with the right CRC.
  std::string bad_len = good_;
  bad_len[bad_len.size() - 1] = char(bad_len[bad_len.size() - 1] ^ 1);
  expect_short_error<FormatError>([&] { read("len-idx3-ubyte.gz", bad_len); }, path("len-idx3-ubyte.gz") + ": ",
                                  "incorrect length check");
}

TEST_F(Containers, GzipTrailingDataIsAnErrorButMembersMayFollow) {
  expect_short_error<FormatError>([&] { read("junk-idx3-ubyte.gz", good_ + "garbage"); },
                                  path("junk-idx3-ubyte.gz") + ": ", "data after the end of the gzip stream (7 bytes)");
  expect_short_error<FormatError>([&] { read("zeros-idx3-ubyte.gz", good_ + std::string(4, '\0')); },
                                  path("zeros-idx3-ubyte.gz") + ": ", "data after the end of the gzip stream");
  // `cat a.gz b.gz`: the header and first image in one member, the rest in another.
  std::string raw(28, '\0');
  {
    z_stream z{};
    inflateInit2(&z, 15 + 16);
    z.next_in = reinterpret_cast<Bytef*>(&good_[0]);
    z.avail_in = uInt(good_.size());
    z.next_out = reinterpret_cast<Bytef*>(&raw[0]);
    z.avail_out = uInt(raw.size());
    ASSERT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
    inflateEnd(&z);
  }
  const Dataset two = read("two-idx3-ubyte.gz", fuzz::gzip(raw.substr(0, 20)) + fuzz::gzip(raw.substr(20)));
  const Dataset one = read_dataset({{"path", good_path_}, {"format", "idx"}}, space_);
  EXPECT_EQ(two.fingerprint(), one.fingerprint());
}

TEST_F(Containers, GzipBombIsRefusedBeforeItIsDecompressed) {
  // A header claiming 400 MiB of 2x2 images, in a file large enough for that
  // to be possible at deflate's 1032:1 (here padding: the claim is refused
  // before any pixel is decompressed), under a 300 MiB budget. The reserve
  // alone (256 Mi values at most) did not catch it: the data grew past the budget.
  const uint32_t n = 100u << 20;
  std::string header = std::string("\0\0\x08\x03", 4);
  for (uint32_t v : {n, 2u, 2u}) header += std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  std::string noise(410000, '\0');
  Rng rng(7);
  for (char& c : noise) c = char(rng.below(256));  // incompressible: a second member of ~410 KB
  const std::string p = file("bomb-idx3-ubyte.gz", fuzz::gzip(header) + fuzz::gzip(noise));
  expect_refused(
      [&] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "300", 1);
        read_dataset({{"path", p}, {"format", "idx"}}, space_);
      },
      "DataError", p + ": the header claims 104857600 items, which needs 400.0 MiB, more than the ");
}

std::string bmp(int w, int h, bool top_down, const std::vector<uint8_t>& gray) {
  const int row = (w * 3 + 3) / 4 * 4;
  std::string px;
  for (int r = 0; r < h; ++r) {
    const int y = top_down ? r : h - 1 - r;
    std::string line(size_t(row), '\0');
    for (int x = 0; x < w; ++x) line[size_t(3 * x)] = line[size_t(3 * x + 1)] = line[size_t(3 * x + 2)] = char(gray[size_t(y * w + x)]);
    px += line;
  }
  auto le = [](uint32_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
    return s;
  };
  std::string out = "BM" + le(uint32_t(54 + px.size()), 4) + le(0, 4) + le(54, 4);
  out += le(40, 4) + le(uint32_t(w), 4) + le(uint32_t(top_down ? -h : h), 4) + le(1, 2) + le(24, 2) + le(0, 4) +
         le(uint32_t(px.size()), 4) + le(2835, 4) + le(2835, 4) + le(0, 4) + le(0, 4);
  return out + px;
}

TEST_F(RoundTwo, TopDownBmpReadsInRowOrderAndTruncatedBmpIsRefused) {
  const std::vector<uint8_t> gray = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110};  // 4 wide, 3 high
  const Space s = Space::tensor({3, 4}, 256);
  const Dataset up = read_dataset({{"path", file("up.bmp", bmp(4, 3, false, gray))}, {"format", "image"}}, s);
  const Dataset down = read_dataset({{"path", file("down.bmp", bmp(4, 3, true, gray))}, {"format", "image"}}, s);
  ASSERT_EQ(up.size(), 1u);
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(up.row(0), std::vector<int32_t>(gray.begin(), gray.end()));
  EXPECT_EQ(down.row(0), up.row(0));
  const std::string whole = bmp(4, 3, false, gray);
  const std::string cut = file("cut.bmp", whole.substr(0, whole.size() - 10));
  expect_short_error<FormatError>([&] { read_dataset({{"path", cut}, {"format", "image"}}, s); }, cut + ": ",
                                  "truncated BMP: 26 of 36 bytes of pixel data");
}

std::string jpeg(int w, int h) {
  std::vector<uint8_t> px(size_t(w * h));
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 7);
  std::string out;
  stbi_write_jpg_to_func([](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size)); },
                         &out, w, h, 1, px.data(), 90);
  return out;
}

TEST_F(RoundTwo, JpegWithoutScanDataOrCutShortIsRefused) {
  const Space s = Space::tensor({8, 8}, 256);
  const std::string good = jpeg(8, 8);
  ASSERT_EQ(read_dataset({{"path", file("good.jpg", good)}, {"format", "image"}}, s).size(), 1u);
  const size_t sos = good.find("\xff\xda");
  ASSERT_NE(sos, std::string::npos);
  const size_t sos_len = size_t(uint8_t(good[sos + 2])) << 8 | uint8_t(good[sos + 3]);
  const std::string noscan = file("noscan.jpg", good.substr(0, sos + 2 + sos_len) + "\xff\xd9");
  expect_short_error<FormatError>([&] { read_dataset({{"path", noscan}, {"format", "image"}}, s); }, noscan + ": ",
                                  "JPEG without scan data");
  const std::string nosos = file("nosos.jpg", good.substr(0, sos) + "\xff\xd9");
  expect_short_error<FormatError>([&] { read_dataset({{"path", nosos}, {"format", "image"}}, s); }, nosos + ": ",
                                  "JPEG without scan data");
  const std::string cut = file("cut.jpg", good.substr(0, good.size() - 20));
  expect_short_error<FormatError>([&] { read_dataset({{"path", cut}, {"format", "image"}}, s); }, cut + ": ",
                                  "truncated JPEG");
}

TEST_F(RoundTwo, PngWithABadCrcOrTrailingDataIsRefused) {
  const Space s = Space::tensor({4, 4}, 256);
  Dataset d(s);
  std::vector<int32_t> x(16);
  for (int i = 0; i < 16; ++i) x[size_t(i)] = i * 16;
  d.push_back(x);
  const std::string path = (dir_ / "a.png").string();
  write_image_file(d, 0, path);
  const std::string good = slurp(path);
  std::string flipped = good;
  const size_t idat = good.find("IDAT");
  flipped[idat + 6] = char(flipped[idat + 6] ^ 0x01);
  const std::string bad = file("crc.png", flipped);
  expect_short_error<FormatError>([&] { read_image_file(bad, s); }, bad + ": ", "bad CRC in chunk 'IDAT'");
  const std::string junk = file("junk.png", good + "xyz");
  expect_short_error<FormatError>([&] { read_image_file(junk, s); }, junk + ": ", "3 bytes after the end of the PNG");
}

// ---- text inputs: NUL, BOM, endless inputs, symlink loops, long lines, negative numbers ----

TEST_F(RoundTwo, TextCorpusWithANulByteIsRefused) {
  const std::string p = file("nul.txt", std::string("in the beginning\nwas the\0word\n", 31));
  const json data = {{"format", "text"}, {"train", p}};
  const json space = {{"shape", {16}}, {"variable_length", true}};
  expect_short_error<FormatError>([&] { load_training_data(data, space, 1); }, p + ":2: ", "NUL byte");
}

TEST_F(RoundTwo, AByteOrderMarkIsNotData) {
  const Space s = Space::tensor({4}, 2);
  const std::string bom = "\xEF\xBB\xBF";
  for (const auto& [format, text] : std::vector<std::pair<std::string, std::string>>{
           {"lines", "0101\n0011\n"}, {"csv", "0,1,0,1\n0,0,1,1\n"}, {"jsonl", "{\"x\": [0,1,0,1]}\n{\"x\": [0,0,1,1]}\n"}}) {
    const Dataset plain = read_dataset({{"path", file("plain." + format, text)}, {"format", format}}, s);
    const Dataset marked = read_dataset({{"path", file("bom." + format, bom + text)}, {"format", format}}, s);
    EXPECT_EQ(marked.fingerprint(), plain.fingerprint()) << format;
  }
  EXPECT_EQ(load_config_file(file("bom.json", bom + "{\"a\": 1}"))["a"], 1);
  const json space = {{"shape", {16}}, {"variable_length", true}};
  const TrainingData td = load_training_data({{"format", "text"}, {"train", file("bom.txt", bom + "a b\nb a\n")}}, space, 1);
  EXPECT_EQ(td.space.levels(), 3);  // <unk>, a, b: no token for the mark
}

TEST_F(RoundTwo, EndlessInputsStopAtTheirLimit) {
  expect_short_error<FormatError>([&] { read_dataset({{"path", "/dev/zero"}, {"format", "lines"}}, Space::tensor({4}, 2)); },
                                  "/dev/zero:1: ", "NUL byte");
  expect_refused([] { load_config_file("/dev/zero"); }, "DataError", "/dev/zero: more than 64.0 MiB of config");
  // An endless text without NULs (yes(1)): stops at the budget's share.
  const std::string fifo = (dir_ / "yes").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const Outcome o = test::run_limited([&] {
    if (::fork() == 0) {
      std::ofstream out(fifo);
      const std::string line(4096, '1');
      while (out << line << "\n") {
      }
      _exit(0);
    }
    ::setenv("DGM_MEMORY_LIMIT_MB", "64", 1);
    read_dataset({{"path", fifo}, {"format", "lines"}}, Space::sequence(8, 2));
  });
  EXPECT_EQ(o.type, "DataError") << o.message;
  EXPECT_NE(o.message.find(fifo + ": more than 16.0 MiB"), std::string::npos) << o.message;
}

TEST_F(RoundTwo, SymlinkLoopIsNamedAsOne) {
  fs::create_symlink("b", dir_ / "a");
  fs::create_symlink("a", dir_ / "b");
  const std::string a = (dir_ / "a").string();
  expect_short_error<IoError>([&] { read_dataset({{"path", a}, {"format", "lines"}}, Space::tensor({4}, 2)); }, a + ": ",
                              "symbolic links (a symlink loop?)");
  expect_short_error<IoError>([&] { load_config_file(a); }, a + ": ", "symbolic links");
  expect_short_error<IoError>([&] { load_model(a); }, a + ": ", "symbolic links");
}

TEST_F(RoundTwo, LongLinesAreRefusedWithoutBuildingThem) {
  // 20 MB of digits in one line for a 4-value space: refused as it is parsed,
  // within the limited address space.
  const std::string p = file("long.txt", std::string(20 << 20, '1') + "\n");
  expect_refused([&] { read_dataset({{"path", p}, {"format", "lines"}}, Space::tensor({4}, 2)); }, "FormatError",
                 p + ":1: 20971520 values, expected 4");
}

TEST_F(RoundTwo, NegativeNumbersAreCalledNegative) {
  const Space s = Space::tensor({3}, 12);
  const std::string l = file("neg.txt", "0 -99999999999 2\n");
  expect_short_error<DataError>([&] { read_dataset({{"path", l}, {"format", "lines"}}, s); }, l + ":1: ",
                                "value -99999999999 is negative");
  const std::string j = file("neg.jsonl", "{\"x\": [0, -99999999999, 2]}\n");
  expect_short_error<DataError>([&] { read_dataset({{"path", j}, {"format", "jsonl"}}, s); }, j + ":1: ",
                                "value -99999999999 is negative");
}

// ---- the memory budget governs what is produced ----

TEST_F(RoundTwo, ModelSizesAreCheckedForEveryKindBeforeFitting) {
  // 100,000 components on 5x5 digits took 479 MB under a 100 MB limit.
  expect_refused(
      [] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "100", 1);
        create_model(Space::tensor({5, 5}, 2), {{"type", "mixture"}, {"components", 100000}}, json::object());
      },
      "ConfigError", "model: 'mixture' on {0..1}^(5x5) needs ");
  // Every kind answers memory_bytes() for its test config, and create_model
  // refuses it when the budget is below that.
  for (const auto& k : model_kinds()) {
    const json cfg = json::parse(k.test_config);
    const Space s = Space::tensor({2, 2}, 2);
    std::unique_ptr<Model> m;
    ASSERT_NO_THROW(m = create_model(s, cfg["model"], cfg.contains("train") ? cfg["train"] : json::object())) << k.name;
    EXPECT_LT(m->memory_bytes(), uint64_t(1) << 30) << k.name;
  }
  // A loaded model is checked too, and named.
  const Space s = Space::tensor({64, 64}, 2);
  auto m = create_model(s, {{"type", "mixture"}, {"components", 40}}, json::object());
  const std::string path = (dir_ / "m.dgm").string();
  save_model(path, *m, {{"config", {{"model", {{"type", "mixture"}, {"components", 40}}}}}});
  ASSERT_GT(m->memory_bytes(), uint64_t(8) << 20);
  expect_refused(
      [&] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "8", 1);  // the file fits (2.5 MiB, twice for loading), EM does not
        load_model(path);
      },
      "IoError", path + ": cannot load: model: 'mixture'");
}

TEST_F(RoundTwo, DatasetsNeverGrowPastTheBudget) {
  // Samples pushed one by one (as the text readers do) stop at the budget,
  // not at twice it when the storage doubles.
  expect_refused(
      [] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "16", 1);
        Dataset d(Space::tensor({1024}, 256));
        const std::vector<uint8_t> row(1024, 7);
        for (int i = 0; i < 20000; ++i) d.push_back_u8(row.data());
      },
      "DataError", "dataset of 16385 samples needs 16.001 MiB, more than the 16.000 MiB");
  // Lines: the text itself is read within a quarter of the budget.
  std::string text;
  for (int i = 0; i < 300000; ++i) text += "0110100110\n";
  const std::string p = file("many.txt", text);
  expect_refused(
      [&] {
        ::setenv("DGM_MEMORY_LIMIT_MB", "8", 1);
        read_dataset({{"path", p}, {"format", "lines"}}, Space::tensor({10}, 2));
      },
      "DataError", p + ": more than 2.0 MiB of lines text");
}

TEST(RoundTwoSizes, TheTwoSizesOfABudgetMessageDiffer) {
  EXPECT_EQ(over_budget(uint64_t(215) << 20, uint64_t(200) << 20), "needs 215.0 MiB, more than the 200.0 MiB of memory available");
  // 0.20 GiB and 0.2 GiB used to print alike.
  const std::string m = over_budget((uint64_t(1) << 30) / 5 + 4096, (uint64_t(1) << 30) / 5);
  EXPECT_EQ(m, "needs 204.804 MiB, more than the 204.800 MiB of memory available") << "digits grow until they differ";
}

}  // namespace
}  // namespace dgm
