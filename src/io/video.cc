// video.cc — the video codec (video.h): animated GIFs read and written
// through giflib (reading: a walk over the file's blocks first checks the
// frame count, every frame's size and the memory the decode needs; frames are
// then composed here, by the GIF89a disposal rules);
// folders of frame images; PNG sheets with a row of frames a clip.
#include "dgm/io/video.h"

#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "dgm/error.h"
#include "dgm/input.h"
#include "dgm/io/atomic_file.h"
#include "dgm/io/image.h"
#include "dgm/model_file.h"
#include "formats.h"

namespace dgm {

namespace fs = std::filesystem;

namespace {

const io::FileKind kGifFiles{"GIF", "a", {".gif"}};
const io::FileKind kFrameFiles{"frame image", "a", {".png", ".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".jpg", ".jpeg"}};

struct Geometry {
  int64_t T, C, H, W;
  int64_t frame() const { return C * H * W; }
};

Geometry geometry(const Space& space, const std::string& name) {
  const auto& s = space.shape();
  if (space.variable_length() || s.size() != 4 || (s[1] != 1 && s[1] != 3) ||
      (space.levels() != 2 && space.levels() != 256))
    throw ConfigError(name + ": video needs a space {T, C, H, W} with C = 1 (gray) or 3 (RGB) and levels 2 or 256, "
                             "not " + space.describe());
  return {s[0], s[1], s[2], s[3]};
}

Space frame_space(const Space& space) {
  const auto& s = space.shape();
  return Space::tensor({s[1], s[2], s[3]}, space.levels());
}

int threshold_for(const Space& space, int threshold) { return io::default_threshold(space, threshold); }

std::string mib(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

std::string read_file_bytes(const std::string& path) {
  if (path == "-") throw ConfigError("-: video clips are read from files, not from stdin");
  std::string bytes = read_whole_input(path, {uint64_t(1) << 30, nullptr, "GIF"});
  if (bytes.empty()) throw FormatError(path + ": empty file, expected a GIF");
  return bytes;
}

struct GifLayout {
  int64_t w = 0, h = 0, frames = 0;
  bool trailer = true;  // false: the file ends after its last frame's data
};

// Walks the blocks of a GIF (GIF89a spec, sec. 17-27) without decoding:
// the logical screen, and one image descriptor a frame, each of which must
// cover the whole screen.
GifLayout walk_gif(const std::string& b, const std::string& path) {
  auto at = [&](size_t i) { return uint8_t(b[i]); };
  auto le16 = [&](size_t i) { return int64_t(at(i)) | int64_t(at(i + 1)) << 8; };
  if (b.size() < 13 || (b.compare(0, 6, "GIF87a") != 0 && b.compare(0, 6, "GIF89a") != 0))
    throw FormatError(path + ": not a GIF (no GIF87a/GIF89a signature)");
  GifLayout g;
  g.w = le16(6);
  g.h = le16(8);
  if (g.w == 0 || g.h == 0) throw FormatError(path + ": corrupt GIF: the screen is " + std::to_string(g.w) + "x" +
                                              std::to_string(g.h));
  size_t pos = 13;
  if (at(10) & 0x80) pos += 3 * (size_t(1) << ((at(10) & 7) + 1));
  auto truncated = [&] { return FormatError(path + ": truncated GIF (it ends inside a block, before its trailer)"); };
  auto skip_sub_blocks = [&] {
    for (;;) {
      if (pos >= b.size()) throw truncated();
      const size_t n = at(pos++);
      if (n == 0) return;
      pos += n;
    }
  };
  for (;;) {
    if (pos >= b.size()) {
      if (g.frames == 0) throw truncated();
      g.trailer = false;
      break;  // no trailer after the last block: accepted, as decoders do
    }
    const uint8_t c = at(pos++);
    if (c == 0x3B) break;  // trailer
    if (c == 0x21) {       // extension: label, then sub-blocks
      if (pos >= b.size()) throw truncated();
      ++pos;
      skip_sub_blocks();
    } else if (c == 0x2C) {  // image descriptor
      if (pos + 9 > b.size()) throw truncated();
      const int64_t left = le16(pos), top = le16(pos + 2), fw = le16(pos + 4), fh = le16(pos + 6);
      const uint8_t flags = at(pos + 8);
      pos += 9;
      ++g.frames;
      if (left != 0 || top != 0 || fw != g.w || fh != g.h)
        throw DataError(path + ": frame " + std::to_string(g.frames) + " is " + std::to_string(fw) + "x" +
                        std::to_string(fh) + " at (" + std::to_string(left) + "," + std::to_string(top) +
                        "), the screen " + std::to_string(g.w) + "x" + std::to_string(g.h) +
                        ": frames of different sizes are not read (expand them to full frames, e.g. "
                        "convert in.gif -coalesce out.gif)");
      if (flags & 0x80) pos += 3 * (size_t(1) << ((flags & 7) + 1));
      if (pos >= b.size()) throw truncated();
      const uint8_t code_size = at(pos++);
      if (code_size < 1 || code_size > 11)
        throw FormatError(path + ": corrupt GIF: frame " + std::to_string(g.frames) + " has LZW code size " +
                          std::to_string(code_size));
      skip_sub_blocks();
    } else {
      throw FormatError(path + ": corrupt GIF: unknown block 0x" + [&] {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%02X", c);
        return std::string(buf);
      }() + " at byte " + std::to_string(pos - 1));
    }
  }
  if (g.frames == 0) throw DataError(path + ": the GIF has no frames");
  return g;
}

// giflib's output function: appends to the std::string in UserData.
int append_bytes(GifFileType* gif, const GifByteType* data, int n) {
  static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(data), size_t(n));
  return n;
}

// One pixel value of a channel from RGBA bytes, as images are read.
int pixel_value(const uint8_t* rgb, int64_t C, int64_t c) {
  if (C == 3) return rgb[c];
  return (299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000;  // ITU-R BT.601 luma
}

// Values 0..levels-1 to bytes 0..255, as images are written.
uint8_t to_byte(int32_t v, int64_t levels) {
  return uint8_t(levels >= 256 ? v : std::min<int64_t>(255, (int64_t(v) * 255 + (levels - 1) / 2) / (levels - 1)));
}

// The frames of a folder of frame images (sorted by name) or of one image.
std::vector<std::string> frame_files(const std::string& path) {
  if (!io::is_directory(path)) {
    io::require_file(path);
    return {path};
  }
  std::vector<std::string> files, subdirs;
  io::list_dir(path, &files, &subdirs);
  if (!subdirs.empty())
    throw FormatError(path + "/" + subdirs[0] + ": a clip folder holds frame images only, not folders");
  std::vector<std::string> out;
  for (const auto& f : files) {
    const std::string p = (fs::path(path) / f).string();
    if (!kFrameFiles.member(f))
      throw FormatError(p + ": not a frame image by its extension (.png .pgm .ppm .pbm .pnm .bmp .jpg .jpeg)");
    out.push_back(p);
  }
  if (out.empty()) throw FormatError(path + ": no frame images in the clip folder");
  return out;
}

std::vector<int32_t> read_frames_clip(const std::string& path, const Space& space, int threshold, bool partial,
                                      int64_t* frames) {
  const Geometry g = geometry(space, path);
  const std::vector<std::string> files = frame_files(path);
  const int64_t n = int64_t(files.size());
  if (n > g.T || (!partial && n != g.T))
    throw DataError(path + ": " + std::to_string(n) + " frames, the space has " + std::to_string(g.T) +
                    (partial ? " at most" : ""));
  const Space fs_ = frame_space(space);
  std::vector<int32_t> x(size_t(g.T * g.frame()), 0);
  for (int64_t t = 0; t < n; ++t) {
    const std::vector<int32_t> f = read_image_file(files[size_t(t)], fs_, threshold);
    std::copy(f.begin(), f.end(), x.begin() + t * g.frame());
  }
  *frames = n;
  return x;
}

// The clips of a "frames" source: one folder of frames (or one image) is a
// clip; a folder of clip folders, or of label folders of clip folders.
std::vector<io::FileItem> frame_clips(const std::string& path, const Space& space) {
  if (!io::is_directory(path)) return {{path, -1}};
  std::vector<std::string> files, subdirs;
  io::list_dir(path, &files, &subdirs);
  if (subdirs.empty()) return {{path, -1}};
  if (!files.empty())
    throw FormatError(path + ": mixes files (" + files[0] + ") and folders (" + subdirs[0] +
                      "); a clip folder holds frames, a dataset folder clip folders");
  std::vector<std::string> inner_files, inner_dirs;
  io::list_dir((fs::path(path) / subdirs[0]).string(), &inner_files, &inner_dirs);
  std::vector<io::FileItem> clips;
  if (inner_dirs.empty()) {
    for (const auto& d : subdirs) clips.push_back({(fs::path(path) / d).string(), -1});
    return clips;
  }
  // Label folders of clip folders: the labels as list_source_files gives them.
  if (!space.has_labels())
    throw ConfigError(path + ": has label folders (" + subdirs[0] + ", ...) of clip folders but the space has no "
                             "labels; add \"labels\": " + std::to_string(subdirs.size()) + " to the space");
  bool numeric = true;
  for (const auto& s : subdirs) numeric &= !s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 9;
  if (!numeric && int64_t(subdirs.size()) != space.labels())
    throw DataError(path + ": " + std::to_string(subdirs.size()) + " label folders, the space has " +
                    std::to_string(space.labels()) + " labels");
  std::vector<std::pair<int32_t, std::string>> order;
  for (size_t k = 0; k < subdirs.size(); ++k) {
    const int32_t label = numeric ? int32_t(std::stol(subdirs[k])) : int32_t(k);
    io::with_context(path + "/" + subdirs[k], [&] { space.check_label(label); });
    order.push_back({label, subdirs[k]});
  }
  std::sort(order.begin(), order.end());
  for (const auto& [label, name] : order) {
    const std::string folder = (fs::path(path) / name).string();
    std::vector<std::string> f, d;
    io::list_dir(folder, &f, &d);
    if (!f.empty()) throw FormatError(folder + "/" + f[0] + ": a label folder holds clip folders, not files");
    for (const auto& c : d) clips.push_back({(fs::path(folder) / c).string(), label});
  }
  if (clips.empty()) throw FormatError(path + ": no clip folders");
  return clips;
}
// giflib reads from the bytes in memory, and a trailer after them where the
// file has none.
struct GifSource {
  const std::string* bytes;
  bool add_trailer;
  size_t pos = 0;
};

int read_gif_bytes(GifFileType* gif, GifByteType* out, int n) {
  auto* src = static_cast<GifSource*>(gif->UserData);
  const size_t want = size_t(std::max(n, 0)), size = src->bytes->size();
  size_t k = std::min(want, size - std::min(size, src->pos));
  if (k) std::memcpy(out, src->bytes->data() + src->pos, k);
  if (k < want && src->add_trailer && src->pos + k == size) out[k++] = 0x3B;
  src->pos += k;
  return int(k);
}

// The frames of a GIF, composed as a viewer shows them (GIF89a sec. 23):
// each frame is drawn over the screen, except where it has its transparent
// colour; then its disposal method says what the next frame is drawn over:
// the screen as it is (0, 1), the background (2: black, transparent for a
// browser), or the screen as it was before the frame (3). Frames cover the
// whole screen (walk_gif). RGB, 3 bytes a pixel.
std::vector<uint8_t> decode_gif(const std::string& bytes, const std::string& path, const GifLayout& lay) {
  GifSource src{&bytes, !lay.trailer};
  int err = 0;
  GifFileType* gif = DGifOpen(&src, &read_gif_bytes, &err);
  auto fail = [&](int code) {
    const char* why = GifErrorString(code);
    return FormatError(path + ": cannot decode the GIF" + (why ? std::string(" (") + why + ")" : std::string()));
  };
  if (!gif) throw fail(err);
  std::unique_ptr<GifFileType, void (*)(GifFileType*)> owner(gif, [](GifFileType* p) {
    int e = 0;
    DGifCloseFile(p, &e);
  });
  if (DGifSlurp(gif) != GIF_OK) throw fail(gif->Error);
  if (gif->ImageCount != lay.frames || gif->SWidth != lay.w || gif->SHeight != lay.h)
    throw FormatError(path + ": corrupt GIF: decoded " + std::to_string(gif->ImageCount) + " frames of " +
                      std::to_string(gif->SWidth) + "x" + std::to_string(gif->SHeight) + ", its blocks describe " +
                      std::to_string(lay.frames) + " of " + std::to_string(lay.w) + "x" + std::to_string(lay.h));
  const size_t hw = size_t(lay.w) * size_t(lay.h);
  std::vector<uint8_t> out(size_t(lay.frames) * hw * 3);
  std::vector<uint8_t> screen(hw * 3, 0), before;
  for (int f = 0; f < gif->ImageCount; ++f) {
    const SavedImage& im = gif->SavedImages[f];
    const std::string frame = "frame " + std::to_string(f + 1);
    if (im.ImageDesc.Left != 0 || im.ImageDesc.Top != 0 || im.ImageDesc.Width != lay.w ||
        im.ImageDesc.Height != lay.h || !im.RasterBits)
      throw FormatError(path + ": corrupt GIF: " + frame + " does not cover the screen");
    const ColorMapObject* map = im.ImageDesc.ColorMap ? im.ImageDesc.ColorMap : gif->SColorMap;
    if (!map || !map->Colors || map->ColorCount < 1)
      throw FormatError(path + ": corrupt GIF: " + frame + " has no colour table");
    GraphicsControlBlock gcb{DISPOSAL_UNSPECIFIED, false, 0, NO_TRANSPARENT_COLOR};
    if (DGifSavedExtensionToGCB(gif, f, &gcb) != GIF_OK) gcb = {DISPOSAL_UNSPECIFIED, false, 0, NO_TRANSPARENT_COLOR};
    if (gcb.DisposalMode == DISPOSE_PREVIOUS) before = screen;
    for (size_t k = 0; k < hw; ++k) {
      const int index = im.RasterBits[k];
      if (index == gcb.TransparentColor) continue;
      if (index >= map->ColorCount)
        throw FormatError(path + ": corrupt GIF: " + frame + " uses colour " + std::to_string(index) +
                          " of a table of " + std::to_string(map->ColorCount));
      const GifColorType& c = map->Colors[index];
      screen[k * 3] = c.Red;
      screen[k * 3 + 1] = c.Green;
      screen[k * 3 + 2] = c.Blue;
    }
    std::copy(screen.begin(), screen.end(), out.begin() + std::ptrdiff_t(size_t(f) * hw * 3));
    if (gcb.DisposalMode == DISPOSE_BACKGROUND) std::fill(screen.begin(), screen.end(), uint8_t(0));
    if (gcb.DisposalMode == DISPOSE_PREVIOUS) screen.swap(before);
  }
  return out;
}

}  // namespace

std::vector<int32_t> read_gif_clip(const std::string& path, const Space& space, int threshold, bool partial,
                                   int64_t* frames) {
  const Geometry g = geometry(space, path);
  const int t = threshold_for(space, threshold);
  const std::string bytes = read_file_bytes(path);
  const GifLayout lay = walk_gif(bytes, path);
  if (lay.w != g.W || lay.h != g.H)
    throw DataError(path + ": frames are " + std::to_string(lay.w) + "x" + std::to_string(lay.h) +
                    " (width x height), the space expects " + std::to_string(g.W) + "x" + std::to_string(g.H) +
                    "; clips are never resized");
  if (lay.frames > g.T || (!partial && lay.frames != g.T))
    throw DataError(path + ": " + std::to_string(lay.frames) + " frames, the space has " + std::to_string(g.T) +
                    (partial ? " at most" : ""));
  // giflib holds a byte a pixel of every frame; the composed frames take 3,
  // and two screens more.
  const uint64_t need = uint64_t(lay.w) * uint64_t(lay.h) * (4 * uint64_t(lay.frames) + 6);
  if (need > memory_budget() / 2)
    throw DataError(path + ": decoding " + std::to_string(lay.frames) + " frames of " + std::to_string(lay.w) + "x" +
                    std::to_string(lay.h) + " needs " + mib(need) + ", more than half the " + mib(memory_budget()) +
                    " of memory available");
  const std::vector<uint8_t> rgb = decode_gif(bytes, path, lay);
  const int64_t n = lay.frames;
  std::vector<int32_t> x(size_t(g.T * g.frame()), 0);
  const int64_t HW = g.H * g.W;
  for (int64_t f = 0; f < n; ++f)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t k = 0; k < HW; ++k) {
        const int v = pixel_value(&rgb[size_t((f * HW + k) * 3)], g.C, c);
        x[size_t(f * g.frame() + c * HW + k)] = t >= 0 ? (v >= t ? 1 : 0) : v;
      }
  *frames = n;
  return x;
}

void write_gif_clip(const Dataset& data, size_t i, const std::string& path, int64_t fps) {
  const Geometry g = geometry(data.space(), path);
  const int64_t levels = data.space().levels(), HW = g.H * g.W;
  if (g.W > 65535 || g.H > 65535) throw DataError(path + ": frames larger than 65535 pixels a side do not fit a GIF");
  // The palette: the grays (exact), or a clip's own colours (at most 256).
  std::vector<GifColorType> colors;
  std::vector<uint8_t> index(size_t(g.T * HW));
  if (g.C == 1) {
    const int64_t n = levels == 2 ? 2 : 256;
    for (int64_t v = 0; v < n; ++v) {
      const uint8_t b = to_byte(int32_t(v), levels);
      colors.push_back({b, b, b});
    }
    for (int64_t k = 0; k < g.T * HW; ++k) index[size_t(k)] = uint8_t(data.at(i, k));
  } else {
    std::map<uint32_t, uint8_t> seen;
    for (int64_t f = 0; f < g.T; ++f)
      for (int64_t k = 0; k < HW; ++k) {
        uint8_t rgb[3];
        for (int64_t c = 0; c < 3; ++c) rgb[c] = to_byte(data.at(i, f * g.frame() + c * HW + k), levels);
        const uint32_t key = uint32_t(rgb[0]) << 16 | uint32_t(rgb[1]) << 8 | rgb[2];
        auto it = seen.find(key);
        if (it == seen.end()) {
          if (seen.size() == 256)
            throw DataError(path + ": the clip has more than 256 colours, more than a GIF holds; write it as "
                                   "frames or a sheet (-f frames, -f sheet)");
          it = seen.emplace(key, uint8_t(seen.size())).first;
          colors.push_back({rgb[0], rgb[1], rgb[2]});
        }
        index[size_t(f * HW + k)] = it->second;
      }
  }
  int bits = 1;
  while ((size_t(1) << bits) < colors.size()) ++bits;
  colors.resize(size_t(1) << bits, GifColorType{0, 0, 0});
  ColorMapObject* map = GifMakeMapObject(int(colors.size()), colors.data());
  if (!map) throw std::bad_alloc();
  // Encoded in memory, then written by the one atomic writer (io/atomic_file.h).
  std::string bytes;
  int err = 0;
  GifFileType* gif = EGifOpen(&bytes, &append_bytes, &err);
  bool ok = gif != nullptr;
  if (ok) {
    EGifSetGifVersion(gif, true);
    ok = EGifPutScreenDesc(gif, int(g.W), int(g.H), bits, 0, map) == GIF_OK;
    // Loop forever (the NETSCAPE2.0 application extension).
    const unsigned char loop[3] = {1, 0, 0};
    ok = ok && EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
         EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_OK && EGifPutExtensionBlock(gif, 3, loop) == GIF_OK &&
         EGifPutExtensionTrailer(gif) == GIF_OK;
    GraphicsControlBlock gcb;
    gcb.DisposalMode = DISPOSE_DO_NOT;
    gcb.UserInputFlag = false;
    gcb.DelayTime = int(std::max<int64_t>(1, (100 + fps / 2) / fps));
    gcb.TransparentColor = NO_TRANSPARENT_COLOR;
    GifByteType ext[4];
    const size_t ext_len = EGifGCBToExtension(&gcb, ext);
    for (int64_t f = 0; ok && f < g.T; ++f) {
      ok = EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, int(ext_len), ext) == GIF_OK &&
           EGifPutImageDesc(gif, 0, 0, int(g.W), int(g.H), false, nullptr) == GIF_OK;
      for (int64_t y = 0; ok && y < g.H; ++y) ok = EGifPutLine(gif, &index[size_t(f * HW + y * g.W)], int(g.W)) == GIF_OK;
    }
    if (!ok) err = gif->Error;
    int close_err = 0;
    if (EGifCloseFile(gif, &close_err) != GIF_OK) {
      if (ok) err = close_err;
      ok = false;
    }
  }
  GifFreeMapObject(map);
  if (!ok) {
    const char* why = GifErrorString(err);
    throw IoError(path + ": cannot encode the GIF" + (why ? std::string(": ") + why : std::string()));
  }
  write_file_atomically(path, bytes);
}

std::string VideoCodec::describe() const {
  return "video: clips of frames, GIF in and out (" + std::to_string(fps_) + " frames/s when written), frame folders, "
         "PNG sheets";
}

void VideoCodec::check_space(const Space& space) const {
  try {
    (void)geometry(space, "video codec");
  } catch (const ConfigError& e) {
    throw DataError(e.what());
  }
}

std::string VideoCodec::recognise(const std::string& head) const {
  if (head.size() >= 6 && (head.compare(0, 6, "GIF87a") == 0 || head.compare(0, 6, "GIF89a") == 0)) return "gif";
  // One frame image (the first frame of a clip, for --given).
  if ((head.size() >= 8 && head.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) == 0) ||
      (head.size() >= 3 && head.compare(0, 3, "\xff\xd8\xff", 3) == 0))
    return "frames";
  return "";
}

void VideoCodec::read(const std::string& path, const std::string& format, ConfigSection& opts, Records& out) const {
  const int threshold = io::read_threshold(opts);
  if (opts.has("fps")) {
    const int64_t fps = opts.get_int("fps", fps_, 1, 100);
    if (fps != fps_)
      throw ConfigError(opts.path() + ".fps: " + std::to_string(fps) + ", but the model's video codec has " +
                        std::to_string(fps_));
  }
  opts.finish();
  const Space& space = out.data.space();
  (void)geometry(space, path);
  if (format == "sheet") throw ConfigError(path + ": the sheet format is written, not read; read clips as gif or frames");
  std::vector<io::FileItem> clips;
  bool single = false;
  if (format == "gif") {
    clips = io::list_source_files(path, space, kGifFiles, &single);
  } else {
    clips = frame_clips(path, space);
    single = clips.size() == 1;
  }
  out.set_by_line(false);
  out.data.reserve(clips.size());
  for (size_t k = 0; k < clips.size(); ++k) {
    const io::FileItem& c = clips[k];
    out.record(k + 1, [&] {
      int64_t frames = 0;
      const std::vector<int32_t> x = format == "gif" ? read_gif_clip(c.path, space, threshold, false, &frames)
                                                     : read_frames_clip(c.path, space, threshold, false, &frames);
      io::with_context(c.path, [&] { out.push(x, c.label); });
      if (!single) out.set_source(out.data.size() - 1, c.path);
    });
  }
}

void VideoCodec::write(const Dataset&, const std::string& format, std::ostream&) const {
  throw ConfigError("write: the " + format + " format is written to files, not to a stream");
}

void VideoCodec::write_file(const Dataset& data, const std::string& format, const std::string& path) const {
  const Geometry g = geometry(data.space(), path);
  if (data.empty()) throw DataError(path + ": no clips to write");
  if (format == "sheet") {
    // A row of frames a clip.
    const Space fsp = frame_space(data.space());
    Dataset frames(fsp);
    frames.reserve(data.size() * size_t(g.T));
    std::vector<int32_t> x(size_t(g.T * g.frame()));
    for (size_t i = 0; i < data.size(); ++i) {
      data.get(i, x.data());
      for (int64_t t = 0; t < g.T; ++t) frames.push_back(x.data() + t * g.frame(), g.frame());
    }
    const int scale = int(std::clamp<int64_t>(64 / std::max(g.H, g.W), 1, 8));
    write_sheet_png(frames, path, g.T, scale);
    return;
  }
  if (format == "gif" && io::ends_with(io::lower(path), ".gif")) {
    if (data.size() != 1)
      throw ConfigError(path + ": one GIF holds one clip, and there are " + std::to_string(data.size()) +
                        "; give a folder name (no .gif) for one GIF a clip");
    write_gif_clip(data, 0, path, fps_);
    return;
  }
  const bool labeled = io::labels_all_or_none(data, path);
  io::prepare_output_dir(path);
  const Space fsp = frame_space(data.space());
  std::vector<int32_t> x(size_t(g.T * g.frame()));
  for (size_t i = 0; i < data.size(); ++i) {
    const int32_t label = labeled ? data.label(i) : -1;
    if (format == "gif") {
      write_gif_clip(data, i, io::sample_file_path(path, i, data.size(), label, ".gif"), fps_);
      continue;
    }
    const std::string dir = io::sample_file_path(path, i, data.size(), label, "");
    io::prepare_output_dir(dir);
    data.get(i, x.data());
    Dataset frames(fsp);
    for (int64_t t = 0; t < g.T; ++t) frames.push_back(x.data() + t * g.frame(), g.frame());
    const int digits = g.T > 100 ? int(std::to_string(g.T - 1).size()) : 2;
    for (int64_t t = 0; t < g.T; ++t) {
      std::string name = std::to_string(t);
      name = std::string(size_t(std::max(0, digits - int(name.size()))), '0') + name + ".png";
      write_image_file(frames, size_t(t), (fs::path(dir) / name).string());
    }
  }
}

Dataset VideoCodec::read_partial(const std::string& path, const std::string& format, const Space& space,
                                 std::vector<uint8_t>* known) const {
  const Geometry g = geometry(space, path);
  if (format == "sheet") throw ConfigError(path + ": the sheet format is written, not read");
  // A folder of frame images is one clip's start whatever format was detected
  // (a folder's format is the model's own, gif).
  bool gif = format == "gif";
  if (gif && io::is_directory(path)) {
    std::vector<std::string> files, subdirs;
    io::list_dir(path, &files, &subdirs);
    gif = files.empty() || !kFrameFiles.member(files[0]);
  }
  std::vector<io::FileItem> clips;
  bool single = false;
  if (gif) clips = io::list_source_files(path, space, kGifFiles, &single);
  else clips = {{path, -1}};
  Dataset out(space);
  for (const auto& c : clips) {
    int64_t frames = 0;
    const std::vector<int32_t> x = gif ? read_gif_clip(c.path, space, -1, true, &frames)
                                       : read_frames_clip(c.path, space, -1, true, &frames);
    if (frames >= g.T)
      throw DataError(c.path + ": " + std::to_string(frames) + " frames, the model's clips hold " + std::to_string(g.T) +
                      ": nothing is left to continue; give fewer frames");
    for (int64_t d = 0; d < g.T * g.frame(); ++d) known->push_back(d < frames * g.frame());
    io::with_context(c.path, [&] { out.push_back(x, -1); });
  }
  return out;
}

std::shared_ptr<const Codec> VideoCodec::fit(const json& data_section, const json& space_section, Space* space,
                                         Communicator*) {
  ConfigSection s(data_section, "data");
  const int64_t fps = s.get_int("fps", 8, 1, 100);
  *space = Space::from_json(space_section);
  (void)geometry(*space, "space");
  return std::make_shared<VideoCodec>(fps);
}

std::shared_ptr<const Codec> VideoCodec::load(const json& header, const ModelReader& r) {
  try {
    json c = header.at("codec");
    c.erase("type");
    ConfigSection s(c, "codec");
    const int64_t fps = s.get_int("fps", 8, 1, 100);
    s.finish();
    return std::make_shared<VideoCodec>(fps);
  } catch (const Error& e) {
    throw FormatError(r.name() + ": bad video codec: " + e.what());
  }
}

}  // namespace dgm
