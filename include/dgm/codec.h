// codec.h — a codec turns outside data (lines of text, sound clips, video
// clips) into points of a Space and back. It is stored in the model file
// beside the space ("codec" in the header, its tables as arrays), so every
// model on that space reads and writes the same outside data: models only
// ever see points of X, and no front end asks which model it holds.
//
//   Space space;                                     // training: the codec may set the space
//   auto codec = dgm::fit_codec(cfg["data"], cfg["space"], &space);  // null: plain tensor data
//   dgm::DataSplits s = dgm::load_data(cfg["data"], space, seed, codec.get());
//   model->set_codec(codec);                         // saved with the model
//   dgm::Records r = dgm::read_records({{"path", "test.txt"}}, model->space(), model->codec());
//
// A codec owns one or more format names ("text"); read_records and
// write_dataset dispatch to it for those, and to the plain tensor formats
// (grid, lines, image, idx, ...) for the others, so a text model can still
// write its samples as token ids with `-f lines`.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "dgm/config.h"
#include "dgm/dataset.h"

namespace dgm {

class Communicator;
class ModelWriter;
class ModelReader;
class Records;

class Codec {
 public:
  virtual ~Codec() = default;

  // The registry name, e.g. "text"; the "type" of to_json().
  virtual std::string type() const = 0;
  // Its parameters for the model header, {"type": ..., ...}; tables go to save().
  virtual json to_json() const = 0;
  // Its tables as arrays named "codec.*".
  virtual void save(ModelWriter& w) const = 0;
  // One line for `dgm info`, e.g. "text: word tokens, 12155 types (<unk> included)".
  virtual std::string describe() const = 0;
  // DataError unless the codec encodes into `space` (checked on loading).
  virtual void check_space(const Space& space) const = 0;

  // The formats it reads and writes; the first is its default output.
  virtual std::vector<std::string> formats() const = 0;
  // Whether the first bytes of a file (`head`, up to 4 KiB) look like one of
  // its formats: the format's name, or "".
  virtual std::string recognise(const std::string& head) const = 0;
  // Reads outside data in one of its formats into `out` (whose space is the
  // model's). Per-record errors go through out's error policy (read.h).
  virtual void read(const std::string& path, const std::string& format, ConfigSection& opts, Records& out) const = 0;
  // Writes points of the space as outside data in one of its stream formats.
  virtual void write(const Dataset& data, const std::string& format, std::ostream& out) const = 0;
  // Whether `format` is written to a stream by write() (text), or to a path
  // by write_file() (a sound file, a GIF, a folder of them). Default: streams.
  virtual bool streams(const std::string& format) const;
  // Writes points of the space to `path` in one of its file formats (a file,
  // or a folder of files, as the codec documents), through temporary names
  // renamed into place. Default: ConfigError (every format streams).
  virtual void write_file(const Dataset& data, const std::string& format, const std::string& path) const;

  // The start of a sample as outside data, for completion (`dgm sample
  // --given`): the first frames of a clip, the first samples of a sound.
  // Returns the samples with *known (N, D) set to 1 where a value was read,
  // 0 where the model is to fill in. Default: DataError, no partial form.
  virtual Dataset read_partial(const std::string& path, const std::string& format, const Space& space,
                               std::vector<uint8_t>* known) const;

  // Outside text (`dgm sample --prompt`) as a known prefix of a sample.
  // The default: DataError, the codec has no text form.
  virtual std::vector<int32_t> encode_prompt(const std::string& text) const;
  // The name of one position's value in figures ("token", "char", "sample"
  // for sound, "value").
  virtual std::string unit() const { return "value"; }
  // The name of one outside item whose samples Records groups (a sound
  // clip cut into frames: "clip"), for figures per item.
  virtual std::string item_unit() const { return "item"; }
};

// One entry of the codec registry (src/core/codec.cc): the data formats whose
// configs build this codec, a factory that builds it from the training data
// (and sets the space: a text vocabulary gives the levels), and a loader from
// a model file.
struct CodecKind {
  const char* type;
  std::vector<std::string> formats;
  // With comm (a distributed run), each rank reads its part of the training
  // data and the codec is fitted to what all ranks read (the same codec).
  std::shared_ptr<const Codec> (*fit)(const json& data_section, const json& space_section, Space* space,
                                      Communicator* comm);
  std::shared_ptr<const Codec> (*load)(const json& header, const ModelReader& r);
};
const std::vector<CodecKind>& codec_kinds();

// The codec a config's data section asks for, fitted to its training data, and
// the space (from the codec where it defines it, else from space_section).
// Null when the data are plain tensors (then *space = Space::from_json(space_section)).
std::shared_ptr<const Codec> fit_codec(const json& data_section, const json& space_section, Space* space,
                                       Communicator* comm = nullptr);
// The codec stored in a model file's header ("codec"), or null when it has none.
std::shared_ptr<const Codec> load_codec(const ModelReader& r);

}  // namespace dgm
