// audio.cc — the audio codec (audio.h): sound files through libsndfile, mono
// mix-down, resampling through libsamplerate, mu-law (WaveNet eq. 2: f(x) =
// sign(x) ln(1 + mu |x|) / ln(1 + mu), mu = 255, levels round((f + 1) / 2 * mu))
// or linear 8-bit quantisation, frames or whole-clip sequences, and writing
// WAV / FLAC / Ogg. Sizes from a file's header are checked against the memory
// budget before anything is allocated.
#include "dgm/io/audio.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dgm/error.h"
#include "dgm/io/atomic_file.h"
#include "dgm/model_file.h"
#include "formats.h"

namespace dgm {

namespace fs = std::filesystem;

namespace {

constexpr double kMu = 255.0;
constexpr int64_t kMaxRate = 1000000;              // samples a second, either side
constexpr int64_t kMaxChannels = 1024;
constexpr int64_t kMaxClipSamples = int64_t(1) << 31;  // per channel, before and after resampling

const io::FileKind kSoundFiles{"sound", "a", {".wav", ".flac", ".ogg", ".oga"}};

std::string mib(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

// libsndfile's messages, on one line.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

void check_budget(const std::string& path, uint64_t bytes, const std::string& what) {
  const uint64_t budget = memory_budget();
  if (bytes > budget / 2)
    throw DataError(path + ": " + what + " would need " + mib(bytes) + ", more than half the " + mib(budget) +
                    " of memory available");
}

// "WAV", "FLAC" or "Ogg" when the file starts like one, else "".
std::string container(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char b[12] = {0};
  in.read(b, sizeof b);
  const std::string h(b, size_t(in.gcount()));
  if (h.size() >= 12 && h.compare(0, 4, "RIFF") == 0 && h.compare(8, 4, "WAVE") == 0) return "WAV";
  if (h.size() >= 4 && h.compare(0, 4, "fLaC") == 0) return "FLAC";
  if (h.size() >= 4 && h.compare(0, 4, "OggS") == 0) return "Ogg";
  return "";
}

struct SndFile {
  SNDFILE* f = nullptr;
  ~SndFile() {
    if (f) sf_close(f);
  }
};

// A clip's samples, mixed down to mono, at its own rate.
struct Sound {
  int64_t rate = 0;
  std::vector<float> mono;
};

Sound read_sound(const std::string& path) {
  if (path == "-") throw ConfigError("-: sound files are read from files, not from stdin");
  io::require_file(path);
  SF_INFO info;
  std::memset(&info, 0, sizeof info);
  SndFile sf;
  sf.f = sf_open(path.c_str(), SFM_READ, &info);
  if (!sf.f) {
    std::error_code ec;
    if (fs::file_size(path, ec) == 0 && !ec) throw FormatError(path + ": empty file, expected a WAV, FLAC or Ogg sound file");
    const std::string why = one_line(sf_strerror(nullptr));
    const std::string kind = container(path);
    if (!kind.empty()) throw FormatError(path + ": corrupt or truncated " + kind + " file (libsndfile: " + why + ")");
    throw FormatError(path + ": not a sound file dgm reads (WAV, FLAC, Ogg/Vorbis): " + why);
  }
  if (info.channels < 1 || info.channels > kMaxChannels)
    throw FormatError(path + ": " + std::to_string(info.channels) + " channels (1 to " + std::to_string(kMaxChannels) +
                      " are read)");
  if (info.samplerate < 1 || info.samplerate > kMaxRate)
    throw FormatError(path + ": sample rate " + std::to_string(info.samplerate) + " Hz outside 1.." +
                      std::to_string(kMaxRate));
  if (info.frames == 0) throw DataError(path + ": zero-length audio (the file holds no samples)");
  // Formats of unknown length (a stream) report SF_COUNT_MAX: read until the end, within the limits.
  const bool known_length = info.frames > 0 && info.frames != SF_COUNT_MAX;
  if (known_length) {
    if (info.frames > kMaxClipSamples)
      throw DataError(path + ": the header claims " + std::to_string(info.frames) + " samples a channel, more than " +
                      std::to_string(kMaxClipSamples) + " (" + std::to_string(kMaxClipSamples / 8000 / 3600) +
                      " hours at 8 kHz)");
    check_budget(path, uint64_t(info.frames) * uint64_t(info.channels) * 4, "a clip of " +
                                                                                std::to_string(info.frames) + " samples x " +
                                                                                std::to_string(info.channels) + " channels");
  }
  Sound s;
  s.rate = info.samplerate;
  if (known_length) s.mono.reserve(size_t(info.frames));
  const int64_t C = info.channels;
  const sf_count_t chunk = 16384;
  std::vector<float> buf(size_t(chunk * C));
  for (;;) {
    const sf_count_t got = sf_readf_float(sf.f, buf.data(), chunk);
    if (got <= 0) break;
    if (int64_t(s.mono.size()) + got > kMaxClipSamples)
      throw DataError(path + ": more than " + std::to_string(kMaxClipSamples) + " samples a channel");
    for (sf_count_t t = 0; t < got; ++t) {
      double m = 0;
      for (int64_t c = 0; c < C; ++c) m += double(buf[size_t(t * C + c)]);
      s.mono.push_back(float(m / double(C)));
    }
  }
  if (sf_error(sf.f) != SF_ERR_NO_ERROR) {
    const std::string kind = container(path);
    throw FormatError(path + ": corrupt or truncated " + (kind.empty() ? std::string("sound") : kind) +
                      " data after " + std::to_string(s.mono.size()) + " samples (libsndfile: " +
                      one_line(sf_strerror(sf.f)) + ")");
  }
  if (known_length && int64_t(s.mono.size()) < info.frames)
    throw FormatError(path + ": truncated: the header says " + std::to_string(info.frames) + " samples, the file holds " +
                      std::to_string(s.mono.size()));
  if (s.mono.empty()) throw DataError(path + ": zero-length audio (the file holds no samples)");
  // libsndfile reads a WAV whose data chunk claims more bytes than the file
  // holds up to the end of the file, noting "data : CLAIMED (should be
  // FOUND)" in its log: refuse it (a streamed WAV's 0 or 0xFFFFFFFF is not a claim).
  char log[8192] = {0};
  sf_command(sf.f, SFC_GET_LOG_INFO, log, sizeof log - 1);
  const std::string notes = log;
  for (size_t at = notes.find("data : "); at != std::string::npos; at = notes.find("data : ", at + 1)) {
    if (at != 0 && notes[at - 1] != '\n') continue;
    unsigned long long claimed = 0, found = 0;
    if (std::sscanf(notes.c_str() + at, "data : %llu (should be %llu)", &claimed, &found) == 2 && claimed > found &&
        claimed != 0xFFFFFFFFULL)
      throw FormatError(path + ": truncated WAV: its data chunk claims " + std::to_string(claimed) +
                        " bytes, the file holds " + std::to_string(found));
  }
  for (float v : s.mono)
    if (!std::isfinite(v)) throw FormatError(path + ": corrupt sound data (a sample is not a finite number)");
  return s;
}

int converter(const std::string& name) {
  if (name == "linear") return SRC_LINEAR;
  if (name == "fast") return SRC_SINC_FASTEST;
  if (name == "medium") return SRC_SINC_MEDIUM_QUALITY;
  return SRC_SINC_BEST_QUALITY;
}

// The sound at `rate` samples a second.
std::vector<float> resample(const std::string& path, const Sound& s, int64_t rate, const std::string& how) {
  if (s.rate == rate) return s.mono;
  if (how == "off")
    throw DataError(path + ": " + std::to_string(s.rate) + " Hz, the space's rate is " + std::to_string(rate) +
                    " Hz; resample it (sox " + path + " -r " + std::to_string(rate) +
                    " out.wav) or set \"resample\" to \"medium\"");
  const double ratio = double(rate) / double(s.rate);
  const double out_n = std::ceil(double(s.mono.size()) * ratio) + 16;
  if (out_n > double(kMaxClipSamples))
    throw DataError(path + ": resampled to " + std::to_string(rate) + " Hz it would hold more than " +
                    std::to_string(kMaxClipSamples) + " samples");
  check_budget(path, uint64_t(out_n) * 4, "resampling to " + std::to_string(rate) + " Hz");
  std::vector<float> out(static_cast<size_t>(out_n));
  SRC_DATA d;
  std::memset(&d, 0, sizeof d);
  d.data_in = s.mono.data();
  d.input_frames = long(s.mono.size());
  d.data_out = out.data();
  d.output_frames = long(out.size());
  d.src_ratio = ratio;
  const int err = src_simple(&d, converter(how), 1);
  if (err) throw DataError(path + ": resampling from " + std::to_string(s.rate) + " Hz failed: " + src_strerror(err));
  out.resize(size_t(d.output_frames_gen));
  if (out.empty()) throw DataError(path + ": zero-length audio after resampling to " + std::to_string(rate) + " Hz");
  return out;
}

}  // namespace

// ---------------------------------------------------------------- quantisation

int32_t mu_law_encode(double x) {
  x = std::clamp(x, -1.0, 1.0);
  const double f = std::copysign(std::log1p(kMu * std::abs(x)) / std::log1p(kMu), x);
  return int32_t(std::clamp(std::floor((f + 1.0) / 2.0 * kMu + 0.5), 0.0, 255.0));
}

double mu_law_decode(int32_t v) {
  const double f = 2.0 * double(v) / kMu - 1.0;
  return std::copysign(std::expm1(std::abs(f) * std::log1p(kMu)) / kMu, f);
}

int32_t linear_encode(double x) {
  return int32_t(std::clamp(std::floor(x * 128.0 + 0.5) + 128.0, 0.0, 255.0));
}

double linear_decode(int32_t v) { return double(v - 128) / 128.0; }

// ---------------------------------------------------------------- options

json AudioOptions::to_json() const {
  return {{"rate", rate}, {"companding", mu_law ? "mu-law" : "linear"}, {"frame", frame},
          {"hop", hop},   {"pad", pad},                                {"resample", resample}};
}

AudioOptions AudioOptions::from_section(ConfigSection& s) {
  AudioOptions o;
  o.rate = s.get_int("rate", 8000, 1, kMaxRate);
  o.mu_law = s.get_choice("companding", "mu-law", {"mu-law", "linear"}) == "mu-law";
  o.frame = s.get_int("frame", 0, 0, Space::kMaxDims);
  o.hop = s.get_int("hop", o.frame, o.frame > 0 ? 1 : 0, Space::kMaxDims);
  if (o.frame == 0 && s.has("hop") && o.hop != 0)
    throw ConfigError(s.path() + ".hop: only used with frames (\"frame\": F); whole clips are sequences");
  o.pad = s.get_bool("pad", true);
  o.resample = s.get_choice("resample", "medium", {"off", "linear", "fast", "medium", "best"});
  return o;
}

// ---------------------------------------------------------------- codec

json AudioCodec::to_json() const {
  json j = o_.to_json();
  j["type"] = "audio";
  return j;
}

void AudioCodec::save(ModelWriter&) const {}

std::string AudioCodec::describe() const {
  std::string s = "audio: " + std::to_string(o_.rate) + " Hz, " + (o_.mu_law ? "mu-law" : "linear") + " 256 levels, ";
  if (o_.frame > 0) {
    s += "frames of " + std::to_string(o_.frame) + " samples every " + std::to_string(o_.hop) + " (last frame " +
         (o_.pad ? "padded with silence" : "dropped when partial") + ")";
  } else {
    s += "whole clips as sequences";
  }
  return s + ", resampling " + o_.resample;
}

void AudioCodec::check_space(const Space& space) const {
  const bool ok = o_.frame > 0 ? !space.variable_length() && space.shape() == std::vector<int64_t>{o_.frame} &&
                                     space.levels() == 256
                               : space.variable_length() && space.levels() == 256;
  if (!ok)
    throw DataError("an audio codec of " +
                    (o_.frame > 0 ? "frames of " + std::to_string(o_.frame) + " samples encodes into {0..255}^" +
                                        std::to_string(o_.frame)
                                  : std::string("whole clips encodes into sequences over {0..255}")) +
                    ", not " + space.describe());
}

std::string AudioCodec::recognise(const std::string& head) const {
  if (head.size() >= 12 && head.compare(0, 4, "RIFF") == 0 && head.compare(8, 4, "WAVE") == 0) return "wav";
  if (head.size() >= 4 && head.compare(0, 4, "fLaC") == 0) return "flac";
  if (head.size() >= 4 && head.compare(0, 4, "OggS") == 0) return "ogg";
  return "";
}

std::vector<int32_t> AudioCodec::read_clip(const std::string& path) const {
  const Sound s = read_sound(path);
  const std::vector<float> x = resample(path, s, o_.rate, o_.resample);
  std::vector<int32_t> v(x.size());
  for (size_t t = 0; t < x.size(); ++t) v[t] = encode(double(x[t]));
  return v;
}

void AudioCodec::push_clip(const std::vector<int32_t>& v, int32_t label, const std::string& name, Records& out) const {
  const Space& space = out.data.space();
  const int64_t n = int64_t(v.size());
  if (o_.frame == 0) {
    if (n > space.dims())
      throw DataError(name + ": " + std::to_string(n) + " samples, more than the space's maximum length " +
                      std::to_string(space.dims()) + " (" + format_seconds(space.dims()) +
                      "); raise space.shape or cut the clip into frames with \"frame\"");
    out.begin_item(name);
    out.push(v, label);
    return;
  }
  const int64_t F = o_.frame, H = o_.hop;
  int64_t frames;
  if (n < F) {
    if (!o_.pad)
      throw DataError(name + ": " + std::to_string(n) + " samples, shorter than a frame of " + std::to_string(F) +
                      " (\"pad\" is off)");
    frames = 1;
  } else {
    frames = (n - F) / H + 1;
    if (o_.pad && (n - F) % H != 0) ++frames;
  }
  const int32_t silence = encode(0.0);
  out.begin_item(name);
  std::vector<int32_t> row(static_cast<size_t>(F));
  for (int64_t k = 0; k < frames; ++k) {
    const int64_t start = k * H;
    for (int64_t t = 0; t < F; ++t) row[size_t(t)] = start + t < n ? v[size_t(start + t)] : silence;
    out.push(row, label);
  }
}

std::string AudioCodec::format_seconds(int64_t samples) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g s", double(samples) / double(o_.rate));
  return buf;
}

void AudioCodec::read(const std::string& path, const std::string&, ConfigSection& opts, Records& out) const {
  // The codec's keys may be repeated from the training config; they must agree.
  json given = json::object();
  for (const char* key : {"rate", "companding", "frame", "hop", "pad", "resample"})
    if (opts.has(key)) given[key] = opts.get_json(key);
  opts.finish();
  if (!given.empty()) {
    ConfigSection g(given, opts.path());
    const json theirs = AudioOptions::from_section(g).to_json(), mine = o_.to_json();
    for (auto it = given.begin(); it != given.end(); ++it)
      if (theirs[it.key()] != mine[it.key()])
        throw ConfigError(opts.path() + "." + it.key() + ": " + theirs[it.key()].dump() +
                          ", but the model's audio codec has " + mine[it.key()].dump());
  }
  bool single = false;
  const std::vector<io::FileItem> files = io::list_source_files(path, out.data.space(), kSoundFiles, &single);
  out.set_by_line(false);
  for (size_t k = 0; k < files.size(); ++k) {
    const io::FileItem& f = files[k];
    out.record(k + 1, [&] { push_clip(read_clip(f.path), f.label, f.path, out); });
  }
}

void AudioCodec::write(const Dataset&, const std::string& format, std::ostream&) const {
  throw ConfigError("write: the " + format + " format is written to files, not to a stream");
}

namespace {

// /dev/null, a FIFO: written in place as one file.
bool is_device(const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  return !ec && fs::exists(st) && !fs::is_regular_file(st) && !fs::is_directory(st);
}

int sf_format(const std::string& format) {
  if (format == "flac") return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  if (format == "ogg") return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
  return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
}

// A sound file being built in memory, for libsndfile's virtual I/O.
struct MemoryFile {
  std::string bytes;
  sf_count_t pos = 0;

  static sf_count_t length(void* self) { return sf_count_t(static_cast<MemoryFile*>(self)->bytes.size()); }
  static sf_count_t seek(sf_count_t offset, int whence, void* self) {
    auto* m = static_cast<MemoryFile*>(self);
    const sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? sf_count_t(m->bytes.size()) : 0;
    if (base + offset < 0) return -1;
    m->pos = base + offset;
    return m->pos;
  }
  static sf_count_t read(void* dst, sf_count_t n, void* self) {
    auto* m = static_cast<MemoryFile*>(self);
    const sf_count_t avail = std::max<sf_count_t>(0, sf_count_t(m->bytes.size()) - m->pos);
    const sf_count_t k = std::min(n, avail);
    if (k > 0) std::memcpy(dst, m->bytes.data() + m->pos, size_t(k));
    m->pos += k;
    return k;
  }
  static sf_count_t write(const void* src, sf_count_t n, void* self) {
    auto* m = static_cast<MemoryFile*>(self);
    if (size_t(m->pos) + size_t(n) > m->bytes.size()) m->bytes.resize(size_t(m->pos) + size_t(n));
    std::memcpy(&m->bytes[size_t(m->pos)], src, size_t(n));
    m->pos += n;
    return n;
  }
  static sf_count_t tell(void* self) { return static_cast<MemoryFile*>(self)->pos; }
};

// One mono sound file at `rate`, encoded in memory and written by the one
// atomic writer (io/atomic_file.h).
void write_sound(const std::string& path, const std::string& format, int64_t rate, const std::vector<double>& x) {
  SF_INFO info;
  std::memset(&info, 0, sizeof info);
  info.samplerate = int(rate);
  info.channels = 1;
  info.format = sf_format(format);
  SF_VIRTUAL_IO io{&MemoryFile::length, &MemoryFile::seek, &MemoryFile::read, &MemoryFile::write, &MemoryFile::tell};
  MemoryFile mem;
  bool ok = false;
  std::string why;
  {
    SndFile sf;
    sf.f = sf_open_virtual(&io, SFM_WRITE, &info, &mem);
    if (!sf.f) {
      why = one_line(sf_strerror(nullptr));
    } else if (format == "ogg") {
      std::vector<float> f(x.begin(), x.end());
      ok = sf_write_float(sf.f, f.data(), sf_count_t(f.size())) == sf_count_t(f.size());
    } else {
      // 16-bit PCM rounded here (libsndfile scales floats by 32767 but reads by 1/32768).
      std::vector<short> v(x.size());
      for (size_t t = 0; t < x.size(); ++t) v[t] = short(std::clamp(std::lrint(x[t] * 32768.0), -32768L, 32767L));
      ok = sf_write_short(sf.f, v.data(), sf_count_t(v.size())) == sf_count_t(v.size());
    }
    if (sf.f && !ok) why = one_line(sf_strerror(sf.f));
    if (sf.f && sf_close(sf.f) != 0) ok = false;
    sf.f = nullptr;
  }
  if (!ok) throw IoError(path + ": cannot encode the " + format + " file" + (why.empty() ? "" : ": " + why));
  write_file_atomically(path, mem.bytes);
}

}  // namespace

void AudioCodec::write_file(const Dataset& data, const std::string& format, const std::string& path) const {
  check_space(data.space());
  const std::string ext = format == "ogg" ? ".ogg" : "." + format;
  std::vector<double> x;
  auto add = [&](size_t i) {
    const int64_t len = data.length(i);
    for (int64_t t = 0; t < len; ++t) x.push_back(decode(data.at(i, t)));
  };
  if (io::ends_with(io::lower(path), ext) || is_device(path)) {
    // One file: the samples one after another.
    for (size_t i = 0; i < data.size(); ++i) add(i);
    if (x.empty()) throw DataError(path + ": no sound to write (every sample is empty)");
    write_sound(path, format, o_.rate, x);
    return;
  }
  const bool labeled = io::labels_all_or_none(data, path);
  io::prepare_output_dir(path);
  for (size_t i = 0; i < data.size(); ++i) {
    x.clear();
    add(i);
    // An empty sequence is written as one sample of silence (a sound file needs a sample).
    if (x.empty()) x.push_back(decode(encode(0.0)));
    write_sound(io::sample_file_path(path, i, data.size(), labeled ? data.label(i) : -1, ext), format, o_.rate, x);
  }
}

Dataset AudioCodec::read_partial(const std::string& path, const std::string&, const Space& space,
                                 std::vector<uint8_t>* known) const {
  check_space(space);
  bool single = false;
  const std::vector<io::FileItem> files = io::list_source_files(path, space, kSoundFiles, &single);
  Dataset out(space);
  for (const auto& f : files) {
    std::vector<int32_t> v = read_clip(f.path);
    const int64_t n = int64_t(v.size());
    if (n >= space.dims())
      throw DataError(f.path + ": " + std::to_string(n) + " samples, the model's " +
                      (o_.frame > 0 ? "frame holds " : "clips hold at most ") + std::to_string(space.dims()) +
                      ": nothing is left to continue; give a shorter start");
    if (o_.frame > 0) {
      for (int64_t t = 0; t < space.dims(); ++t) known->push_back(t < n);
      v.resize(size_t(space.dims()), encode(0.0));
    }
    io::with_context(f.path, [&] { out.push_back(v, -1); });
  }
  return out;
}

std::shared_ptr<const Codec> AudioCodec::fit(const json& data_section, const json& space_section, Space* space,
                                         Communicator*) {
  ConfigSection s(data_section, "data");
  const AudioOptions o = AudioOptions::from_section(s);
  if (!space_section.is_null() && !space_section.is_object())
    throw ConfigError("space: expected an object, got " + space_section.dump());
  const json sp = space_section.is_object() ? space_section : json::object();
  if (o.frame > 0) {
    for (auto it = sp.begin(); it != sp.end(); ++it)
      if (it.key() != "shape" && it.key() != "levels" && it.key() != "labels")
        throw ConfigError("space: unknown key '" + it.key() + "' for sound frames (known: labels; shape and levels "
                          "follow from the frame)");
    if (sp.contains("shape") && sp["shape"] != json::array({o.frame}))
      throw ConfigError("space.shape: " + sp["shape"].dump() + " but data.frame is " + std::to_string(o.frame) +
                        "; drop the key or make it [" + std::to_string(o.frame) + "]");
    if (sp.contains("levels") && sp["levels"] != 256)
      throw ConfigError("space.levels: sound is quantised to 256 levels, got " + sp["levels"].dump());
    json full = {{"shape", {o.frame}}, {"levels", 256}};
    if (sp.contains("labels")) full["labels"] = sp["labels"];
    *space = Space::from_json(full);
  } else {
    if (!sp.contains("shape"))
      throw ConfigError("space: whole sound clips need {\"shape\": [max_length], \"variable_length\": true}, or "
                        "frames with data.frame");
    for (auto it = sp.begin(); it != sp.end(); ++it)
      if (it.key() != "shape" && it.key() != "levels" && it.key() != "variable_length")
        throw ConfigError("space: unknown key '" + it.key() + "' for whole sound clips (known: shape, levels, "
                          "variable_length)");
    if (sp.contains("variable_length") && sp["variable_length"] != true)
      throw ConfigError("space.variable_length: whole sound clips are variable-length (true); cut them into frames "
                        "with data.frame for a fixed shape");
    if (sp.contains("levels") && sp["levels"] != 256)
      throw ConfigError("space.levels: sound is quantised to 256 levels, got " + sp["levels"].dump());
    json full = sp;
    full["levels"] = 256;
    full["variable_length"] = true;
    *space = Space::from_json(full);
  }
  return std::make_shared<AudioCodec>(o);
}

std::shared_ptr<const Codec> AudioCodec::load(const json& header, const ModelReader& r) {
  try {
    json c = header.at("codec");
    c.erase("type");
    ConfigSection s(c, "codec");
    AudioOptions o = AudioOptions::from_section(s);
    s.finish();
    return std::make_shared<AudioCodec>(o);
  } catch (const Error& e) {
    throw FormatError(r.name() + ": bad audio codec: " + e.what());
  }
}

}  // namespace dgm
