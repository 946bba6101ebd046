// image.h — single images and contact sheets, for `dgm score image.png` and
// `dgm sample --sheet`. Image spaces are {H,W} or {1,H,W} (grayscale) and
// {3,H,W} (RGB, stored channel-first). Reading converts RGB to gray with the
// ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B, rounded) or repeats gray into
// three channels when the file and the space differ; alpha is dropped. Sizes
// are checked before decoding and never resized. Binary spaces threshold the
// bytes (v >= threshold -> 1, default 128); levels 256 keep them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dgm/dataset.h"

namespace dgm {

// One image file (PNG, JPEG, BMP, PGM/PPM/PBM in ASCII or binary netpbm form)
// as a sample of `space`. threshold -1 = the default (128 for binary spaces;
// other levels than 2 and 256 need one). Errors start with the path.
std::vector<int32_t> read_image_file(const std::string& path, const Space& space, int threshold = -1);

// Sample i of `data` as one image file, by extension: .png, .bmp, .pgm/.ppm
// (binary netpbm, gray/RGB), .pbm (binary spaces only). Values map to 0..255:
// binary 0/1 -> 0/255, other levels v * 255 / (levels - 1), rounded.
void write_image_file(const Dataset& data, size_t i, const std::string& path);

// All samples tiled into one PNG: rows of `columns` samples separated by a
// 1-pixel gray (128) gap, each pixel repeated `scale` x `scale` times.
// 1-D spaces are drawn as one row of pixels.
void write_sheet_png(const Dataset& samples, const std::string& path, int64_t columns, int scale);

// An RGB picture (height, width, 3) as a file by extension (.png, .bmp,
// .ppm), written like the images above (e.g. training curves).
void write_rgb_image(const uint8_t* rgb, int64_t width, int64_t height, const std::string& path);

}  // namespace dgm
