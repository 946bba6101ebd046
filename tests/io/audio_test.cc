// audio_test.cc — the audio codec: mu-law and linear quantisation (exact
// round trips, also through 16 bits), WAV files written byte by byte here and
// read through libsndfile (mono mix-down, frames, hop, padding, items),
// resampling or its refusal, writing WAV/FLAC and reading them back, the
// codec in a model file, and bad input: truncated and corrupt WAV and FLAC,
// zero-length audio, absurd sizes against the memory budget.
#include "dgm/io/audio.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "io/io_test_util.h"

namespace dgm {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::read_file;
using test::tmp_dir;
using test::write_file;

void put16(std::string& s, uint32_t v) { s += char(v & 0xff), s += char((v >> 8) & 0xff); }
void put32(std::string& s, uint32_t v) { put16(s, v & 0xffff), put16(s, v >> 16); }

// A 16-bit PCM WAV of interleaved samples; `claimed` overrides the data
// chunk's size (0: the true size).
std::string wav16(const std::vector<int16_t>& samples, int channels, int rate, uint32_t claimed = 0) {
  const uint32_t bytes = uint32_t(samples.size() * 2);
  std::string s = "RIFF";
  put32(s, 36 + bytes);
  s += "WAVEfmt ";
  put32(s, 16);
  put16(s, 1);
  put16(s, uint32_t(channels));
  put32(s, uint32_t(rate));
  put32(s, uint32_t(rate * channels * 2));
  put16(s, uint32_t(channels * 2));
  put16(s, 16);
  s += "data";
  put32(s, claimed ? claimed : bytes);
  for (int16_t v : samples) put16(s, uint16_t(v));
  return s;
}

AudioCodec codec(const json& j) {
  json data = j;
  ConfigSection s(data, "data");
  return AudioCodec(AudioOptions::from_section(s));
}

Records read(const AudioCodec& c, const Space& space, const std::string& path) {
  Records r(space, path);
  json src = json::object();
  ConfigSection opts(src, "data");
  c.read(path, "wav", opts, r);
  return r;
}

int16_t pcm(double x) { return int16_t(std::lrint(std::clamp(x * 32768.0, -32768.0, 32767.0))); }

TEST(Audio, MuLawRoundTripsEveryLevel) {
  EXPECT_EQ(mu_law_encode(0.0), 128);
  EXPECT_EQ(mu_law_encode(1.0), 255);
  EXPECT_EQ(mu_law_encode(-1.0), 0);
  EXPECT_EQ(mu_law_encode(7.0), 255);  // clipped
  EXPECT_DOUBLE_EQ(mu_law_decode(255), 1.0);
  EXPECT_DOUBLE_EQ(mu_law_decode(0), -1.0);
  for (int v = 0; v < 256; ++v) {
    EXPECT_EQ(mu_law_encode(mu_law_decode(v)), v);
    // ... also after 16-bit PCM, as a WAV written by the codec holds it.
    EXPECT_EQ(mu_law_encode(pcm(mu_law_decode(v)) / 32768.0), v) << v;
    if (v > 0) {
      EXPECT_LT(mu_law_decode(v - 1), mu_law_decode(v));
    }
  }
  // Levels are finer near 0: the step at 0 is under 1/1000, at the edge over 1/30.
  EXPECT_LT(mu_law_decode(129) - mu_law_decode(128), 1e-3);
  EXPECT_GT(mu_law_decode(255) - mu_law_decode(254), 1.0 / 30);
}

TEST(Audio, LinearIsEightBitPcm) {
  EXPECT_EQ(linear_encode(0.0), 128);
  EXPECT_EQ(linear_encode(-1.0), 0);
  EXPECT_EQ(linear_encode(1.0), 255);
  for (int v = 0; v < 256; ++v) {
    EXPECT_DOUBLE_EQ(linear_decode(v), (v - 128) / 128.0);
    EXPECT_EQ(linear_encode(linear_decode(v)), v);
    EXPECT_EQ(linear_encode(pcm(linear_decode(v)) / 32768.0), v);
  }
}

TEST(Audio, FramesHopAndPadding) {
  const std::string dir = tmp_dir();
  // 10 samples whose linear levels are 130..139.
  std::vector<int16_t> s;
  for (int t = 0; t < 10; ++t) s.push_back(int16_t((2 + t) * 256));
  const std::string path = write_file(dir + "/ten.wav", wav16(s, 1, 8000));
  {
    const AudioCodec c = codec({{"companding", "linear"}, {"frame", 4}});
    const Records r = read(c, Space::tensor({4}, 256), path);
    ASSERT_EQ(r.data.size(), 3u);  // [0,4) [4,8) [8,10) + 2 of silence
    EXPECT_EQ(r.data.row(0), (std::vector<int32_t>{130, 131, 132, 133}));
    EXPECT_EQ(r.data.row(2), (std::vector<int32_t>{138, 139, 128, 128}));
    ASSERT_EQ(r.items.size(), 1u);
    EXPECT_EQ(r.items[0], path);
    EXPECT_EQ(r.source(0), path + "#1");
    EXPECT_EQ(r.source(2), path + "#3");
    EXPECT_EQ(r.item_range(0), (std::pair<size_t, size_t>{0, 3}));
  }
  {
    const AudioCodec c = codec({{"companding", "linear"}, {"frame", 4}, {"pad", false}});
    EXPECT_EQ(read(c, Space::tensor({4}, 256), path).data.size(), 2u);  // the last 2 samples dropped
  }
  {
    const AudioCodec c = codec({{"companding", "linear"}, {"frame", 4}, {"hop", 2}, {"pad", false}});
    const Records r = read(c, Space::tensor({4}, 256), path);
    ASSERT_EQ(r.data.size(), 4u);  // starts 0, 2, 4, 6
    EXPECT_EQ(r.data.row(3), (std::vector<int32_t>{136, 137, 138, 139}));
  }
  {
    // Whole clips: one sequence each.
    const AudioCodec c = codec({{"companding", "linear"}});
    const Records r = read(c, Space::sequence(16, 256), path);
    ASSERT_EQ(r.data.size(), 1u);
    EXPECT_EQ(r.data.length(0), 10);
    expect_error<DataError>([&] { (void)read(c, Space::sequence(8, 256), path); }, path + ": 10 samples, more than");
  }
  {
    // Shorter than a frame without padding.
    const AudioCodec c = codec({{"frame", 16}, {"pad", false}});
    expect_error<DataError>([&] { (void)read(c, Space::tensor({16}, 256), path); }, path + ": 10 samples, shorter");
  }
}

TEST(Audio, StereoIsMixedDownToMono) {
  const std::string dir = tmp_dir();
  // Left +x, right -x: silence; left = right = x: x.
  const std::string path =
      write_file(dir + "/st.wav", wav16({8192, -8192, 16384, 16384, -4096, 0}, 2, 8000));
  const AudioCodec c = codec({{"companding", "linear"}});
  const Records r = read(c, Space::sequence(8, 256), path);
  EXPECT_EQ(r.data.row(0), (std::vector<int32_t>{128, 128 + 64, 128 - 8}));
}

TEST(Audio, ResamplingOrItsRefusal) {
  const std::string dir = tmp_dir();
  std::vector<int16_t> s;
  for (int t = 0; t < 1600; ++t) s.push_back(pcm(0.5 * std::sin(2 * M_PI * 440.0 * t / 16000.0)));
  const std::string path = write_file(dir + "/a16k.wav", wav16(s, 1, 16000));
  const AudioCodec off = codec({{"resample", "off"}});
  expect_error<DataError>([&] { (void)off.read_clip(path); }, path + ": 16000 Hz, the space's rate is 8000 Hz",
                          "resample");
  for (const char* how : {"linear", "fast", "medium", "best"}) {
    const std::vector<int32_t> v = codec({{"resample", how}}).read_clip(path);
    EXPECT_NEAR(double(v.size()), 800.0, 2.0) << how;
    // A 440 Hz sine at amplitude 0.5 keeps its range: mu-law levels of about +-0.5.
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    EXPECT_NEAR(*hi, mu_law_encode(0.5), 3) << how;
    EXPECT_NEAR(*lo, mu_law_encode(-0.5), 3) << how;
  }
}

TEST(Audio, WrittenFilesReadBackIdentically) {
  const std::string dir = tmp_dir();
  for (const char* companding : {"mu-law", "linear"})
    for (const char* format : {"wav", "flac"}) {
      const AudioCodec c = codec({{"companding", companding}, {"frame", 64}});
      const Space space = Space::tensor({64}, 256, 3);
      const Dataset d = test::random_dataset(space, 5, 7);
      const std::string out = dir + "/" + companding + "-" + format;
      c.write_file(d, format, out);  // a folder, label subfolders
      const Records r = read(c, space, out);
      ASSERT_EQ(r.data.size(), d.size());
      // The folder's order is by label, then name: match by the file's index.
      for (size_t i = 0; i < r.data.size(); ++i) {
        const std::string name = fs::path(r.items[i]).stem().string();
        const size_t k = size_t(std::stoul(name));
        EXPECT_EQ(r.data.row(i), d.row(k)) << companding << " " << format << " " << name;
        EXPECT_EQ(r.data.label(i), d.label(k));
      }
      // One file: the samples one after another.
      const std::string one = out + "." + format;
      c.write_file(d, format, one);
      const std::vector<int32_t> all = c.read_clip(one);
      ASSERT_EQ(all.size(), 5u * 64);
      for (size_t i = 0; i < 5; ++i)
        EXPECT_EQ(std::vector<int32_t>(all.begin() + long(i * 64), all.begin() + long((i + 1) * 64)), d.row(i));
    }
  // A folder that is not empty is refused.
  const AudioCodec c = codec({{"frame", 8}});
  expect_error<IoError>([&] { c.write_file(test::random_dataset(Space::tensor({8}, 256), 2, 1), "wav", dir + "/mu-law-wav"); },
                        dir + "/mu-law-wav: directory is not empty");
}

TEST(Audio, PartialClipForCompletion) {
  const std::string dir = tmp_dir();
  const std::string path = write_file(dir + "/start.wav", wav16({0, 256, 512}, 1, 8000));
  const AudioCodec c = codec({{"companding", "linear"}, {"frame", 6}});
  std::vector<uint8_t> known;
  const Dataset d = c.read_partial(path, "wav", Space::tensor({6}, 256), &known);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(known, (std::vector<uint8_t>{1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(d.at(0, 2), 130);
  known.clear();
  const AudioCodec c3 = codec({{"companding", "linear"}, {"frame", 3}});
  expect_error<DataError>([&] { (void)c3.read_partial(path, "wav", Space::tensor({3}, 256), &known); },
                          path + ": 3 samples", "nothing is left to continue");
}

TEST(Audio, CodecTravelsInTheModelFile) {
  const std::string dir = tmp_dir();
  json data = {{"train", "unused"}, {"format", "wav"}, {"rate", 16000}, {"companding", "linear"},
               {"frame", 32}, {"hop", 16}, {"pad", false}, {"resample", "best"}};
  Space space;
  const auto c = AudioCodec::fit(data, {{"labels", 10}}, &space);
  EXPECT_EQ(space, Space::tensor({32}, 256, 10));
  auto m = create_model(space, {{"type", "independent"}}, json::object());
  m->set_codec(c);
  ThreadPool pool(1);
  Rng rng(1);
  m->fit(test::random_dataset(space, 20, 3), nullptr, {&pool, &rng});
  const std::string path = dir + "/m.dgm";
  save_model(path, *m, {{"config", {{"model", {{"type", "independent"}}}}}});
  const auto loaded = load_model(path);
  ASSERT_NE(loaded->codec(), nullptr);
  EXPECT_EQ(loaded->codec()->to_json(), c->to_json());
  EXPECT_EQ(loaded->codec()->to_json()["hop"], 16);
  // The space section must agree with the frame.
  expect_error<ConfigError>([&] { (void)AudioCodec::fit(data, {{"shape", {64}}}, &space); }, "space.shape: [64]");
  expect_error<ConfigError>([&] { (void)AudioCodec::fit({{"hop", 4}}, {{"shape", {64}}}, &space); }, "data.hop:");
}

TEST(Audio, BadInputIsOneLineNamingTheFile) {
  const std::string dir = tmp_dir();
  const AudioCodec c = codec({{"frame", 16}});
  std::vector<int16_t> s(400, 1000);
  const std::string good = wav16(s, 1, 8000);
  // Truncated: the data chunk claims more than the file holds.
  const std::string cut = write_file(dir + "/cut.wav", good.substr(0, good.size() / 2));
  expect_error<FormatError>([&] { (void)c.read_clip(cut); }, cut + ": truncated WAV");
  // Not a sound file; empty; zero samples; a folder.
  const std::string junk = write_file(dir + "/junk.wav", "this is not a sound file at all");
  expect_error<FormatError>([&] { (void)c.read_clip(junk); }, junk + ": not a sound file");
  const std::string empty = write_file(dir + "/empty.wav", "");
  expect_error<FormatError>([&] { (void)c.read_clip(empty); }, empty + ": empty file");
  const std::string zero = write_file(dir + "/zero.wav", wav16({}, 1, 8000));
  expect_error<DataError>([&] { (void)c.read_clip(zero); }, zero + ": zero-length audio");
  expect_error<IoError>([&] { (void)c.read_clip(dir + "/missing.wav"); }, dir + "/missing.wav: cannot open");
  // A corrupt header: a WAV with 0 channels.
  std::string bad = good;
  bad[22] = 0;
  const std::string nochan = write_file(dir + "/nochan.wav", bad);
  expect_error<FormatError>([&] { (void)c.read_clip(nochan); }, nochan + ":");
  // FLAC: truncated in its frames, and cut inside its header.
  c.write_file(Dataset(test::random_dataset(Space::tensor({16}, 256), 200, 2)), "flac", dir + "/ok.flac");
  const std::string flac = read_file(dir + "/ok.flac");
  const std::string fcut = write_file(dir + "/cut.flac", flac.substr(0, flac.size() * 2 / 3));
  expect_error<FormatError>([&] { (void)c.read_clip(fcut); }, fcut + ": corrupt or truncated FLAC");
  const std::string fhead = write_file(dir + "/head.flac", flac.substr(0, 30));
  expect_error<FormatError>([&] { (void)c.read_clip(fhead); }, fhead + ": corrupt or truncated FLAC");
  // A FLAC header claiming 2^35 samples (36-bit field of STREAMINFO) is
  // refused before anything is allocated.
  std::string huge = flac;
  uint64_t word = 0;
  for (int k = 0; k < 8; ++k) word = word << 8 | uint8_t(huge[18 + size_t(k)]);
  word = (word & ~((uint64_t(1) << 36) - 1)) | (uint64_t(1) << 35);
  for (int k = 7; k >= 0; --k, word >>= 8) huge[18 + size_t(k)] = char(word & 0xff);
  const std::string claim = write_file(dir + "/claim.flac", huge);
  expect_error<DataError>([&] { (void)c.read_clip(claim); }, claim + ": the header claims 34359738368 samples");
  // ... and a claim that fits the cap but not the memory budget.
  setenv("DGM_MEMORY_LIMIT_MB", "1", 1);
  std::string big = flac;
  word = 0;
  for (int k = 0; k < 8; ++k) word = word << 8 | uint8_t(big[18 + size_t(k)]);
  word = (word & ~((uint64_t(1) << 36) - 1)) | (uint64_t(1) << 22);
  for (int k = 7; k >= 0; --k, word >>= 8) big[18 + size_t(k)] = char(word & 0xff);
  const std::string claim2 = write_file(dir + "/claim2.flac", big);
  expect_error<DataError>([&] { (void)c.read_clip(claim2); }, claim2 + ": a clip of 4194304 samples", "memory");
  unsetenv("DGM_MEMORY_LIMIT_MB");
}

TEST(Audio, FolderOfClipsWithLabelsAndErrorPolicy) {
  const std::string dir = tmp_dir();
  fs::create_directories(dir + "/set/0");
  fs::create_directories(dir + "/set/1");
  write_file(dir + "/set/0/a.wav", wav16(std::vector<int16_t>(40, 0), 1, 8000));
  write_file(dir + "/set/1/b.wav", wav16(std::vector<int16_t>(20, 0), 1, 8000));
  write_file(dir + "/set/1/c.wav", "broken");
  const AudioCodec c = codec({{"frame", 16}});
  const Space space = Space::tensor({16}, 256, 2);
  expect_error<FormatError>([&] { (void)read(c, space, dir + "/set"); }, dir + "/set/1/c.wav: not a sound file");
  // A tolerant policy (as `dgm score` has) skips the bad clip and its frames.
  Records r(space, dir + "/set");
  r.max_errors = 5;
  size_t reported = 0;
  r.on_error = [&](const std::string&) { ++reported; };
  json src = json::object();
  ConfigSection opts(src, "data");
  c.read(dir + "/set", "wav", opts, r);
  EXPECT_EQ(reported, 1u);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.data.size(), 3u + 2u);
  EXPECT_EQ(r.data.label(0), 0);
  EXPECT_EQ(r.data.label(4), 1);
  EXPECT_EQ(r.source(4), dir + "/set/1/b.wav#2");
  EXPECT_EQ(r.item.size(), r.data.size());
}

}  // namespace
}  // namespace dgm
