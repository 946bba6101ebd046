// make_corpus.cc — writes the fuzzers' seed corpus (tests/fuzz/corpus/<target>/)
// with dgm's own writers: small valid files of every format, models of every
// kind, plus a truncated and a byte-flipped copy of each. Run once by hand
// (build-fuzz/tests/fuzz/make_corpus SOURCE_DIR); the output is committed.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "dgm/io/image.h"
#include "dgm/io/read.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"
#include "fuzz_targets.h"

extern "C" int stbi_write_jpg(char const* filename, int w, int h, int comp, const void* data, int quality);

namespace fs = std::filesystem;
using namespace dgm;

namespace {

std::string root;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes the file and, for files of 8+ bytes, a truncated and a corrupted copy.
void put(const std::string& target, const std::string& name, const std::string& bytes, bool variants = true) {
  const fs::path dir = fs::path(root) / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  if (!variants || bytes.size() < 8) return;
  std::ofstream(dir / (name + ".trunc"), std::ios::binary) << bytes.substr(0, bytes.size() * 2 / 3);
  std::string flipped = bytes;
  flipped[bytes.size() / 3] = char(flipped[bytes.size() / 3] ^ 0x5a);
  std::ofstream(dir / (name + ".flip"), std::ios::binary) << flipped;
}

Dataset make_data(const Space& space, size_t n, uint64_t seed) {
  Rng rng(seed);
  Dataset d(space);
  for (size_t i = 0; i < n; ++i) {
    const int64_t len = space.variable_length() ? int64_t(rng.below(uint64_t(space.dims()) + 1)) : space.dims();
    std::vector<int32_t> x(static_cast<size_t>(len));
    for (auto& v : x) v = int32_t(rng.below(uint64_t(space.levels())));
    d.push_back(x, space.has_labels() ? int32_t(rng.below(uint64_t(space.labels()))) : -1);
  }
  return d;
}

std::string written(const Dataset& d, const std::string& name, const std::string& format) {
  const std::string path = fuzz::scratch_dir() + "/" + name;
  write_dataset(d, path, format);
  return slurp(path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus SOURCE_DIR\n";
    return 2;
  }
  const std::string src = argv[1];
  root = src + "/tests/fuzz/corpus";
  const std::vector<Space> spaces = fuzz::reader_spaces();

  // Text formats.
  for (const char* f : {"grid", "lines", "csv", "jsonl"}) {
    for (size_t k = 0; k < spaces.size(); ++k) {
      if (std::string(f) == "grid" && (spaces[k].variable_length() || spaces[k].levels() > 10)) continue;
      if (std::string(f) == "csv" && spaces[k].variable_length()) continue;
      put(f, "w" + std::to_string(k), written(make_data(spaces[k], 4, k + 1), std::string("w.") + f, f));
    }
  }
  put("grid", "digits", slurp(src + "/data/digits/digits.txt").substr(0, 400));
  put("lines", "labeled", "0 11 2\t1\n5 5 5\t0\n\n1 2 3\n", false);
  put("jsonl", "nested", "{\"x\": [[0,1,0,1,1],[1,1,1,1,1],[0,0,0,0,0],[1,0,1,0,1],[0,0,0,0,1]], \"label\": null}\n", false);

  // Images: every writer's extension, gray and RGB; a JPEG; a list file.
  {
    Dataset bin = make_data(Space::tensor({5, 5}, 2), 1, 7);
    Dataset rgb = make_data(Space::tensor({3, 4, 4}, 256), 1, 8);
    Dataset gray = make_data(Space::tensor({1, 4, 4}, 256), 1, 9);
    const std::string d = fuzz::scratch_dir();
    for (const char* e : {".png", ".bmp", ".pgm", ".pbm"}) {
      write_image_file(bin, 0, d + "/bin" + e);
      put("image", std::string("bin") + e, slurp(d + "/bin" + e));
    }
    for (const char* e : {".png", ".ppm", ".bmp"}) {
      write_image_file(rgb, 0, d + "/rgb" + e);
      put("image", std::string("rgb") + e, slurp(d + "/rgb" + e));
    }
    write_image_file(gray, 0, d + "/gray.png");
    put("image", "gray.png", slurp(d + "/gray.png"));
    std::vector<uint8_t> px(4 * 4 * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 13);
    stbi_write_jpg((d + "/rgb.jpg").c_str(), 4, 4, 3, px.data(), 90);
    put("image", "rgb.jpg", slurp(d + "/rgb.jpg"));
    put("image", "ascii.pgm", "P2\n# a comment\n4 4\n15\n0 1 2 3\n4 5 6 7\n8 9 10 11\n12 13 14 15\n");
    put("image", "ascii.pbm", "P1\n5 5\n0 1 0 1 0\n1 1 1 1 1\n0 0 0 0 0\n1 0 1 0 1\n0 0 1 0 0\n");
    put("image", "list.txt", "a.pgm\t1\nb.pgm\t0\n\na.pgm\n", false);
  }

  // IDX plain and gzip, images and labels; CIFAR batches.
  {
    Dataset d = make_data(Space::tensor({2, 2}, 256, 10), 3, 11);
    const std::string dir = fuzz::scratch_dir();
    write_dataset(d, dir + "/c.idx", "idx");
    put("idx", "images.idx", slurp(dir + "/c.idx"));
    put("idx", "labels.idx", slurp(dir + "/c-labels.idx"));
    write_dataset(d, dir + "/c.idx.gz", "idx");
    put("idx_gz", "images.idx.gz", slurp(dir + "/c.idx.gz"));
    put("idx_gz", "labels.idx.gz", slurp(dir + "/c-labels.idx.gz"));
    Dataset b = make_data(Space::tensor({5, 5}, 2), 2, 12);
    write_dataset(b, dir + "/b.idx", "idx");
    put("idx", "binary.idx", slurp(dir + "/b.idx"));
    write_dataset(d, dir + "/c.bin", "cifar");
    put("cifar", "labeled.bin", slurp(dir + "/c.bin"));
    Dataset c3 = make_data(Space::tensor({3}, 5, 3), 4, 13);
    write_dataset(c3, dir + "/c3.bin", "cifar");
    put("cifar", "small.bin", slurp(dir + "/c3.bin"));
  }

  // npy: dgm's own files (u1, i2, i4 and <i8 labels) and what NumPy also
  // writes: big-endian and bool items, format 2.0, a flat N x D array.
  {
    const std::string dir = fuzz::scratch_dir();
    for (const auto& [name, space] : {std::pair<std::string, Space>{"u1", Space::tensor({2, 2}, 256, 10)},
                                      {"i2", Space::tensor({4}, 3000)}, {"i4", Space::tensor({1}, 70000, 3)}}) {
      write_dataset(make_data(space, 3, 14), dir + "/" + name + ".npy", "npy");
      put("npy", name + ".npy", slurp(dir + "/" + name + ".npy"));
      if (space.has_labels()) put("npy", name + "-labels.npy", slurp(dir + "/" + name + "-labels.npy"));
    }
    auto npy = [](const std::string& dict, const std::string& items, int major) {
      const size_t prefix = major == 1 ? 10 : 12;
      std::string d = dict + std::string((prefix + dict.size() + 64) / 64 * 64 - prefix - dict.size() - 1, ' ') + "\n";
      std::string out("\x93NUMPY", 6);
      out += char(major);
      out += char(0);
      for (size_t b = 0; b < prefix - 8; ++b) out += char((d.size() >> (8 * b)) & 0xff);
      return out + d + items;
    };
    put("npy", "be-u2.npy", npy("{'descr': '>u2', 'fortran_order': False, 'shape': (3, 2, 2), }", std::string(24, '\x01'), 1));
    put("npy", "bool.npy", npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 25), }", std::string(50, '\x01'), 1));
    put("npy", "v2-i8.npy", npy("{'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }", std::string(96, '\0'), 2));
    put("npy", "labels-i4.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", std::string("\1\0\0\0\0\0\0\0\xff\xff\xff\xff", 12), 1), false);
  }

  // Text corpora, ARPA files and models.
  const std::string corpus =
      "in the beginning god created the heaven and the earth .\n"
      "and the earth was without form , and void ; and darkness was upon the face of the deep .\n"
      "and god said , let there be light : and there was light .\n"
      "Caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xf0\x9f\x98\x80 x\r\n\n";
  put("text", "verses.txt", corpus);
  put("text", "bad-utf8.txt", "ok line\n\xff\xfe broken\n", false);
  ThreadPool pool(1);
  auto fit_text = [&](const json& tok, int order) {
    json data = tok;
    data["format"] = "text";
    data["train"] = fuzz::put_file("corpus.txt", corpus);
    TrainingData td = load_training_data(data, {{"shape", {128}}, {"variable_length", true}}, 1);
    auto m = create_model(td.space, {{"type", "ngram"}, {"order", order}}, json::object());
    m->set_codec(td.codec);
    Rng rng(1);
    m->fit(td.train, nullptr, {&pool, &rng, nullptr, nullptr});
    return m;
  };
  for (int order : {2, 3}) {
    auto m = fit_text({{"tokenizer", "word"}}, order);
    const std::string p = fuzz::scratch_dir() + "/m.arpa";
    std::ofstream(p) << [&] { std::ostringstream o; m->export_to("arpa", o); return o.str(); }();
    put("arpa", "word" + std::to_string(order) + ".arpa", slurp(p));
  }
  {
    auto m = fit_text({{"tokenizer", "char"}, {"space_symbol", "_"}}, 3);
    const std::string p = fuzz::scratch_dir() + "/c.arpa";
    std::ofstream(p) << [&] { std::ostringstream o; m->export_to("arpa", o); return o.str(); }();
    put("arpa", "char3.arpa", slurp(p));
    const ModelWriter w =
        model_writer(*m, {{"config", {{"model", {{"type", "ngram"}, {"order", 3}}}, {"train", json::object()}}}});
    put("model", "ngram-char3.model", w.serialize());
  }
  {
    json data = {{"train", src + "/data/digits/skewed.txt"}, {"format", "grid"}};
    const Space space = Space::tensor({5, 5}, 2);
    Dataset train = load_data(data, space, 1).train.slice(0, 60);
    for (const json& mj : {json{{"type", "mixture"}, {"components", 2}}, json{{"type", "independent"}},
                           json{{"type", "empirical"}, {"smoothing", 0.5}}}) {
      const json tj = mj["type"] == "mixture" ? json{{"max_iterations", 5}} : json::object();
      auto m = create_model(space, mj, tj);
      Rng rng(1);
      m->fit(train, nullptr, {&pool, &rng, nullptr, nullptr});
      ModelWriter w;
      w.header() = {{"kind", m->kind()}, {"space", space.to_json()}, {"config", {{"model", mj}, {"train", tj}}}};
      m->save(w);
      put("model", mj["type"].get<std::string>() + ".model", w.serialize());  // (*.dgm is gitignored)
    }
  }

  // Hostile seeds (hardening round two): decompression bombs, broken gzip
  // trailers and trailing data, top-down and truncated BMPs, JPEGs without
  // scans, npy headers that claim too much, JSON at and past the nesting
  // limit and with duplicate keys, a model header nested deep under a valid checksum.
  {
    auto be = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
    auto le = [](uint64_t v, int k) {
      std::string s;
      for (int i = 0; i < k; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
      return s;
    };
    const std::string idx3 = std::string("\0\0\x08\x03", 4);
    // 4 MiB of 2x2 images in ~4 KB, at the ratio the reader's plausibility check allows.
    const uint32_t n = 1u << 20;
    put("idx_gz", "bomb-4mib.idx.gz", fuzz::gzip(idx3 + be(n) + be(2) + be(2) + std::string(size_t(n) * 4, '\0')), false);
    // A header claiming 3 images in front of 16 MiB: the reader must stop after the 12 bytes it needs.
    put("idx_gz", "bomb-behind-small-claim.idx.gz", fuzz::gzip(idx3 + be(3) + be(2) + be(2) + std::string(16 << 20, '\0')),
        false);
    // A header claiming 1 GiB, the stream cut at 4 KB.
    put("idx_gz", "bomb-1gib-prefix.idx.gz", fuzz::gzip(idx3 + be(1u << 28) + be(2) + be(2) + std::string(1 << 20, '\0')).substr(0, 4096),
        false);
    const std::string good = slurp(root + "/idx_gz/images.idx.gz");
    put("idx_gz", "trailer-cut.idx.gz", good.substr(0, good.size() - 8), false);
    put("idx_gz", "trailing-junk.idx.gz", good + "junk", false);
    put("idx_gz", "trailing-zeros.idx.gz", good + std::string(8, '\0'), false);
    const std::string raw = idx3 + be(3) + be(2) + be(2) + std::string(12, '\x07');
    put("idx_gz", "two-members.idx.gz", fuzz::gzip(raw.substr(0, 20)) + fuzz::gzip(raw.substr(20)), false);

    std::string px;
    for (int i = 0; i < 4 * 12; ++i) px.push_back(char(i * 5));  // 4x4 RGB, rows of 12 bytes
    const std::string td = "BM" + le(54 + 48, 4) + le(0, 4) + le(54, 4) + le(40, 4) + le(4, 4) + le(uint32_t(-4), 4) +
                           le(1, 2) + le(24, 2) + le(0, 4) + le(48, 4) + le(2835, 4) + le(2835, 4) + le(0, 4) + le(0, 4) + px;
    put("image", "top-down.bmp", td, false);
    put("image", "cut-pixels.bmp", td.substr(0, 54 + 20), false);
    const std::string jpg = slurp(root + "/image/rgb.jpg");
    const size_t sos = jpg.find("\xff\xda");
    if (sos != std::string::npos) {
      const size_t len = size_t(uint8_t(jpg[sos + 2])) << 8 | uint8_t(jpg[sos + 3]);
      put("image", "no-scan-data.jpg", jpg.substr(0, sos + 2 + len) + "\xff\xd9", false);
      put("image", "no-sos.jpg", jpg.substr(0, sos) + "\xff\xd9", false);
    }

    // npy headers: a shape claiming 2^40 items, Fortran order, a header length
    // past the end of the file, extents whose product wraps 64 bits.
    auto npy = [&](const std::string& dict, const std::string& items) {
      std::string d = dict;
      d += std::string((10 + d.size() + 1 + 63) / 64 * 64 - 10 - d.size() - 1, ' ') + "\n";
      return std::string("\x93NUMPY\x01\x00", 8) + le(d.size(), 2) + d + items;
    };
    put("npy", "claims-2^40.npy", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1099511627776, 4), }", std::string(16, '\1')), false);
    put("npy", "fortran.npy", npy("{'descr': '|u1', 'fortran_order': True, 'shape': (3, 2, 2), }", std::string(12, '\1')), false);
    put("npy", "wrapping-shape.npy",
        npy("{'descr': '<u8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }", std::string(64, '\1')), false);
    put("npy", "header-past-eof.npy", std::string("\x93NUMPY\x01\x00\xff\xff", 10) + "{'descr': '|u1', ", false);

    put("config", "depth-64.json", "{\"space\": " + std::string(63, '[') + std::string(63, ']') + "}", false);
    put("config", "depth-65.json", "{\"model\": " + std::string(64, '[') + std::string(64, ']') + "}", false);
    put("config", "duplicate-key.json", "{\"model\": {\"type\": \"mixture\", \"type\": \"ngram\"}}", false);
    put("jsonl", "depth-65", "{\"x\": " + std::string(64, '[') + std::string(64, ']') + "}\n", false);
    put("jsonl", "duplicate-x", "{\"x\": [0, 1], \"x\": [1, 0]}\n", false);
    // The independent model with its header (8-byte length at byte 40) nested
    // 1000 deep, resealed: only the depth limit stands between it and the parser's stack.
    const std::string m = slurp(root + "/model/independent.model");
    uint64_t hn = 0;
    for (int i = 0; i < 8; ++i) hn |= uint64_t(uint8_t(m[40 + size_t(i)])) << (8 * i);
    const std::string h = "{\"kind\": \"independent\", \"deep\": " + std::string(1000, '[') + std::string(1000, ']') + "}";
    const std::string body = m.substr(0, 40) + le(h.size(), 8) + h + m.substr(48 + hn, m.size() - 16 - (48 + hn));
    put("model", "deep-header.model", fuzz::seal_model(body), false);
  }

  // Configs: the shipped ones and a few edge cases.
  // A shipped config keeps its keys and hyperparameters, but a space past 64
  // values gets extents of at most 4 (the target builds every model kind for
  // it: CIFAR's 3x32x32 took 6 s a run, past the replay's limit).
  for (const auto& e : fs::directory_iterator(src + "/configs")) {
    json cfg = json::parse(slurp(e.path()));
    if (cfg.contains("space") && cfg["space"].contains("shape")) {
      int64_t dims = 1;
      for (const auto& x : cfg["space"]["shape"]) dims *= x.get<int64_t>();
      if (dims > 64)
        for (auto& x : cfg["space"]["shape"]) x = std::min<int64_t>(x.get<int64_t>(), 4);
    }
    put("config", e.path().filename().string(), cfg.dump(1) + "\n", false);
  }
  put("config", "labeled-idx.json",
      R"({"space": {"shape": [28, 28], "levels": 2, "labels": 10},
 "data": {"train": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz", "threshold": 100,
          "validation_count": 5000, "test": {"path": "t.idx", "labels": "tl.idx"}},
 "model": {"type": "mixture", "components": 20, "alpha": 0.5}, "train": {"restarts": 2, "patience": 3}})",
      false);
  put("config", "text.json",
      R"({"space": {"shape": [64], "variable_length": true}, "data": {"format": "text", "train": "a.txt", "tokenizer": "char", "min_count": 2},
 "model": {"type": "ngram", "order": 5, "discount_fallback": [0.5, 1, 1.5]}})",
      false);
  put("config", "bad.json", "{\"space\": {\"shape\": [5, 5], \"levels\": 2}, \"model\": {\"type\": \"mixture\", \"components\": 1e12}", false);
  fs::remove_all(fuzz::scratch_dir());
  std::cerr << "make_corpus: wrote " << root << "\n";
  return 0;
}
