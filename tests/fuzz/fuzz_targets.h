// fuzz_targets.h — what each libFuzzer target (tests/fuzz/<name>_fuzz.cc)
// does with one input, shared with tests/fuzz/regressions_test.cc so that a
// saved crash input replays through exactly the same code path in the normal
// test suite. Readers take a path: the bytes go to a scratch file first. A
// dgm::Error is an acceptable answer to any input; anything else (another
// exception, a crash, a sanitizer report, a hang, an allocation past the
// fuzzer's limit) is a bug in the library.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "dgm/config.h"
#include "dgm/error.h"
#include "dgm/io/read.h"
#include "dgm/metrics.h"
#include "dgm/io/text.h"
#include "dgm/model.h"
#include "dgm/model_file.h"
#include "dgm/models/ngram.h"

namespace dgm::fuzz {

// A per-process scratch directory (in /dev/shm when it exists, so the fuzzers
// do not wear the disk); DGM_FUZZ_DIR overrides it.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    std::string base;
    if (const char* env = std::getenv("DGM_FUZZ_DIR")) base = env;
    else base = fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string();
    std::string d = base + "/dgm-fuzz-" + std::to_string(long(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string put_file(const std::string& name, const std::string& bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

// Runs fn; a dgm::Error is an accepted outcome.
inline void guarded(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error&) {
  }
}

// A few spaces every text/binary reader is tried with: a 5x5 binary grid, a
// small labeled space with more than ten levels, a variable-length sequence.
inline std::vector<Space> reader_spaces() {
  return {Space::tensor({5, 5}, 2), Space::tensor({3}, 12, 3), Space::sequence(8, 4)};
}

inline void read_as(const std::string& path, const std::string& format, const Space& space, json extra = json::object()) {
  guarded([&] {
    json src = std::move(extra);
    src["path"] = path;
    src["format"] = format;
    Dataset d = read_dataset(src, space);
    (void)d.fingerprint();
  });
}

inline void text_format(const std::string& bytes, const std::string& format) {
  const std::string path = put_file("input." + format, bytes);
  for (const Space& s : reader_spaces()) read_as(path, format, s);
}

inline void fuzz_grid(const std::string& b) { text_format(b, "grid"); }
inline void fuzz_lines(const std::string& b) {
  text_format(b, "lines");
  // The same reader under `dgm score`'s tolerant policy: bad records skipped, reading stopped after five.
  guarded([&] {
    const std::string path = put_file("input.lines", b);
    (void)read_records({{"path", path}, {"format", "lines"}}, Space::tensor({3}, 12, 3), nullptr, [](Records& r) {
      r.max_errors = 5;
      r.on_error = [](const std::string&) {};
    });
  });
}
inline void fuzz_csv(const std::string& b) {
  const std::string path = put_file("input.csv", b);
  for (const Space& s : reader_spaces()) read_as(path, "csv", s);
  read_as(path, "csv", Space::tensor({3}, 12, 3), {{"label_column", "first"}});
}
inline void fuzz_jsonl(const std::string& b) { text_format(b, "jsonl"); }

// One image file (format sniffed from the bytes), read into a gray and an RGB
// space; and the same bytes as an image list file, resolved next to two
// small valid images.
inline void fuzz_image(const std::string& b) {
  const std::string path = put_file("input.img", b);
  read_as(path, "image", Space::tensor({5, 5}, 2));
  read_as(path, "image", Space::tensor({3, 4, 4}, 256), {{"threshold", 100}});
  read_as(path, "image", Space::tensor({1, 4, 4}, 256));
  static const bool fixtures = [] {
    // a.pgm: 4x4 gray, b.pgm: 5x5 gray (binary netpbm).
    put_file("a.pgm", std::string("P5\n4 4\n255\n") + std::string(16, '\x80'));
    put_file("b.pgm", std::string("P5 5 5 255\n") + std::string(25, '\x10'));
    return true;
  }();
  (void)fixtures;
  const std::string list = put_file("input.list", b);
  read_as(list, "image", Space::tensor({4, 4}, 2, 3));
}

// IDX: the bytes as a plain images file, the same bytes gzip-compressed, and
// the bytes as the labels file of a valid 3-image file.
inline std::string gzip(const std::string& b) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, uLong(b.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data()));
  z.avail_in = uInt(b.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline void idx_spaces(const std::string& path) {
  read_as(path, "idx", Space::tensor({2, 2}, 256));
  read_as(path, "idx", Space::tensor({5, 5}, 2));
  read_as(path, "idx", Space::tensor({4}, 3), {{"threshold", 7}});
}

inline void fuzz_idx(const std::string& b) {
  idx_spaces(put_file("input-idx3-ubyte", b));
  idx_spaces(put_file("input-idx3-ubyte.gz", gzip(b)));
  const std::string images = put_file("three-idx3-ubyte", std::string("\0\0\x08\x03\0\0\0\x03\0\0\0\x02\0\0\0\x02", 16) +
                                                              std::string(12, '\x07'));
  const std::string labels = put_file("three-labels-idx1-ubyte", b);
  read_as(images, "idx", Space::tensor({2, 2}, 256, 10), {{"labels", labels}});
}

// IDX .gz: the bytes are the compressed file (corrupt streams, bad CRCs).
inline void fuzz_idx_gz(const std::string& b) { idx_spaces(put_file("input-idx3-ubyte.gz", b)); }

inline void fuzz_cifar(const std::string& b) {
  const std::string path = put_file("input.bin", b);
  read_as(path, "cifar", Space::tensor({3, 2, 2}, 256, 10));
  read_as(path, "cifar", Space::tensor({1, 2, 2}, 2));
  read_as(path, "cifar", Space::tensor({3}, 5, 3));
}

// npy: the bytes as an array file read into a few spaces (its own shape
// probed first, as dgm convert does), and as the labels file of a valid
// 3-sample array.
inline void fuzz_npy(const std::string& b) {
  const std::string path = put_file("input.npy", b);
  read_as(path, "npy", Space::tensor({2, 2}, 256));
  read_as(path, "npy", Space::tensor({4}, 3));
  read_as(path, "npy", Space::tensor({5, 5}, 2), {{"threshold", 1}});
  read_as(path, "npy", Space::tensor({1}, 70000, 3));
  guarded([&] {
    const SpaceHint h = probe_space(json{{"path", path}, {"format", "npy"}});
    if (!h.shape.empty() && h.levels > 0) read_as(path, "npy", Space::tensor(h.shape, h.levels));
  });
  std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2), }";
  dict += std::string((10 + dict.size() + 64) / 64 * 64 - 10 - dict.size() - 1, ' ') + "\n";
  const std::string array = put_file("three.npy", std::string("\x93NUMPY\x01\x00", 8) + char(dict.size()) + '\0' + dict +
                                                      std::string(6, '\x01'));
  const std::string labels = put_file("three-labels.npy", b);
  read_as(array, "npy", Space::tensor({2}, 2, 10), {{"labels", labels}});
  guarded([&] { (void)probe_space(json{{"path", array}, {"format", "npy"}, {"labels", labels}}); });
}

// A text corpus: tokenized by the word and the char rules, as train and test.
inline void fuzz_text(const std::string& b) {
  const std::string path = put_file("input.txt", b);
  const json space = {{"shape", {16}}, {"variable_length", true}};
  for (const json& tok : {json{{"tokenizer", "word"}},
                          json{{"tokenizer", "word"}, {"split", "whitespace"}, {"lowercase", false}},
                          json{{"tokenizer", "char"}, {"space_symbol", "_"}}}) {
    guarded([&] {
      json data = tok;
      data["format"] = "text";
      data["train"] = path;
      data["test"] = path;
      TrainingData td = load_training_data(data, space, 1);
      const auto& codec = *dynamic_cast<const TextCodec*>(td.codec.get());
      int64_t n = 0;
      codec.encode(b.substr(0, b.find('\n')), &n);
      (void)codec.decode(td.train.size() ? td.train.row(0) : std::vector<int32_t>{});
    });
  }
}

// An ARPA file read as a model, then scored and sampled.
inline void fuzz_arpa(const std::string& b) {
  const std::string path = put_file("input.arpa", b);
  guarded([&] {
    auto m = NgramModel::read_arpa(path, 12);
    ThreadPool pool(1);
    const auto& codec = *dynamic_cast<const TextCodec*>(m->codec());
    (void)corpus_figures(*m, codec.encode_lines({"a b c", "", "x y"}, m->space()), pool);
    Rng rng(1);
    (void)codec.decode(m->sample(2, rng).row(0));
    (void)m->describe();
  });
}

// Makes every path in a config's data section point into a directory that
// does not exist, so that key validation runs fully but no real file is read.
inline json detach_paths(json data) {
  if (!data.is_object()) return data;
  const std::string nowhere = "/nonexistent-dgm-fuzz/";
  for (auto it = data.begin(); it != data.end(); ++it) {
    const std::string& k = it.key();
    json& v = it.value();
    const bool path_key = k == "train" || k == "validation" || k == "test" || k == "labels" || k == "train_labels" ||
                          k == "validation_labels" || k == "test_labels";
    if (!path_key) continue;
    if (v.is_string()) v = nowhere + v.get<std::string>();
    if (v.is_object())
      for (auto jt = v.begin(); jt != v.end(); ++jt)
        if ((jt.key() == "path" || jt.key() == "labels") && jt.value().is_string())
          jt.value() = nowhere + jt.value().get<std::string>();
  }
  return data;
}

// A config file: parsed, space built, model created for its kind (and for
// every registered kind with the same hyperparameters), data keys validated.
inline void fuzz_config(const std::string& b) {
  const std::string path = put_file("input.json", b);
  json cfg;
  try {
    cfg = load_config_file(path);
  } catch (const Error&) {
    return;
  }
  guarded([&] { apply_override(cfg, "train.seed=3"); });
  if (!cfg.is_object()) return;
  const json space_j = cfg.contains("space") ? cfg["space"] : json();
  const json model_j = cfg.contains("model") ? cfg["model"] : json();
  const json train_j = cfg.contains("train") ? cfg["train"] : json();
  const json data_j = cfg.contains("data") ? detach_paths(cfg["data"]) : json();
  Space space;
  try {
    space = Space::from_json(space_j);
  } catch (const Error&) {
    space = Space::tensor({5, 5}, 2);
  }
  (void)space.size_string();
  (void)space.describe();
  guarded([&] { (void)create_model(space, model_j, train_j); });
  for (const auto& kind : model_kinds()) {
    guarded([&] {
      json m = model_j.is_object() ? model_j : json::object();
      m["type"] = kind.name;
      (void)create_model(space, m, train_j);
    });
  }
  guarded([&] { (void)load_data(data_j, space, 1); });
  guarded([&] { (void)load_training_data(data_j, space_j, 1); });
}

// Appends the checksum and end marker that make `body` a well-formed file, so
// that mutations reach the header and array parsing and the model loaders.
// (The array checksums are recomputed too: model_file.h, seal_model_file.)
inline std::string seal_model(const std::string& body) { return seal_model_file(body); }

// A model file: parsed as it is; then, with the input minus its last 16 bytes
// resealed, loaded as a model and used (describe, score, sample).
inline void fuzz_model(const std::string& b) {
  guarded([&] { (void)ModelReader::parse(b, "input.dgm"); });
  const std::string body = b.size() >= 16 ? b.substr(0, b.size() - 16) : b;
  guarded([&] {
    ModelReader r = ModelReader::parse(seal_model(body), "input.dgm");
    auto m = load_model(r);
    (void)m->describe();
    ThreadPool pool(1);
    Rng rng(1);
    Dataset s = m->sample(3, rng);
    (void)m->log_prob(s, pool);
  });
}

using Target = void (*)(const std::string&);
// Sound: the bytes as a sound file (libsndfile goes by the content: WAV,
// FLAC, Ogg) read by the audio codec as frames at the file's rate and
// resampled, and as whole-clip sequences with resampling off.
inline void fuzz_sound(const std::string& b) {
  const std::string path = put_file("input.wav", b);
  for (const json& keys : {json{{"frame", 64}, {"hop", 32}, {"rate", 8000}},
                           json{{"frame", 0}, {"rate", 8000}, {"resample", "off"}, {"companding", "linear"}}}) {
    guarded([&] {
      json data = keys;
      data["format"] = "wav";
      data["train"] = path;
      const json space = keys["frame"] == 0 ? json{{"shape", {4096}}, {"variable_length", true}} : json::object();
      TrainingData td = load_training_data(data, space, 1);
      (void)td.train.fingerprint();
    });
  }
}

// GIF: the bytes as an animated GIF, read into a 4-frame 12x12 gray clip,
// a binary one and an RGB one.
inline void fuzz_gif(const std::string& b) {
  const std::string path = put_file("input.gif", b);
  for (const json& space : {json{{"shape", {4, 1, 12, 12}}, {"levels", 256}},
                            json{{"shape", {4, 1, 12, 12}}, {"levels", 2}},
                            json{{"shape", {2, 3, 8, 8}}, {"levels", 256}}}) {
    guarded([&] {
      TrainingData td = load_training_data(json{{"format", "gif"}, {"train", path}}, space, 1);
      (void)td.train.fingerprint();
    });
  }
}

inline const std::map<std::string, Target>& targets() {
  static const std::map<std::string, Target> t = {
      {"grid", fuzz_grid},   {"lines", fuzz_lines},   {"csv", fuzz_csv},     {"jsonl", fuzz_jsonl},
      {"image", fuzz_image}, {"idx", fuzz_idx},       {"idx_gz", fuzz_idx_gz}, {"cifar", fuzz_cifar},
      {"text", fuzz_text},   {"arpa", fuzz_arpa},     {"config", fuzz_config}, {"model", fuzz_model},
      {"npy", fuzz_npy},     {"sound", fuzz_sound},   {"gif", fuzz_gif},
  };
  return t;
}

}  // namespace dgm::fuzz
