// image.cc — images through stb_image / stb_image_write (PNG, JPEG, BMP, and
// the frames of animated GIFs for the video codec; the implementations are
// compiled here and only here) plus a small netpbm codec
// (P1-P6: PBM, PGM, PPM in ASCII and binary form). A source is one file, a
// directory (files sorted by name; subfolders are labels) or a list file
// (.txt/.list: one path a line, optionally "path<TAB>label"). Writing puts one
// PNG per sample into a directory, in label subfolders when labeled.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_FAILURE_USERMSG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "dgm/input.h"
#include "dgm/io/atomic_file.h"
#include "dgm/io/image.h"
#include "formats.h"

namespace dgm {
namespace {

namespace fs = std::filesystem;

struct Geometry {
  int64_t c, h, w;
};

// Channels, height and width of an image space; `sheet` also accepts 1-D spaces.
Geometry geometry(const Space& space, const std::string& name, bool sheet = false) {
  const auto& s = space.shape();
  if (!space.variable_length() && space.levels() <= 256) {
    if (s.size() == 2) return {1, s[0], s[1]};
    if (s.size() == 3 && (s[0] == 1 || s[0] == 3)) return {s[0], s[1], s[2]};
    if (sheet && s.size() == 1) return {1, 1, s[0]};
  }
  throw ConfigError(name + ": images need a space {H,W}, {1,H,W} (grayscale) or {3,H,W} (RGB) with levels <= 256, not " +
                    space.describe());
}

std::string dims_string(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

// A decoded image: height x width x channels bytes, 1 or 3 channels.
struct Pixels {
  int64_t w = 0, h = 0;
  int channels = 0;
  std::vector<uint8_t> data;  // (H, W, C)
};

void check_size(const std::string& path, int64_t w, int64_t h, const Geometry& g) {
  if (w != g.w || h != g.h)
    throw DataError(path + ": image is " + dims_string(w, h) + " (width x height), the space expects " +
                    dims_string(g.w, g.h) + "; images are never resized");
}

// ---- netpbm (P1..P6) ----

class PnmParser {
 public:
  PnmParser(const std::string& path, const std::string& bytes) : path_(path), b_(bytes) {}

  // Width, height and channels from the header, nothing decoded.
  Pixels info() {
    const char kind = b_[1];
    pos_ = 2;
    Pixels p;
    p.channels = (kind == '3' || kind == '6') ? 3 : 1;
    p.w = header_int("width");
    p.h = header_int("height");
    if (p.w <= 0 || p.h <= 0) fail("width and height must be positive");
    return p;
  }

  Pixels parse(const Geometry& g) {
    const char kind = b_[1];
    pos_ = 2;
    const bool bits = kind == '1' || kind == '4';
    const bool ascii = kind <= '3';
    Pixels p;
    p.channels = (kind == '3' || kind == '6') ? 3 : 1;
    p.w = header_int("width");
    p.h = header_int("height");
    if (p.w <= 0 || p.h <= 0) fail("width and height must be positive");
    check_size(path_, p.w, p.h, g);
    const int64_t maxval = bits ? 1 : header_int("maxval");
    if (maxval < 1 || maxval > 65535) fail("maxval " + std::to_string(maxval) + " outside 1..65535");
    if (!ascii) {
      if (pos_ >= b_.size() || !std::isspace((unsigned char)b_[pos_])) fail("no whitespace before the pixel data");
      ++pos_;
    }
    const size_t n = size_t(p.w * p.h * p.channels);
    p.data.resize(n);
    auto scale = [&](int64_t v) -> uint8_t {
      if (v > maxval) fail("pixel value " + std::to_string(v) + " exceeds maxval " + std::to_string(maxval));
      return uint8_t((v * 255 + maxval / 2) / maxval);
    };
    if (kind == '4') {
      const size_t row_bytes = size_t((p.w + 7) / 8);
      if (b_.size() - pos_ < row_bytes * size_t(p.h)) fail("truncated pixel data");
      for (int64_t y = 0; y < p.h; ++y)
        for (int64_t x = 0; x < p.w; ++x) {
          const uint8_t byte = uint8_t(b_[pos_ + size_t(y) * row_bytes + size_t(x / 8)]);
          const bool black = (byte >> (7 - x % 8)) & 1;
          p.data[size_t(y * p.w + x)] = black ? 0 : 255;
        }
    } else if (ascii) {
      for (size_t i = 0; i < n; ++i) {
        int64_t v;
        if (kind == '1') {
          skip_space();
          if (pos_ >= b_.size()) fail("truncated pixel data");
          const char c = b_[pos_++];
          if (c != '0' && c != '1') fail("bad PBM pixel '" + std::string(1, c) + "'");
          p.data[i] = c == '1' ? 0 : 255;  // PBM: 1 is black
          continue;
        }
        v = header_int("pixel value");
        p.data[i] = scale(v);
      }
    } else {
      const size_t width = maxval > 255 ? 2 : 1;
      if (b_.size() - pos_ < n * width) fail("truncated pixel data");
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* q = reinterpret_cast<const uint8_t*>(b_.data()) + pos_ + i * width;
        p.data[i] = scale(width == 2 ? (int64_t(q[0]) << 8) | q[1] : q[0]);
      }
    }
    return p;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(path_ + ": netpbm: " + what); }

  void skip_space() {
    while (pos_ < b_.size()) {
      if (b_[pos_] == '#') {
        while (pos_ < b_.size() && b_[pos_] != '\n') ++pos_;
      } else if (std::isspace((unsigned char)b_[pos_])) {
        ++pos_;
      } else {
        break;
      }
    }
  }
  int64_t header_int(const char* what) {
    skip_space();
    int64_t v = 0;
    size_t digits = 0;
    while (pos_ < b_.size() && std::isdigit((unsigned char)b_[pos_])) {
      if (++digits > 9) fail(std::string(what) + " is too large");
      v = v * 10 + (b_[pos_++] - '0');
    }
    if (digits == 0) fail(pos_ >= b_.size() ? std::string("truncated (no ") + what + ")" : std::string("expected ") + what);
    return v;
  }

  const std::string& path_;
  const std::string& b_;
  size_t pos_ = 0;
};

// The whole file (read_whole_input: chunked, capped at 1 GiB, errors naming the file).
std::string read_bytes(const std::string& path) {
  std::string bytes = read_whole_input(path, {uint64_t(1) << 30, nullptr, "image"});
  if (bytes.empty()) throw FormatError(path + ": empty file, expected an image");
  return bytes;
}

// stb takes any run of 0xFF bytes before the SOI marker (0xFF 0xD8).
bool at_jpeg_start(const std::string& b) { return uint8_t(b[0]) == 0xFF; }

// The JPEG's markers, walked as stb walks them (segment lengths, then
// entropy-coded data up to the next marker), refusing before stb sees it:
// a Huffman table whose 16 code-length counts sum to more than 256 (stb 2.27,
// Debian 12's libstb-dev, writes past its table; fixed in 2.28); and what
// stb would accept with made-up pixels: no frame header, no scan, a scan
// with no entropy-coded data, a file cut off before its end-of-image marker
// (stb decodes the missing part as zeros).
void check_jpeg(const std::string& path, const std::string& b) {
  auto at = [&](size_t i) { return uint8_t(b[i]); };
  size_t i = 0, scan_bytes = 0;
  bool frame = false, scan = false, end = false, in_scan = false;
  while (i + 1 < b.size()) {
    if (at(i) != 0xFF) {  // entropy-coded data: scan for the next marker
      if (in_scan) ++scan_bytes;
      ++i;
      continue;
    }
    const uint8_t m = at(i + 1);
    if (m == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {  // stuffed byte, TEM, RSTn, SOI
      if (in_scan && m != 0xD8) scan_bytes += 2;
      i += 2;
      continue;
    }
    in_scan = false;
    if (m == 0xD9) {  // EOI
      end = true;
      break;
    }
    if (i + 3 >= b.size()) break;
    const size_t len = size_t(at(i + 2)) << 8 | at(i + 3);
    if (m == 0xC4) {
      const size_t stop = std::min(b.size(), i + 2 + len);
      // stb reads a table that runs past the end of the file with zeros.
      for (size_t p = i + 4; p < stop;) {
        size_t n = 0;
        for (size_t k = 1; k <= 16 && p + k < b.size(); ++k) n += at(p + k);
        if (n > 256) throw FormatError(path + ": corrupt JPEG (a Huffman table with more than 256 codes)");
        p += 17 + n;
      }
    }
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) frame = true;
    if (m == 0xDA) {  // SOS: entropy-coded data follows its header
      scan = in_scan = true;
      scan_bytes = 0;
    }
    i += 2 + len;
  }
  if (!frame) throw FormatError(path + ": corrupt JPEG (no frame header)");
  if (!scan || (scan_bytes == 0 && end)) throw FormatError(path + ": JPEG without scan data (no pixels in the file)");
  if (!end) throw FormatError(path + ": truncated JPEG (the file ends before its end-of-image marker)");
}

uint32_t be32(const std::string& b, size_t i) {
  return uint32_t(uint8_t(b[i])) << 24 | uint32_t(uint8_t(b[i + 1])) << 16 | uint32_t(uint8_t(b[i + 2])) << 8 |
         uint32_t(uint8_t(b[i + 3]));
}
uint32_t le32(const std::string& b, size_t i) {
  return uint32_t(uint8_t(b[i])) | uint32_t(uint8_t(b[i + 1])) << 8 | uint32_t(uint8_t(b[i + 2])) << 16 |
         uint32_t(uint8_t(b[i + 3])) << 24;
}

bool is_png(const std::string& b) { return b.size() >= 8 && b.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) == 0; }
bool is_bmp(const std::string& b) { return b.size() >= 2 && b[0] == 'B' && b[1] == 'M'; }

// Every chunk whole and its CRC right (stb checks neither), IHDR first, image
// data present, IEND last and nothing after it.
void check_png(const std::string& path, const std::string& b) {
  size_t i = 8;
  bool idat = false, iend = false;
  for (int n = 0; i < b.size(); ++n) {
    if (b.size() - i < 12) throw FormatError(path + ": truncated PNG (a chunk is cut off)");
    const uint32_t len = be32(b, i);
    if (len > b.size() - i - 12) throw FormatError(path + ": truncated PNG (a chunk is cut off)");
    const std::string type = b.substr(i + 4, 4);
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(b.data() + i + 4), uInt(len + 4));
    if (crc != be32(b, i + 8 + len)) throw FormatError(path + ": corrupt PNG (bad CRC in chunk '" + type + "')");
    if (n == 0 && type != "IHDR") throw FormatError(path + ": corrupt PNG (the first chunk is not IHDR)");
    idat |= type == "IDAT";
    i += 12 + len;
    if (type == "IEND") {
      iend = true;
      break;
    }
  }
  if (!iend) throw FormatError(path + ": truncated PNG (no IEND chunk)");
  if (!idat) throw FormatError(path + ": PNG without image data (no IDAT chunk)");
  if (i != b.size()) throw FormatError(path + ": " + std::to_string(b.size() - i) + " bytes after the end of the PNG");
}

// An uncompressed BMP must hold every row it declares (stb fills missing rows with zeros).
void check_bmp(const std::string& path, const std::string& b) {
  if (b.size() < 34) throw FormatError(path + ": truncated BMP header");
  const uint32_t offset = le32(b, 10), dib = le32(b, 14);
  if (dib < 40) return;  // OS/2 headers: stb's own checks
  const int64_t w = int32_t(le32(b, 18)), h = std::abs(int64_t(int32_t(le32(b, 22))));
  const uint32_t bpp = uint32_t(uint8_t(b[28])) | uint32_t(uint8_t(b[29])) << 8, compression = le32(b, 30);
  if (compression != 0 && compression != 3) return;  // RLE: stb refuses it
  const uint64_t row = (uint64_t(std::max<int64_t>(w, 0)) * bpp + 31) / 32 * 4;
  const uint64_t need = uint64_t(offset) + row * uint64_t(h);
  if (row && b.size() < need)
    throw FormatError(path + ": truncated BMP: " + std::to_string(b.size() < offset ? 0 : b.size() - offset) + " of " +
                      std::to_string(row * uint64_t(h)) + " bytes of pixel data");
}

const char* kind_of(const std::string& b) {
  if (is_png(b)) return "PNG";
  if (is_bmp(b)) return "BMP";
  if (b.size() >= 2 && at_jpeg_start(b)) return "JPEG";
  return nullptr;
}

Pixels decode(const std::string& path, const Geometry& g) {
  const std::string bytes = read_bytes(path);
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '6')
    return PnmParser(path, bytes).parse(g);
  const char* kind = kind_of(bytes);
  if (!kind) throw FormatError(path + ": not a PNG, JPEG, BMP or netpbm image");
  if (is_png(bytes)) check_png(path, bytes);
  else if (is_bmp(bytes)) check_bmp(path, bytes);
  else check_jpeg(path, bytes);
  // stb's reason names the last decoder it tried; only the file's own kind is told.
  auto reason = [&] {
    const std::string r = stbi_failure_reason() ? stbi_failure_reason() : "";
    for (const char* other : {"PNG", "JPEG", "BMP"})
      if (std::string(other) != kind && r.find(other) != std::string::npos) return std::string();
    return r.empty() ? r : " (" + r + ")";
  };
  const auto* buf = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = int(std::min<size_t>(bytes.size(), INT32_MAX));
  int w, h, comp;
  if (!stbi_info_from_memory(buf, len, &w, &h, &comp)) {
    // stb refuses PNGs past 2^30 bytes from the header; name the size then.
    if (is_png(bytes) && bytes.size() >= 24 && bytes.compare(12, 4, "IHDR") == 0)
      check_size(path, be32(bytes, 16), be32(bytes, 20), g);
    throw FormatError(path + ": corrupt " + kind + " image" + reason());
  }
  h = std::abs(h);  // a top-down BMP has a negative height
  check_size(path, w, h, g);  // before decoding anything
  // stb decodes into up to 4 channels, with a second buffer to convert them.
  const uint64_t need = uint64_t(w) * uint64_t(h) * 4 * 2;
  if (need > memory_budget())
    throw DataError(path + ": decoding a " + dims_string(w, h) + " image " + over_budget(need, memory_budget()));
  Pixels p;
  p.w = w;
  p.h = h;
  p.channels = comp <= 2 ? 1 : 3;  // alpha is dropped
  int got;
  stbi_uc* pixels = stbi_load_from_memory(buf, len, &w, &h, &got, p.channels);
  if (!pixels) throw FormatError(path + ": cannot decode the " + kind + " image" + reason());
  p.data.assign(pixels, pixels + size_t(p.w * p.h * p.channels));
  stbi_image_free(pixels);
  return p;
}

// The size and channels of an image from its header (data left empty), and
// whether it is bilevel (PBM).
Pixels image_info(const std::string& path, bool* bilevel) {
  const std::string bytes = read_bytes(path);
  *bilevel = false;
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '6') {
    *bilevel = bytes[1] == '1' || bytes[1] == '4';
    return PnmParser(path, bytes).info();
  }
  int w, h, comp;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(std::min<size_t>(bytes.size(), INT32_MAX)),
                             &w, &h, &comp))
    throw FormatError(path + ": not a PNG, JPEG, BMP or netpbm image (" + stbi_failure_reason() + ")");
  Pixels p;
  p.w = w;
  p.h = h;
  p.channels = comp <= 2 ? 1 : 3;
  return p;
}


void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

// Writes the (H, W, C) bytes of `p` to path by extension, through AtomicFile.
// stb encodes into memory (a callback that cannot fail midway), then the bytes
// are written in one go.
void encode(const Pixels& p, const std::string& path, bool binary) {
  const std::string ext = io::lower(fs::path(path).extension().string());
  std::string bytes;
  bool ok = true;
  if (ext == ".png") {
    ok = stbi_write_png_to_func(append_bytes, &bytes, int(p.w), int(p.h), p.channels, p.data.data(),
                                int(p.w * p.channels)) != 0;
  } else if (ext == ".bmp") {
    ok = stbi_write_bmp_to_func(append_bytes, &bytes, int(p.w), int(p.h), p.channels, p.data.data()) != 0;
  } else if (ext == ".pgm" || ext == ".ppm" || ext == ".pbm") {
    if (ext == ".pbm" && (!binary || p.channels != 1))
      throw ConfigError(path + ": .pbm holds only binary grayscale images; use .pgm or .png");
    if (ext == ".pgm" && p.channels != 1) throw ConfigError(path + ": .pgm is grayscale; use .ppm for RGB");
    if (ext == ".ppm" && p.channels != 3) throw ConfigError(path + ": .ppm is RGB; use .pgm for grayscale");
    const char kind = ext == ".pbm" ? '4' : ext == ".pgm" ? '5' : '6';
    bytes = std::string("P") + kind + "\n" + std::to_string(p.w) + " " + std::to_string(p.h) + "\n";
    if (kind == '4') {
      const size_t row_bytes = size_t((p.w + 7) / 8);
      std::string row;
      for (int64_t y = 0; y < p.h; ++y) {
        row.assign(row_bytes, '\0');
        for (int64_t x = 0; x < p.w; ++x)
          if (p.data[size_t(y * p.w + x)] < 128) row[size_t(x / 8)] = char(row[size_t(x / 8)] | (0x80 >> (x % 8)));
        bytes += row;
      }
    } else {
      bytes += "255\n";
      bytes.append(reinterpret_cast<const char*>(p.data.data()), p.data.size());
    }
  } else {
    throw ConfigError(path + ": unknown image extension '" + ext + "' (known: .png .bmp .pgm .ppm .pbm)");
  }
  if (!ok) throw IoError(path + ": cannot encode the image");
  write_file_atomically(path, bytes);
}

// Sample i as (H, W, C) bytes in 0..255.
Pixels to_pixels(const Dataset& data, size_t i, const Geometry& g) {
  const int64_t levels = data.space().levels();
  uint8_t table[256];
  for (int v = 0; v < 256; ++v) table[v] = uint8_t(levels >= 256 ? v : std::min<int64_t>(255, (v * 255 + (levels - 1) / 2) / (levels - 1)));
  Pixels p;
  p.w = g.w;
  p.h = g.h;
  p.channels = int(g.c);
  p.data.resize(size_t(g.c * g.h * g.w));
  const uint8_t* x = data.row_u8(i);  // (C, H, W)
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t k = 0; k < g.h * g.w; ++k) p.data[size_t(k * g.c + c)] = table[x[c * g.h * g.w + k]];
  return p;
}

const io::FileKind kImageFiles{"image", "an", {".png", ".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".jpg", ".jpeg"}};

std::vector<int32_t> to_sample(const Pixels& p, const Geometry& g, int threshold) {
  const size_t hw = size_t(g.h * g.w);
  std::vector<int32_t> x(size_t(g.c) * hw);
  for (size_t k = 0; k < hw; ++k) {
    const uint8_t* px = &p.data[k * size_t(p.channels)];
    for (int64_t c = 0; c < g.c; ++c) {
      int v;
      if (g.c == p.channels) v = px[c];
      else if (g.c == 1) v = (299 * px[0] + 587 * px[1] + 114 * px[2] + 500) / 1000;  // ITU-R BT.601 luma
      else v = px[0];  // gray repeated into R, G and B
      x[size_t(c) * hw + k] = threshold >= 0 ? (v >= threshold ? 1 : 0) : v;
    }
  }
  return x;
}

int checked_threshold(const Space& space, int threshold, const std::string& name) {
  const int t = io::default_threshold(space, threshold);
  if (t < 0 && space.levels() != 256)
    throw ConfigError(name + ": images are 8-bit, the space has " + std::to_string(space.levels()) +
                      " levels; use levels 2 (with \"threshold\") or 256, or set \"threshold\" to binarize");
  return t;
}

}  // namespace

std::vector<int32_t> read_image_file(const std::string& path, const Space& space, int threshold) {
  const Geometry g = geometry(space, path);
  const int t = checked_threshold(space, threshold, path);
  return to_sample(decode(path, g), g, t);
}

void write_image_file(const Dataset& data, size_t i, const std::string& path) {
  const Geometry g = geometry(data.space(), path);
  encode(to_pixels(data, i, g), path, data.space().is_binary());
}

void write_rgb_image(const uint8_t* rgb, int64_t width, int64_t height, const std::string& path) {
  if (width < 1 || height < 1 || width > 65535 || height > 65535)
    throw DataError(path + ": a picture of " + dims_string(width, height) + " pixels cannot be written");
  Pixels p;
  p.w = width;
  p.h = height;
  p.channels = 3;
  p.data.assign(rgb, rgb + size_t(width * height * 3));
  encode(p, path, false);
}

void write_sheet_png(const Dataset& samples, const std::string& path, int64_t columns, int scale) {
  const Geometry g = geometry(samples.space(), path, true);
  if (samples.empty()) throw DataError(path + ": no samples to draw");
  if (columns < 1) throw ConfigError(path + ": a sheet needs at least 1 column");
  if (scale < 1 || scale > 64) throw ConfigError(path + ": scale must be between 1 and 64");
  const int64_t n = int64_t(samples.size());
  const int64_t cols = std::min(columns, n);
  const int64_t rows = (n + cols - 1) / cols;
  const int64_t cw = g.w * scale, ch = g.h * scale;
  const int64_t gap = std::max(2, scale / 2);  // mid-grey lines between samples
  Pixels sheet;
  sheet.w = cols * cw + (cols - 1) * gap;
  sheet.h = rows * ch + (rows - 1) * gap;
  sheet.channels = int(g.c);
  if (sheet.w > 65535 || sheet.h > 65535 || sheet.w * sheet.h > (int64_t(1) << 28))
    throw DataError(path + ": a sheet of " + dims_string(sheet.w, sheet.h) + " pixels is too large; fewer samples or a smaller scale");
  sheet.data.assign(size_t(sheet.w * sheet.h * g.c), 128);
  for (int64_t i = 0; i < n; ++i) {
    const Pixels p = to_pixels(samples, size_t(i), g);
    const int64_t x0 = (i % cols) * (cw + gap), y0 = (i / cols) * (ch + gap);
    for (int64_t y = 0; y < ch; ++y)
      for (int64_t x = 0; x < cw; ++x)
        for (int64_t c = 0; c < g.c; ++c)
          sheet.data[size_t(((y0 + y) * sheet.w + x0 + x) * g.c + c)] =
              p.data[size_t(((y / scale) * g.w + x / scale) * g.c + c)];
  }
  encode(sheet, path, false);
}

namespace io {

void check_image_space(const Space& space, const std::string& name) { (void)geometry(space, name); }

void read_images(const std::string& path, ConfigSection& opts, Records& out) {
  const Space& space = out.data.space();
  const Geometry g = geometry(space, path);
  const int t = checked_threshold(space, read_threshold(opts), path);
  bool single = false;
  const std::vector<FileItem> items = list_source_files(path, space, kImageFiles, &single);
  out.set_by_line(false);
  with_context(path, [&] { out.data.reserve(items.size()); });
  for (size_t k = 0; k < items.size(); ++k) {
    const FileItem& item = items[k];
    out.record(k + 1, [&] {
      const std::vector<int32_t> x = to_sample(decode(item.path, g), g, t);
      with_context(item.path, [&] { out.push(x, item.label); });
      if (!single) out.set_source(out.data.size() - 1, item.path);
    });
  }
}

SpaceHint probe_images(const std::string& path, ConfigSection& opts) {
  (void)read_threshold(opts);
  std::string first;
  SpaceHint hint;
  if (is_directory(path)) {
    std::vector<std::string> files, subdirs;
    list_dir(path, &files, &subdirs);
    if (!subdirs.empty()) {
      // As list_directory_source: numeric folders give their number, others their rank.
      int64_t top = int64_t(subdirs.size()) - 1;
      bool numeric = true;
      for (const auto& d : subdirs) {
        int64_t v;
        bool big;
        if (!parse_int(d, &v, &big) || big || v < 0 || !std::isdigit((unsigned char)d[0])) numeric = false;
      }
      if (numeric) {
        top = 0;
        for (const auto& d : subdirs) top = std::max<int64_t>(top, std::stol(d));
      }
      hint.labels = std::max<int64_t>(2, top + 1);
      hint.labels_from = numeric ? "the largest label folder in " + path + " + 1"
                                 : "the " + std::to_string(subdirs.size()) + " label folders in " + path;
      for (const auto& d : subdirs) {
        std::vector<std::string> f, sub;
        list_dir((fs::path(path) / d).string(), &f, &sub);
        if (!f.empty()) {
          first = (fs::path(path) / d / f[0]).string();
          break;
        }
      }
    } else if (!files.empty()) {
      first = (fs::path(path) / files[0]).string();
    }
    if (first.empty()) throw FormatError(path + ": no images in the directory");
  } else {
    const std::string ext = lower(fs::path(path).extension().string());
    if (ext == ".txt" || ext == ".list") {
      const TextFile f = read_text(path, "image list");
      LineReader lines(f.text);
      std::string_view line;
      while (first.empty() && lines.next(&line)) {
        if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
        fs::path p{std::string(line.substr(0, line.find('\t')))};
        if (p.is_relative()) p = fs::path(path).parent_path() / p;
        first = p.string();
      }
      if (first.empty()) throw FormatError(f.name + ": the image list names no files");
    } else {
      first = path;
    }
  }
  bool bilevel;
  const Pixels p = image_info(first, &bilevel);
  if (p.channels == 3) hint.shape = {3, p.h, p.w};
  else hint.shape = {p.h, p.w};
  hint.shape_from = "the image " + first;
  hint.levels = bilevel ? 2 : 256;
  hint.levels_from = hint.shape_from;  // 8-bit, or bilevel PBM
  return hint;
}

void write_images(const Dataset& data, const std::string& dir) {
  const Geometry g = geometry(data.space(), dir);
  // A name with an image extension is one picture, as a .gif is one clip.
  const std::string ext = io::lower(fs::path(dir).extension().string());
  if (ext == ".png" || ext == ".bmp" || ext == ".pgm" || ext == ".ppm" || ext == ".pbm") {
    if (data.size() != 1)
      throw ConfigError(dir + ": one image file holds one sample, and there are " + std::to_string(data.size()) +
                        "; give a folder name (no extension) for one PNG a sample, or --sheet FILE.png for one "
                        "picture of them all");
    encode(to_pixels(data, 0, g), dir, data.space().is_binary());
    return;
  }
  const bool labeled = labels_all_or_none(data, dir);
  prepare_output_dir(dir);
  for (size_t i = 0; i < data.size(); ++i)
    encode(to_pixels(data, i, g), sample_file_path(dir, i, data.size(), labeled ? data.label(i) : -1, ".png"), false);
}

}  // namespace io
}  // namespace dgm
