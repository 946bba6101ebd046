// audio.h — sound as points of a space: the audio codec of "format": "wav",
// "flac" or "ogg". A clip (WAV, FLAC or Ogg/Vorbis, read through libsndfile)
// is mixed down to mono, resampled to the codec's rate (libsamplerate), and
// quantised to 256 levels, by mu-law (WaveNet, van den Oord et al. 2016, eq. 2,
// mu = 255) or linearly (8-bit PCM); then it is either cut into frames of F
// samples every H samples, one dataset row a frame (the space {0..255}^F,
// with the clip's label on each row), or kept whole as a sequence of up to
// max_length samples (the space {0..255}^(0..max_length)).
//
//   "space": {"labels": 10},                              // {0..255}^F x {0..9}
//   "data":  {"train": "spoken-digits/train", "format": "wav",
//             "rate": 8000, "companding": "mu-law", "frame": 4096, "hop": 4096}
//
// Data keys (stored in the model file, so new clips are read as in training):
//   rate        samples a second of the space (default 8000)
//   companding  "mu-law" (default) or "linear"
//   frame       F, samples a frame; 0 = whole clips as sequences (then the
//               space section gives {"shape": [max_length], "variable_length": true})
//   hop         H, samples from one frame's start to the next (default F)
//   pad         true (default): a clip's last, partial frame (and a clip
//               shorter than F) is filled up with the silence level; false:
//               the samples after the last whole frame are dropped
//   resample    what a clip at another rate goes through: "off" (refused with
//               the fix), "linear", "fast", "medium" (default), "best"
//               (libsamplerate's linear and sinc converters)
// The three format names read any of WAV, FLAC and Ogg/Vorbis (libsndfile
// goes by the content); a source is a file, a folder of sound files (label
// subfolders give labels) or a list file. They write 16-bit PCM WAV, 16-bit
// FLAC and Ogg/Vorbis at the codec's rate, each sample decoded to the centre
// of its level: to a path ending in the format's extension, every sample one
// after another in one file; to any other path, a folder of one file a
// sample (in label subfolders when labeled).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dgm/codec.h"
#include "dgm/io/read.h"

namespace dgm {

struct AudioOptions {
  int64_t rate = 8000;
  bool mu_law = true;
  int64_t frame = 0;  // F; 0 = sequences
  int64_t hop = 0;    // H
  bool pad = true;
  std::string resample = "medium";

  json to_json() const;
  // Reads the keys above from `s` (ConfigError naming s.path().key).
  static AudioOptions from_section(ConfigSection& s);
};

// mu-law (mu = 255) and linear quantisation of x in [-1, 1] (clipped) to
// {0..255}, and each level's centre back (mu-law: the inverse of the
// companding at the level's centre; linear: (v - 128) / 128, as 8-bit PCM).
// decode(encode(x)) is within half a level of x, and encode(decode(v)) = v,
// also after rounding to 16 bits.
int32_t mu_law_encode(double x);
double mu_law_decode(int32_t v);
int32_t linear_encode(double x);
double linear_decode(int32_t v);

class AudioCodec : public Codec {
 public:
  explicit AudioCodec(AudioOptions opts) : o_(std::move(opts)) {}
  const AudioOptions& options() const { return o_; }

  // The levels of a clip (after mono mix-down, resampling and quantisation),
  // read from a file. IoError / FormatError / DataError start with the path.
  std::vector<int32_t> read_clip(const std::string& path) const;
  // The rows a clip becomes (frames, or the whole clip), pushed into `out`
  // as one item named `name`.
  void push_clip(const std::vector<int32_t>& levels, int32_t label, const std::string& name, Records& out) const;
  int32_t encode(double x) const { return o_.mu_law ? mu_law_encode(x) : linear_encode(x); }
  double decode(int32_t v) const { return o_.mu_law ? mu_law_decode(v) : linear_decode(v); }

  // Codec
  std::string type() const override { return "audio"; }
  json to_json() const override;
  void save(ModelWriter& w) const override;
  std::string describe() const override;
  void check_space(const Space& space) const override;
  std::vector<std::string> formats() const override { return {"wav", "flac", "ogg"}; }
  std::string recognise(const std::string& head) const override;
  void read(const std::string& path, const std::string& format, ConfigSection& opts, Records& out) const override;
  void write(const Dataset& data, const std::string& format, std::ostream& out) const override;
  bool streams(const std::string&) const override { return false; }
  void write_file(const Dataset& data, const std::string& format, const std::string& path) const override;
  Dataset read_partial(const std::string& path, const std::string& format, const Space& space,
                       std::vector<uint8_t>* known) const override;
  std::string unit() const override { return "sample"; }
  std::string item_unit() const override { return "clip"; }

  // The registry's factory and loader (codec.h CodecKind): the data keys
  // above; the space section gives "labels" (frames), or {"shape":
  // [max_length], "variable_length": true} (sequences); "shape" and "levels",
  // when given for frames, must be [F] and 256.
  // Fitted from the config alone (no data read): the same on every MPI rank.
  static std::shared_ptr<const Codec> fit(const json& data_section, const json& space_section, Space* space,
                                          Communicator* comm = nullptr);
  static std::shared_ptr<const Codec> load(const json& header, const ModelReader& r);

 private:
  std::string format_seconds(int64_t samples) const;  // "0.512 s"
  AudioOptions o_;
};

}  // namespace dgm
