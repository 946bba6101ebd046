// video.h — clips of frames as points of a space: the video codec of
// "format": "gif" or "frames". A clip is T frames of C x H x W values (C = 1
// gray or 3 RGB, levels 2 or 256): the space {0..L-1}^(T x C x H x W), stored
// frame-major (d = ((t*C + c)*H + y)*W + x), so every tensor model works on
// video as it is.
//
//   "space": {"shape": [8, 1, 32, 32], "levels": 256, "labels": 10},
//   "data":  {"train": "moving-fmnist/train", "format": "gif", "fps": 8}
//
// Formats:
//   gif     read: an animated GIF a clip (decoded by giflib, composed by
//           transparency and disposal method; every frame must cover the
//           whole logical screen), a file, a folder of GIFs
//           (label subfolders give labels) or a list file. Write (giflib):
//           one GIF a sample into a folder (label subfolders when labeled),
//           or one file when the path ends in .gif and there is one sample;
//           gray palettes are exact, RGB clips need at most 256 colours.
//   frames  read: a folder of frame images (PNG, PGM, ...; in name order) is
//           one clip; a folder of such folders is one clip each; a folder of
//           label folders of clip folders gives labels. Write: a folder with
//           one subfolder a clip holding its frames as PNGs.
//   sheet   write only: one PNG with a row of frames a clip.
// Pixels are read as images are (image.h): RGB to gray by the BT.601 luma,
// binary spaces thresholded at "threshold" (default 128). A clip's frame
// count and size must be the space's; they are checked, and the decoded size
// against the memory budget, before anything is decoded. Data keys: "fps"
// (frames a second of written GIFs, default 8; stored in the model file),
// "threshold".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dgm/codec.h"
#include "dgm/io/read.h"

namespace dgm {

class VideoCodec : public Codec {
 public:
  explicit VideoCodec(int64_t fps) : fps_(fps) {}
  int64_t fps() const { return fps_; }

  // Codec
  std::string type() const override { return "video"; }
  json to_json() const override { return {{"type", "video"}, {"fps", fps_}}; }
  void save(ModelWriter&) const override {}
  std::string describe() const override;
  void check_space(const Space& space) const override;
  std::vector<std::string> formats() const override { return {"gif", "frames", "sheet"}; }
  std::string recognise(const std::string& head) const override;
  void read(const std::string& path, const std::string& format, ConfigSection& opts, Records& out) const override;
  void write(const Dataset& data, const std::string& format, std::ostream& out) const override;
  bool streams(const std::string&) const override { return false; }
  void write_file(const Dataset& data, const std::string& format, const std::string& path) const override;
  Dataset read_partial(const std::string& path, const std::string& format, const Space& space,
                       std::vector<uint8_t>* known) const override;
  std::string item_unit() const override { return "clip"; }

  // Fitted from the config alone (no data read): the same on every MPI rank.
  static std::shared_ptr<const Codec> fit(const json& data_section, const json& space_section, Space* space,
                                          Communicator* comm = nullptr);
  static std::shared_ptr<const Codec> load(const json& header, const ModelReader& r);

 private:
  int64_t fps_;
};

// One GIF file as the frames of a clip of `space` (the first `frames` <= T of
// them when `partial`, else exactly T): values (frames * C*H*W), frame-major.
// threshold as for images (-1: the default). Errors start with the path.
std::vector<int32_t> read_gif_clip(const std::string& path, const Space& space, int threshold, bool partial,
                                   int64_t* frames);
// Sample i of `data` (a video space) as an animated GIF at `fps` frames a second.
void write_gif_clip(const Dataset& data, size_t i, const std::string& path, int64_t fps);

}  // namespace dgm
