// codec.cc — the codec registry (one explicit table, as for models), fitting
// a codec to a config's training data, and loading one from a model file.
#include "dgm/codec.h"

#include <algorithm>

#include "dgm/comm.h"
#include "dgm/error.h"
#include "dgm/io/audio.h"
#include "dgm/io/read.h"
#include "dgm/io/text.h"
#include "dgm/io/video.h"
#include "dgm/model_file.h"

namespace dgm {

std::vector<int32_t> Codec::encode_prompt(const std::string&) const {
  throw DataError("the " + type() + " codec has no text form for a prompt; give known values with --given");
}

bool Codec::streams(const std::string&) const { return true; }

void Codec::write_file(const Dataset&, const std::string& format, const std::string& path) const {
  throw ConfigError(path + ": the " + type() + " codec writes " + format + " to a stream, not to files");
}

Dataset Codec::read_partial(const std::string& path, const std::string& format, const Space&,
                            std::vector<uint8_t>*) const {
  throw DataError(path + ": the " + type() + " codec reads no partial samples in " + format +
                  "; give known values as '?' lines");
}

const std::vector<CodecKind>& codec_kinds() {
  static const std::vector<CodecKind> kinds = {
      {"text", {"text"}, &TextCodec::fit, &TextCodec::load},
      {"audio", {"wav", "flac", "ogg"}, &AudioCodec::fit, &AudioCodec::load},
      {"video", {"gif", "frames"}, &VideoCodec::fit, &VideoCodec::load},
  };
  return kinds;
}

namespace {

// The format named by a data section: its "format" key, or that of its train source.
std::string data_format(const json& data) {
  if (!data.is_object()) return "";
  if (data.contains("format") && data["format"].is_string()) return data["format"].get<std::string>();
  if (data.contains("train") && data["train"].is_object() && data["train"].contains("format") &&
      data["train"]["format"].is_string())
    return data["train"]["format"].get<std::string>();
  return "";
}

}  // namespace

std::shared_ptr<const Codec> fit_codec(const json& data_section, const json& space_section, Space* space,
                                       Communicator* comm) {
  const std::string format = data_format(data_section);
  for (const auto& k : codec_kinds())
    if (std::find(k.formats.begin(), k.formats.end(), format) != k.formats.end())
      return k.fit(data_section, space_section, space, comm && comm->size() > 1 ? comm : nullptr);
  *space = Space::from_json(space_section);
  return nullptr;
}

std::shared_ptr<const Codec> load_codec(const ModelReader& r) {
  const json& h = r.header();
  if (!h.contains("codec")) {
    // dgm 0.1 stored an n-gram's text codec inside the model (see TextCodec::load).
    if (h.contains("ngram") && h["ngram"].is_object() && h["ngram"].value("has_codec", false)) return TextCodec::load(h, r);
    return nullptr;
  }
  const json& c = h["codec"];
  if (!c.is_object() || !c.contains("type") || !c["type"].is_string())
    throw FormatError(r.name() + ": model header 'codec' has no type");
  const std::string type = c["type"].get<std::string>();
  for (const auto& k : codec_kinds())
    if (type == k.type) return k.load(h, r);
  std::string known;
  for (const auto& k : codec_kinds()) known += (known.empty() ? "" : ", ") + std::string(k.type);
  throw FormatError(r.name() + ": unknown codec '" + type + "' (this dgm knows: " + known + "); it may need a newer dgm");
}

TrainingData load_training_data(const json& data_section, const json& space_section, uint64_t seed) {
  LocalCommunicator one;
  return load_training_data(data_section, space_section, seed, one);
}

TrainingData load_training_data(const json& data_section, const json& space_section, uint64_t seed,
                                Communicator& comm) {
  TrainingData td;
  td.codec = fit_codec(data_section, space_section, &td.space, &comm);
  DataSplits s = load_data(data_section, td.space, seed, td.codec.get(), comm);
  td.train = std::move(s.train);
  td.validation = std::move(s.validation);
  td.test = std::move(s.test);
  return td;
}

}  // namespace dgm
