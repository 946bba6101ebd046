// ngram.cc — interpolated modified Kneser-Ney n-gram models (Chen & Goodman
// 1998), with the conventions of KenLM's lmplz (adjusted counts, <s> as
// context only, <unk> with zero count, uniform base over |V| = values + </s>),
// stored in the backoff (ARPA) form: for every listed n-gram its interpolated
// probability, for every context its backoff weight gamma. Tables are open
// addressing hashes of (context slot, word) -> slot, one per order.
#include "dgm/models/ngram.h"


#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "../io/arpa.h"
#include "dgm/error.h"
#include "dgm/logmath.h"
#include "dgm/io/atomic_file.h"
#include "dgm/model_file.h"

namespace dgm {

namespace {
constexpr uint64_t kEmpty = ~uint64_t(0);
constexpr uint32_t kNone = ~uint32_t(0);

inline uint64_t make_key(uint32_t context, uint32_t word) { return (uint64_t(context) << 32) | word; }
inline uint32_t key_context(uint64_t key) { return uint32_t(key >> 32); }
inline uint32_t key_word(uint64_t key) { return uint32_t(key); }

// Hands the pages of what fit() has just freed back to the system. glibc
// keeps freed memory in its heap, and once a large block is freed it raises its
// mmap threshold, so the next large arrays come from the heap too: without
// this the counting index and the per-order arrays that fit() frees stay
// resident while the query tables are built, and the process peaks near their
// sum (the KJV 5-gram build peaked at 131 MB without this, 92 MB with it).
// Costs a walk of the heap's free list.
void release_freed_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// Table sizes: a power of two at least 1.5 times the n-gram count (load <= 2/3,
// KenLM's probing default), so that a miss ends after a couple of probes.
int table_bits(uint64_t count) {
  int bits = 1;
  while ((uint64_t(1) << bits) < count + count / 2 + 1) ++bits;
  return bits;
}

// An index-only hash used while counting: ids are insertion order, so they
// stay valid when the index grows.
struct CountTable {
  std::vector<uint64_t> keys;      // (n) (context id, word), by id
  std::vector<uint32_t> count;     // (n) adjusted count
  std::vector<uint32_t> suffix;    // (n) id of the n-gram without its first word
  std::vector<uint32_t> index;     // (S) ids, kNone when free
  int bits = 0;
  uint64_t mask = 0;

  void init(uint64_t expected) {
    bits = table_bits(std::max<uint64_t>(expected, 16));
    index.assign(size_t(1) << bits, kNone);
    mask = (uint64_t(1) << bits) - 1;
  }
  size_t home(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ULL) >> (64 - bits)); }
  // Starts fetching key's home slot (the counting loop asks for every order's
  // before it probes any, so that their cache misses overlap).
  void prefetch(uint64_t key) const { __builtin_prefetch(&index[home(key)]); }
  // Then, once the home slot has come, the key and count of the id it holds
  // (the probe compares the key; a hit's count is incremented), so that these
  // dependent misses overlap across the orders too.
  void prefetch_id(uint64_t key) const {
    const uint32_t id = index[home(key)];
    if (id != kNone) {
      __builtin_prefetch(&keys[id]);
      __builtin_prefetch(&count[id], 1);
    }
  }
  void grow() {
    bits += 1;
    index.assign(size_t(1) << bits, kNone);
    mask = (uint64_t(1) << bits) - 1;
    for (uint32_t id = 0; id < keys.size(); ++id) {
      size_t i = home(keys[id]);
      while (index[i] != kNone) i = (i + 1) & mask;
      index[i] = id;
    }
  }
  // The id of key, inserting it (count 0, suffix s) when new.
  uint32_t find_or_insert(uint64_t key, uint32_t s, bool* inserted) {
    size_t i = home(key);
    while (true) {
      const uint32_t id = index[i];
      if (id == kNone) break;
      if (keys[id] == key) {
        *inserted = false;
        return id;
      }
      i = (i + 1) & mask;
    }
    const uint32_t id = uint32_t(keys.size());
    index[i] = id;
    keys.push_back(key);
    count.push_back(0);
    suffix.push_back(s);
    *inserted = true;
    if (keys.size() * 3 > index.size() * 2) grow();
    return id;
  }
};

// One counted n-gram as it travels between shards (MPI) or to a spill file.
struct Wire {
  uint64_t key;  // (context id, word), ids local to the shard
  uint32_t suffix, count;
};
static_assert(sizeof(Wire) == 16, "Wire is written as 16 bytes");

// Merges the counts of shards — runs of whole sequences, given in corpus
// order: the MPI ranks' shards, or the sections a budgeted build spilled —
// into the counts of their concatenation. Each order's n-grams are inserted
// shard by shard in each shard's insertion order, which is their
// first-occurrence order in the corpus, so the merged tables (and the model
// file) are the ones a single in-memory count builds. Counts of occurrences
// (top order, and n-grams that start with <s>) add up; the other counts are
// numbers of distinct left extensions, so finish() recounts them from the
// merged next order, as it does the unigram counts.
//
// A shard's orders come in increasing order (2..N), and an order's shards in
// shard order; between them the calls may interleave (MPI: order by order,
// every shard; spill files: shard by shard, every order). Only each shard's
// id map of its last order is kept.
class CountMerger {
 public:
  CountMerger(int N, int32_t bos_id, size_t shards)
      : N_(N), bos_(uint32_t(bos_id)), merged_(size_t(N - 1)), occ_(size_t(N + 1)), map_(shards) {}
  // Starts shard r's n-grams of order n; `expected`, for the first shard of
  // an order, sizes the merged index (it grows as needed).
  void begin(int n, size_t r, uint64_t expected) {
    n_ = n;
    r_ = r;
    CountTable& t = merged_[size_t(n - 2)];
    if (t.index.empty()) t.init(expected);
    cur_.clear();
  }
  void add(const Wire* w, size_t m) {
    CountTable& t = merged_[size_t(n_ - 2)];
    std::vector<uint8_t>& occ = occ_[size_t(n_)];
    const std::vector<uint32_t>& prev = map_[r_];
    for (size_t i = 0; i < m; ++i) {
      uint32_t context = key_context(w[i].key), suffix = w[i].suffix;
      if (n_ > 2) {
        context = prev[context];
        suffix = prev[suffix];
      }
      bool inserted;
      const uint32_t id = t.find_or_insert(make_key(context, key_word(w[i].key)), suffix, &inserted);
      if (inserted) occ.push_back(n_ == N_ || (n_ == 2 ? context == bos_ : occ_[size_t(n_ - 1)][context]));
      if (occ[id]) t.count[id] += w[i].count;
      cur_.push_back(id);
    }
  }
  void end() {
    if (n_ == N_) std::vector<uint32_t>().swap(map_[r_]);  // the top order's ids are never contexts
    else std::swap(map_[r_], cur_);
    std::vector<uint32_t>().swap(cur_);
  }
  // The merged tables into ct; the distinct-left-extension counts recounted.
  void finish(std::vector<CountTable>& ct, std::vector<uint64_t>& uni_count) {
    map_.clear();
    ct = std::move(merged_);
    std::fill(uni_count.begin(), uni_count.end(), 0);
    for (uint32_t suffix : ct[0].suffix) ++uni_count[suffix];
    for (int n = 3; n <= N_; ++n) {
      CountTable& lower = ct[size_t(n - 3)];
      for (size_t id = 0; id < lower.keys.size(); ++id)
        if (!occ_[size_t(n - 1)][id]) lower.count[id] = 0;
      for (uint32_t suffix : ct[size_t(n - 2)].suffix) ++lower.count[suffix];
    }
  }

 private:
  int N_;
  uint32_t bos_;
  std::vector<CountTable> merged_;              // by order - 2
  std::vector<std::vector<uint8_t>> occ_;       // by order, by merged id: counts occurrences
  std::vector<std::vector<uint32_t>> map_;      // per shard: its ids of its last order -> merged ids
  std::vector<uint32_t> cur_;
  int n_ = 0;
  size_t r_ = 0;
};

// Merges the adjusted counts of every rank's shard (shards in rank order are
// the corpus in order) into the counts of the whole corpus, on every rank
// (CountMerger, order by order).
void merge_counts(Communicator& comm, int N, int32_t bos_id, std::vector<CountTable>& ct,
                  std::vector<uint64_t>& uni_count) {
  const int P = comm.size();
  if (N == 1) {
    std::vector<int64_t> c(uni_count.begin(), uni_count.end());
    comm.sum(c.data(), c.size());
    for (size_t w = 0; w < c.size(); ++w) uni_count[w] = uint64_t(c[w]);
    return;
  }
  CountMerger merger(N, bos_id, size_t(P));
  for (int n = 2; n <= N; ++n) {
    CountTable& local = ct[size_t(n - 2)];
    std::string mine(local.keys.size() * sizeof(Wire), '\0');
    for (size_t id = 0; id < local.keys.size(); ++id) {
      const Wire w{local.keys[id], local.suffix[id], local.count[id]};
      std::memcpy(&mine[id * sizeof(Wire)], &w, sizeof w);
    }
    local = CountTable();
    const std::vector<std::string> all = comm.all_gather(mine);
    mine.clear();
    uint64_t total = 0;
    for (const auto& a : all) total += a.size() / sizeof(Wire);
    std::vector<Wire> buf;
    for (int r = 0; r < P; ++r) {
      const std::string& a = all[size_t(r)];
      buf.resize(a.size() / sizeof(Wire));
      std::memcpy(buf.data(), a.data(), buf.size() * sizeof(Wire));
      merger.begin(n, size_t(r), total);
      merger.add(buf.data(), buf.size());
      merger.end();
    }
  }
  merger.finish(ct, uni_count);
}

// A nameless scratch file in $TMPDIR (default /tmp) for the counts a
// budgeted build spills: open(O_TMPFILE), or where the filesystem has none a
// named file removed at once. It has no name from the start, so nothing is
// left behind whatever ends the process (success, an error, a signal, kill -9).
// Errors (a full disk among them) are one-line IoErrors naming the folder.
class SpillFile {
 public:
  SpillFile() {
    const char* env = std::getenv("TMPDIR");
    dir_ = env && *env ? env : "/tmp";
#ifdef O_TMPFILE
    fd_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) fail("cannot create a temporary file");
#endif
    if (fd_ < 0) {
      std::string name = dir_ + "/.dgm-ngram-XXXXXX";
      fd_ = ::mkstemp(name.data());
      if (fd_ < 0) fail("cannot create a temporary file");
      ::unlink(name.c_str());
    }
  }
  ~SpillFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  uint64_t size() const { return size_; }
  const std::string& dir() const { return dir_; }
  // Appends n bytes; returns their offset.
  uint64_t append(const void* data, size_t n) {
    const uint64_t at = size_;
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t k = ::pwrite(fd_, p, n, off_t(size_));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) fail("cannot write the n-gram counts' temporary file", k < 0 ? errno : ENOSPC);
      p += k;
      n -= size_t(k);
      size_ += uint64_t(k);
    }
    return at;
  }
  void read(uint64_t at, void* data, size_t n) const {
    char* p = static_cast<char*>(data);
    while (n > 0) {
      const ssize_t k = ::pread(fd_, p, n, off_t(at));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) fail("cannot read back the n-gram counts' temporary file", k < 0 ? errno : EIO);
      p += k;
      n -= size_t(k);
      at += uint64_t(k);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what, int err = errno) const {
    throw IoError(dir_ + ": " + what + ": " + std::strerror(err) + " (ngram model.build_memory_mb: set TMPDIR to a folder with room, or raise the budget)");
  }
  std::string dir_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace

// One order's n-grams in the form queried: slot -> (key, ln p, ln backoff).
// The size is 1.5 times the count (KenLM's probing default) and need not be a
// power of two: the home slot is the high half of hash * size (Lemire's
// multiply-shift range reduction), as cheap as a mask. The model file stores
// the slots as they are (array "ngramN.table", u64 (S, 3): key and the bits
// of the two doubles), so a loaded table is the file's bytes, mapped.
struct NgramModel::Table {
  struct Entry {
    uint64_t key;         // make_key(context slot, word); kEmpty when free
    double log_prob;      // ln p(word | context), interpolated
    double log_backoff;   // ln gamma(this n-gram as a context); 0 when not a context
  };
  static_assert(sizeof(Entry) == 24, "Entry is stored as three 64-bit words");
  std::vector<Entry> own;          // (S) when built here
  MappedArray mapped;              // (S) when loaded from a file
  const Entry* entries = nullptr;  // own.data() or the mapping
  uint64_t count = 0;
  uint64_t size = 2;

  explicit Table(uint64_t n) : count(0), size(std::max<uint64_t>(2, n + n / 2 + 1)) {
    own.assign(size_t(size), Entry{kEmpty, 0.0, 0.0});
    entries = own.data();
  }
  Table(MappedArray m, uint64_t slots, uint64_t n) : mapped(std::move(m)), count(n), size(slots) {
    entries = mapped.as<Entry>();
  }
  size_t home(uint64_t key) const {
    return size_t((unsigned __int128)(key * 0x9E3779B97F4A7C15ULL) * size >> 64);
  }
  size_t next(size_t i) const { return i + 1 == size ? 0 : i + 1; }
  // Starts fetching key's home slot for an insert a few keys later.
  void prefetch_insert(uint64_t key) const { __builtin_prefetch(&own[home(key)], 1); }
  uint32_t find(uint64_t key) const { return find_from(home(key), key); }
  uint32_t find_from(size_t i, uint64_t key) const {
    while (true) {
      const uint64_t k = entries[i].key;
      if (k == key) return uint32_t(i);
      if (k == kEmpty) return kNone;
      i = next(i);
    }
  }
  // Inserts a new key; returns its slot, or kNone when it is already there.
  uint32_t insert(uint64_t key, double lp, double lb) {
    size_t i = home(key);
    while (own[i].key != kEmpty) {
      if (own[i].key == key) return kNone;
      i = next(i);
    }
    own[i] = Entry{key, lp, lb};
    ++count;
    return uint32_t(i);
  }
};

// The last tokens as ids of the n-grams that end there: hist[0] is the last
// token (a unigram id), hist[k] the slot of the (k+1)-gram in tables_[k-1].
struct NgramModel::State {
  int len = 0;
  uint32_t hist[kMaxOrder];
};

// The state after token x: the longest listed n-gram ending in x that can
// still be extended, as its slots in each order's table.
NgramModel::State NgramModel::next_state(const State& st, int32_t x) const {
  State nx;
  nx.hist[0] = uint32_t(x);
  int m = 0;
  for (int k = 0; k < st.len; ++k) {
    const uint32_t slot = tables_[size_t(k)]->find(make_key(st.hist[k], uint32_t(x)));
    if (slot == kNone) break;
    nx.hist[k + 1] = slot;
    m = k + 1;
  }
  nx.len = order_ >= 2 ? std::min(m + 1, order_ - 1) : 0;
  return nx;
}

// ---------------------------------------------------------------- creation

NgramModel::NgramModel(const Space& space, int order, const std::vector<double>& fallback, uint64_t build_memory)
    : Model(space), order_(order), build_memory_(build_memory) {
  if (build_memory < (uint64_t(1) << 20))
    throw ConfigError("model.build_memory_mb: must be at least 1 (MB), got " + std::to_string(double(build_memory) / 1048576.0));
  if (order < 1 || order > kMaxOrder)
    throw ConfigError("model.order: must be between 1 and " + std::to_string(kMaxOrder) + ", got " +
                      std::to_string(order));
  if (space.has_labels()) throw ConfigError("model.type: ngram does not model labels; drop space.labels");
  if (space.levels() > (int64_t(1) << 30)) throw ConfigError("model.type: ngram supports at most 2^30 levels");
  if (fallback.size() != 3) throw ConfigError("model.discount_fallback: expected [D1, D2, D3+]");
  for (int j = 0; j < 3; ++j) {
    if (!(fallback[size_t(j)] > 0 && fallback[size_t(j)] <= j + 1))
      throw ConfigError("model.discount_fallback: D" + std::to_string(j + 1) + " must be in (0, " +
                        std::to_string(j + 1) + "], got " + std::to_string(fallback[size_t(j)]));
    fallback_[size_t(j)] = fallback[size_t(j)];
  }
}

std::unique_ptr<Model> NgramModel::create(const Space& space, ConfigSection& model, ConfigSection& train) {
  (void)train;
  const int order = int(model.get_int("order", 3, 1, kMaxOrder));
  std::vector<double> fb = {0.5, 1.0, 1.5};
  const json f = model.get_json("discount_fallback");
  if (!f.is_null()) {
    if (!f.is_array() || f.size() != 3) throw ConfigError("model.discount_fallback: expected [D1, D2, D3+], got " + f.dump());
    for (size_t j = 0; j < 3; ++j) {
      if (!f[j].is_number()) throw ConfigError("model.discount_fallback: expected numbers, got " + f.dump());
      fb[j] = f[j].get<double>();
    }
  }
  const int64_t mb = model.get_int("build_memory_mb", kDefaultBuildMemoryMb, 1, int64_t(1) << 24);
  return std::make_unique<NgramModel>(space, order, fb, uint64_t(mb) << 20);
}

void NgramModel::check_fitted(const char* what) const {
  if (!fitted_) throw DataError(std::string("ngram model: ") + what + " before fit() or load()");
  check_tables();
}

// Tables mapped from a file are verified once, before their first use: the
// checksums of their bytes (MappedArray::verify, one pass at memory speed),
// and what probing relies on — every key's context and word in range, the
// listed count, a free slot to end every probe (so a file with a valid
// checksum but made-up tables is refused, not followed).
void NgramModel::check_tables() const {
  if (checked_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(check_mutex_);
  if (checked_.load(std::memory_order_relaxed)) return;
  const uint64_t U = uint64_t(space_.levels()) + 2;
  for (size_t k = 0; k < tables_.size(); ++k) {
    const Table& t = *tables_[k];
    t.mapped.verify();
    const uint64_t lower = k == 0 ? U : tables_[k - 1]->size;
    uint64_t listed = 0;
    for (uint64_t s = 0; s < t.size; ++s) {
      const uint64_t key = t.entries[s].key;
      if (key == kEmpty) continue;
      ++listed;
      if (key_context(key) >= lower || key_word(key) >= U)
        throw FormatError(file_ + ": table 'ngram" + std::to_string(k + 2) + ".table' slot " + std::to_string(s) +
                          " holds an id out of range");
    }
    if (listed != t.count)
      throw FormatError(file_ + ": table 'ngram" + std::to_string(k + 2) + ".table' lists " + std::to_string(listed) +
                        " n-grams, its header says " + std::to_string(t.count));
  }
  checked_.store(true, std::memory_order_release);
}

std::vector<uint64_t> NgramModel::ngram_counts() const {
  std::vector<uint64_t> c;
  c.push_back(uint64_t(space_.levels()) + (has_eos() ? 2 : 1));
  for (const auto& t : tables_) c.push_back(t->count);
  return c;
}

// ---------------------------------------------------------------- training

void NgramModel::fit(const Dataset& train, const Dataset* validation, const FitContext& ctx) {
  (void)validation;
  if (train.space() != space_)
    throw DataError("ngram model: training data space " + train.space().describe() + " differs from the model's " +
                    space_.describe());
  if (ctx.comm ? ctx.comm->sum(int64_t(train.size())) == 0 : train.empty())
    throw DataError("ngram model: no training sequences");
  const int N = order_;
  const int32_t V = int32_t(space_.levels());
  const int32_t eos_id = eos(), bos_id = bos();
  const bool with_eos = has_eos();

  // 1. Adjusted counts (KenLM adjust_counts): an n-gram of the highest order,
  // or one that starts with <s>, counts its occurrences; any other counts its
  // distinct left extensions (the number of (n+1)-grams it is the suffix of).
  std::vector<uint64_t> uni_count(size_t(V) + 2, 0);
  std::vector<CountTable> ct(size_t(std::max(N - 1, 0)));
  uint64_t positions = 0;
  for (size_t i = 0; i < train.size(); ++i) positions += uint64_t(train.length(i)) + (with_eos ? 1 : 0);
  // The counting tables live within build_memory_ (model.build_memory_mb):
  // when they pass half of it (so that a table doubling before the next
  // check stays within it), the section counted so far is spilled to a
  // temporary file and counting starts afresh; the sections are merged at
  // the end (CountMerger: the tables one in-memory count gives). Checked
  // between sequences. Start small: the tables grow as needed (ids are
  // insertion order, so growing keeps them).
  const uint64_t start_size = std::max<uint64_t>(
      16, std::min<uint64_t>({positions, uint64_t(1) << 16, build_memory_ / (64 * uint64_t(std::max(N - 1, 1)))}));
  for (auto& t : ct) t.init(start_size);
  auto table_bytes = [&] {
    uint64_t b = 0;
    for (const auto& t : ct)
      b += t.keys.capacity() * 8 + t.count.capacity() * 4 + t.suffix.capacity() * 4 + t.index.capacity() * 4;
    return b;
  };
  std::unique_ptr<SpillFile> spill;
  struct Run {
    uint64_t offset, count;
  };
  std::vector<std::vector<Run>> runs;  // per spilled section, per order - 2
  uint64_t peak_table_bytes = 0;
  auto spill_section = [&] {
    if (!spill) spill = std::make_unique<SpillFile>();
    runs.emplace_back();
    std::vector<Wire> buf;
    for (auto& t : ct) {
      const uint64_t at = spill->size();
      for (size_t i = 0; i < t.keys.size(); i += 65536) {
        const size_t m = std::min<size_t>(65536, t.keys.size() - i);
        buf.resize(m);
        for (size_t j = 0; j < m; ++j) buf[j] = Wire{t.keys[i + j], t.suffix[i + j], t.count[i + j]};
        spill->append(buf.data(), m * sizeof(Wire));
      }
      runs.back().push_back(Run{at, t.keys.size()});
      t = CountTable();
      t.init(start_size);
    }
    release_freed_memory();
  };

  // Counted a block of whole sequences at a time (about kBlock positions),
  // order by order: the n-gram ending at a position has as its context the
  // (n-1)-gram ending at the position before, found in the previous order's
  // pass, so within an order's pass the lookups are independent and each one's
  // slots are fetched kAhead positions before it probes. Each table still gets
  // its n-grams in corpus order (ids are first-occurrence order, as counting
  // token by token gives them); the count updates add up the same.
  constexpr size_t kBlock = 2048, kAhead = 16;
  std::vector<int32_t> seq;
  std::vector<uint32_t> word, jpos;  // per block position: the token, its position in its sequence (1-based)
  std::vector<uint32_t> low, high;   // per block position: the id of the (n-1)-gram / n-gram ending there
  for (size_t s = 0; s < train.size();) {
    word.clear();
    jpos.clear();
    while (s < train.size() && word.size() < kBlock) {
      const int64_t len = train.length(s);
      seq.resize(size_t(len) + 1);
      train.get(s, seq.data());
      if (with_eos) seq[size_t(len)] = eos_id;
      const int64_t T = len + (with_eos ? 1 : 0);
      for (int64_t j = 1; j <= T; ++j) {
        word.push_back(uint32_t(seq[size_t(j - 1)]));
        jpos.push_back(uint32_t(j));
      }
      ++s;
    }
    const size_t B = word.size();
    if (N == 1)
      for (size_t p = 0; p < B; ++p) ++uni_count[word[p]];
    low = word;  // the 1-grams
    high.assign(B, kNone);
    for (int n = 2; n <= N; ++n) {
      CountTable& t = ct[size_t(n - 2)];
      // The n-gram ending at block position p exists when it fits after <s>
      // (its position j >= n - 1); its context is the (n-1)-gram ending at p - 1
      // (<s> at j = 1).
      auto valid = [&](size_t p) { return jpos[p] + 1 >= uint32_t(n); };
      auto key_at = [&](size_t p) { return make_key(jpos[p] == 1 ? uint32_t(bos_id) : low[p - 1], word[p]); };
      for (size_t p = 0; p < std::min(B, kAhead); ++p)
        if (valid(p)) t.prefetch(key_at(p));
      for (size_t p = 0; p < B; ++p) {
        if (p + kAhead < B && valid(p + kAhead)) t.prefetch(key_at(p + kAhead));
        if (p + kAhead / 2 < B && valid(p + kAhead / 2)) t.prefetch_id(key_at(p + kAhead / 2));
        if (!valid(p)) continue;
        bool inserted;
        const uint32_t id = t.find_or_insert(key_at(p), low[p], &inserted);
        high[p] = id;
        if (inserted) {
          // A new left extension of the (n-1)-gram ending at p.
          if (n == 2) ++uni_count[word[p]];
          else ++ct[size_t(n - 3)].count[low[p]];
        }
        if (n == N || jpos[p] + 1 == uint32_t(n)) ++t.count[id];
      }
      std::swap(low, high);
    }
    if (N >= 2) {
      const uint64_t b = table_bytes();
      peak_table_bytes = std::max(peak_table_bytes, b);
      if (2 * b > build_memory_ && s < train.size()) spill_section();
    }
  }
  if (spill) {
    // The last section too, then the merge, section by section.
    spill_section();
    std::vector<CountTable>().swap(ct);
    std::vector<uint64_t> largest(size_t(N - 1), 0);
    for (const auto& r : runs)
      for (int n = 2; n <= N; ++n) largest[size_t(n - 2)] = std::max(largest[size_t(n - 2)], r[size_t(n - 2)].count);
    CountMerger merger(N, bos_id, runs.size());
    std::vector<Wire> buf;
    for (size_t r = 0; r < runs.size(); ++r) {
      for (int n = 2; n <= N; ++n) {
        const Run& run = runs[r][size_t(n - 2)];
        merger.begin(n, r, largest[size_t(n - 2)]);
        for (uint64_t i = 0; i < run.count; i += 65536) {
          const size_t m = size_t(std::min<uint64_t>(65536, run.count - i));
          buf.resize(m);
          spill->read(run.offset + i * sizeof(Wire), buf.data(), m * sizeof(Wire));
          merger.add(buf.data(), m);
        }
        merger.end();
      }
    }
    merger.finish(ct, uni_count);
    if (ctx.monitor) {
      char msg[300];
      std::snprintf(msg, sizeof msg, "ngram: counted in %zu sections within model.build_memory_mb = %.0f (tables "
                    "up to %.1f MB), %.1f MB spilled to a temporary file in %s",
                    runs.size(), double(build_memory_) / 1048576.0, double(peak_table_bytes) / 1048576.0,
                    double(spill->size()) / 1048576.0, spill->dir().c_str());
      ctx.monitor->message(msg);
    }
  }

  if (ctx.comm && ctx.comm->size() > 1) {
    uint64_t local = 0;
    for (const auto& t : ct) local += t.keys.size();
    const auto t0 = std::chrono::steady_clock::now();
    merge_counts(*ctx.comm, N, bos_id, ct, uni_count);
    uint64_t merged = 0;
    for (const auto& t : ct) merged += t.keys.size();
    if (ctx.monitor) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "ngram: merged the counts of %d shards in %.3f s (this rank had %llu n-grams, "
                    "the corpus has %llu)", ctx.comm->size(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                    (unsigned long long)local, (unsigned long long)merged);
      ctx.monitor->message(buf);
    }
  }
  // The index served the counting only; the arrays lose their growth slack
  // (up to half of their capacity), one at a time.
  for (auto& t : ct) {
    std::vector<uint32_t>().swap(t.index);
    t.keys.shrink_to_fit();
    t.count.shrink_to_fit();
    t.suffix.shrink_to_fit();
  }
  release_freed_memory();

  // 2. Discounts from counts of counts (Chen & Goodman eq. 26), per order.
  discounts_.assign(size_t(N), {0, 0, 0});
  fallback_used_.assign(size_t(N), false);
  auto discounts_for = [&](int n, const uint64_t cc[5]) {
    std::array<double, 3> d{};
    bool ok = cc[1] > 0 && cc[2] > 0 && cc[3] > 0;
    if (ok) {
      const double y = double(cc[1]) / (double(cc[1]) + 2.0 * double(cc[2]));
      for (int k = 1; k <= 3; ++k) {
        d[size_t(k - 1)] = k - (k + 1) * y * double(cc[k + 1]) / double(cc[k]);
        // KenLM accepts [0, k]; a zero discount would give unseen words zero
        // probability at some contexts, so 0 falls back too.
        if (!(d[size_t(k - 1)] > 0.0 && d[size_t(k - 1)] <= k)) ok = false;
      }
    }
    if (!ok) {
      d = fallback_;
      fallback_used_[size_t(n - 1)] = true;
      if (ctx.monitor) {
        std::ostringstream os;
        os << "ngram: cannot estimate the Kneser-Ney discounts of the " << n << "-grams (counts of counts n1..n4 = "
           << cc[1] << ", " << cc[2] << ", " << cc[3] << ", " << cc[4] << "); using the fallback D1=" << d[0]
           << " D2=" << d[1] << " D3+=" << d[2];
        ctx.monitor->message(os.str());
      }
    }
    discounts_[size_t(n - 1)] = d;
  };
  {
    uint64_t cc[5] = {0, 0, 0, 0, 0};
    for (int32_t w = 0; w < num_predicted(); ++w)
      if (uni_count[size_t(w)] < 5) ++cc[uni_count[size_t(w)]];
    discounts_for(1, cc);
    for (int n = 2; n <= N; ++n) {
      uint64_t c2[5] = {0, 0, 0, 0, 0};
      for (uint32_t c : ct[size_t(n - 2)].count)
        if (c < 5) ++c2[c];
      discounts_for(n, c2);
    }
  }
  auto discount = [&](int n, uint64_t a) -> double {
    if (a == 0) return 0.0;
    return discounts_[size_t(n - 1)][size_t(std::min<uint64_t>(a, 3) - 1)];
  };

  // 3. Probabilities. p(w|h) = (a(hw) - D(a(hw))) / sum_x a(hx) + gamma(h) p(w|h'),
  // gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / sum_x a(hx); the unigrams
  // interpolate with the uniform 1/|V|, |V| = values + </s> (+ <unk>, which is a value).
  const int32_t P = num_predicted();
  std::vector<double> uni_prob(size_t(V) + 2, 0.0), uni_gamma(size_t(V) + 2, 1.0);
  {
    double denom = 0, mass = 0;
    for (int32_t w = 0; w < P; ++w) {
      denom += double(uni_count[size_t(w)]);
      mass += discount(1, uni_count[size_t(w)]);
    }
    const double gamma = mass / denom;
    for (int32_t w = 0; w < P; ++w)
      uni_prob[size_t(w)] =
          (double(uni_count[size_t(w)]) - discount(1, uni_count[size_t(w)])) / denom + gamma / double(P);
  }
  // Per order: interpolated probabilities by id; the context gammas go to the order below.
  uint64_t top_count = 0, top_offset = 0;  // the top order's n-grams; where they wait on disk
  bool top_on_disk = false;
  std::vector<std::vector<double>> prob(static_cast<size_t>(N));  // prob[n-1] by id, n >= 2
  std::vector<std::vector<double>> gamma(static_cast<size_t>(N));  // gamma[n-1]: of the n-grams as contexts
  for (int n = 2; n <= N; ++n) {
    const CountTable& t = ct[size_t(n - 2)];
    const size_t lower = n == 2 ? size_t(V) + 2 : ct[size_t(n - 3)].keys.size();
    std::vector<double> denom(lower, 0.0), mass(lower, 0.0);
    for (size_t id = 0; id < t.keys.size(); ++id) {
      const uint32_t c = key_context(t.keys[id]);
      denom[c] += t.count[id];
      mass[c] += discount(n, t.count[id]);
    }
    std::vector<double>& g = gamma[size_t(n - 2)];
    g.assign(lower, 1.0);
    for (size_t c = 0; c < lower; ++c)
      if (denom[c] > 0) g[c] = mass[c] / denom[c];
    std::vector<double>& p = prob[size_t(n - 1)];
    p.resize(t.keys.size());
    const std::vector<double>& lower_prob = n == 2 ? uni_prob : prob[size_t(n - 2)];
    for (size_t id = 0; id < t.keys.size(); ++id) {
      const uint32_t c = key_context(t.keys[id]);
      const double a = t.count[id];
      p[id] = (a - discount(n, t.count[id])) / denom[c] + g[c] * lower_prob[t.suffix[id]];
    }
    // This order's counts and suffixes are used up (its keys make the table).
    CountTable& done = ct[size_t(n - 2)];
    std::vector<uint32_t>().swap(done.count);
    std::vector<uint32_t>().swap(done.suffix);
    top_count = done.keys.size();
    if (spill && n == N) {
      // A budgeted build: the top order's keys and probabilities wait on disk
      // while the tables below are built, and stream into its table.
      top_offset = spill->size();
      std::vector<std::pair<uint64_t, double>> buf;
      for (size_t i = 0; i < top_count; i += 65536) {
        const size_t m = std::min<size_t>(65536, top_count - i);
        buf.resize(m);
        for (size_t j = 0; j < m; ++j) buf[j] = {done.keys[i + j], p[i + j]};
        spill->append(buf.data(), m * sizeof buf[0]);
      }
      std::vector<uint64_t>().swap(done.keys);
      std::vector<double>().swap(p);
      top_on_disk = true;
    }
    release_freed_memory();
  }

  // 4. The query tables: unigrams by token id, then each order with its
  // context ids renumbered to the slots of the order below.
  uni_log_prob_.assign(size_t(V) + 2, kNegInf);
  uni_log_backoff_.assign(size_t(V) + 2, 0.0);
  for (int32_t w = 0; w < P; ++w) uni_log_prob_[size_t(w)] = std::log(uni_prob[size_t(w)]);
  if (N >= 2)
    for (size_t w = 0; w < size_t(V) + 2; ++w) uni_log_backoff_[w] = std::log(gamma[0][w]);
  std::vector<double>().swap(gamma[0]);
  tables_.clear();
  // Each order's probabilities, backoffs, keys and the slots of the order
  // below are freed once its table holds them; the top order's slots are
  // never needed.
  std::vector<uint32_t> slot_of, next_slot_of;
  for (int n = 2; n <= N; ++n) {
    CountTable& t = ct[size_t(n - 2)];
    if (n == N && top_on_disk) {
      auto table = std::make_shared<Table>(top_count);
      std::vector<std::pair<uint64_t, double>> buf;
      for (uint64_t i = 0; i < top_count; i += 65536) {
        const size_t m = size_t(std::min<uint64_t>(65536, top_count - i));
        buf.resize(m);
        spill->read(top_offset + i * sizeof buf[0], buf.data(), m * sizeof buf[0]);
        auto query_key = [&](size_t j) {
          const uint32_t c = key_context(buf[j].first);
          return make_key(n > 2 ? slot_of[c] : c, key_word(buf[j].first));
        };
        constexpr size_t kAhead = 16;
        for (size_t j = 0; j < std::min(kAhead, m); ++j) table->prefetch_insert(query_key(j));
        for (size_t j = 0; j < m; ++j) {
          if (j + kAhead < m) table->prefetch_insert(query_key(j + kAhead));
          table->insert(query_key(j), std::log(buf[j].second), 0.0);
        }
      }
      spill.reset();
      tables_.push_back(std::move(table));
      break;
    }
    auto table = std::make_shared<Table>(t.keys.size());
    const bool context_order = n < N;
    next_slot_of.resize(context_order ? t.keys.size() : 0);
    // The n-gram's key in the query table: its context as a slot of the order below.
    auto query_key = [&](size_t id) {
      const uint32_t c = key_context(t.keys[id]);
      return make_key(n > 2 ? slot_of[c] : c, key_word(t.keys[id]));
    };
    // The inserts land in random slots: each one's slot is fetched kAhead inserts before.
    constexpr size_t kAhead = 16;
    for (size_t id = 0; id < std::min(kAhead, t.keys.size()); ++id) table->prefetch_insert(query_key(id));
    for (size_t id = 0; id < t.keys.size(); ++id) {
      if (id + kAhead < t.keys.size()) table->prefetch_insert(query_key(id + kAhead));
      const double lb = context_order ? std::log(gamma[size_t(n - 1)][id]) : 0.0;
      const uint32_t slot = table->insert(query_key(id), std::log(prob[size_t(n - 1)][id]), lb);
      if (context_order) next_slot_of[id] = slot;
    }
    std::swap(slot_of, next_slot_of);
    std::vector<uint32_t>().swap(next_slot_of);
    std::vector<double>().swap(prob[size_t(n - 1)]);
    std::vector<double>().swap(gamma[size_t(n - 1)]);
    t = CountTable();
    tables_.push_back(std::move(table));
    release_freed_memory();
  }
  source_ = "trained";
  checked_.store(true);
  fitted_ = true;
}

// ---------------------------------------------------------------- scoring

double NgramModel::log_prob_next(const std::vector<int32_t>& context, int32_t w, bool with_bos) const {
  check_fitted("log_prob_next");
  if (w < 0 || w >= num_predicted()) throw DataError("ngram: token " + std::to_string(w) + " is not predicted");
  State st;
  st.len = 0;
  if (order_ >= 2 && with_bos) {
    st.len = 1;
    st.hist[0] = uint32_t(bos());
  }
  // Walk the context through the model (the scores are discarded).
  auto step = [&](int32_t x) { st = next_state(st, x); };
  for (int32_t x : context) {
    if (x < 0 || x >= int32_t(space_.levels())) throw DataError("ngram: context token " + std::to_string(x) + " out of range");
    step(x);
  }
  double lp = uni_log_prob_[size_t(w)];
  int m = 0;
  for (int k = 0; k < st.len; ++k) {
    const uint32_t slot = tables_[size_t(k)]->find(make_key(st.hist[k], uint32_t(w)));
    if (slot == kNone) break;
    lp = tables_[size_t(k)]->entries[slot].log_prob;
    m = k + 1;
  }
  for (int k = m; k < st.len; ++k)
    lp += k == 0 ? uni_log_backoff_[st.hist[0]] : tables_[size_t(k - 1)]->entries[st.hist[k]].log_backoff;
  return lp;
}

double NgramModel::log_prob_sequence(const int32_t* x, int64_t length, double* terms) const {
  check_tables();
  const int N = order_;
  std::vector<const Table*> tp(tables_.size());
  for (size_t k = 0; k < tables_.size(); ++k) tp[k] = tables_[k].get();
  const double* ulp = uni_log_prob_.data();
  const double* ulb = uni_log_backoff_.data();
  State a, b;
  State* st = &a;
  State* nx = &b;
  st->len = N >= 2 ? 1 : 0;
  st->hist[0] = uint32_t(bos());
  double total = 0;
  const bool end = has_eos() && length < space_.dims();
  const int64_t T = length + (end ? 1 : 0);
  for (int64_t t = 0; t < T; ++t) {
    const uint32_t w = t < length ? uint32_t(x[t]) : uint32_t(eos());
    double lp = ulp[w];
    nx->hist[0] = w;
    int m = 0;
    for (int k = 0; k < st->len; ++k) {
      const Table& tab = *tp[size_t(k)];
      const uint32_t slot = tab.find(make_key(st->hist[k], w));
      if (slot == kNone) break;
      lp = tab.entries[slot].log_prob;
      nx->hist[k + 1] = slot;
      m = k + 1;
    }
    for (int k = m; k < st->len; ++k) lp += k == 0 ? ulb[st->hist[0]] : tp[size_t(k - 1)]->entries[st->hist[k]].log_backoff;
    nx->len = N >= 2 ? std::min(m + 1, N - 1) : 0;
    total += lp;
    if (terms) terms[t] = lp;
    std::swap(st, nx);
  }
  // A full-length sequence ends with probability 1.
  if (terms && has_eos() && !end) terms[length] = 0.0;
  return total;
}

// Scores rows [begin, end) of x with kLanes sequences in lockstep: a lane's
// probes for its next token are prefetched, and the other lanes take their
// turn before it probes, so that the tables' cache misses (the tables are far
// larger than the caches) overlap instead of waiting one after the other.
// The arithmetic is log_prob_sequence's, in the same order: equal results.
// out[i] gets row i's log probability (when out is not null); terms, when
// not null, row i's per-position terms at terms + i * stride.
void NgramModel::score_rows(const DataView& x, size_t begin, size_t end, double* out, double* terms,
                            size_t stride) const {
  constexpr int kLanes = 8;
  const int N = order_;
  const Table* tp[kMaxOrder];
  for (size_t k = 0; k < tables_.size(); ++k) tp[k] = tables_[k].get();
  const double* ulp = uni_log_prob_.data();
  const double* ulb = uni_log_backoff_.data();
  const int64_t D = space_.dims();
  const bool eos_term = has_eos();
  struct Lane {
    std::vector<int32_t> row;
    size_t i = 0;
    int64_t t = 0, length = 0, T = 0;
    double total = 0;
    State st;
    uint32_t w = 0;
    uint64_t key[kMaxOrder];
    size_t home[kMaxOrder];
    bool idle = true;
  };
  Lane lanes[kLanes];
  size_t next_row = begin;
  auto prepare = [&](Lane& L) {
    L.w = L.t < L.length ? uint32_t(L.row[size_t(L.t)]) : uint32_t(eos());
    for (int k = 0; k < L.st.len; ++k) {
      L.key[k] = make_key(L.st.hist[k], L.w);
      L.home[k] = tp[k]->home(L.key[k]);
      // The home slot's line and the next: a probe for a missing key runs
      // to the next free slot, past the home line about half the time.
      const char* line = reinterpret_cast<const char*>(&tp[k]->entries[L.home[k]]);
      __builtin_prefetch(line);
      __builtin_prefetch(line + 64);
    }
  };
  auto start = [&](Lane& L) {
    while (next_row < end) {
      L.i = next_row++;
      L.length = x.length(L.i);
      L.row.resize(size_t(L.length));
      x.get(L.i, L.row.data());
      L.T = L.length + (eos_term && L.length < D ? 1 : 0);
      L.t = 0;
      L.total = 0;
      L.st.len = N >= 2 ? 1 : 0;
      L.st.hist[0] = uint32_t(bos());
      // A full-length sequence ends with probability 1.
      if (terms && eos_term && L.T == L.length) terms[L.i * stride + size_t(L.length)] = 0.0;
      if (L.T == 0) {
        if (out) out[L.i] = 0.0;
        continue;
      }
      prepare(L);
      L.idle = false;
      return true;
    }
    L.idle = true;
    return false;
  };
  int active = 0;
  for (auto& L : lanes) active += start(L) ? 1 : 0;
  // The slots found for the next state; copied whole (a fixed size: no
  // variable-length copy per token), the entries past m are never read.
  uint32_t found[kMaxOrder] = {};
  while (active > 0) {
    for (auto& L : lanes) {
      if (L.idle) continue;
      double lp = ulp[L.w];
      int m = 0;
      for (int k = 0; k < L.st.len; ++k) {
        const uint32_t slot = tp[k]->find_from(L.home[k], L.key[k]);
        if (slot == kNone) break;
        lp = tp[k]->entries[slot].log_prob;
        found[k] = slot;
        m = k + 1;
      }
      for (int k = m; k < L.st.len; ++k) lp += k == 0 ? ulb[L.st.hist[0]] : tp[k - 1]->entries[L.st.hist[k]].log_backoff;
      L.st.hist[0] = L.w;
      std::memcpy(L.st.hist + 1, found, sizeof(uint32_t) * (kMaxOrder - 1));
      L.st.len = N >= 2 ? std::min(m + 1, N - 1) : 0;
      L.total += lp;
      if (terms) terms[L.i * stride + size_t(L.t)] = lp;
      if (++L.t < L.T) {
        prepare(L);
      } else {
        if (out) out[L.i] = L.total;
        if (!start(L)) --active;
      }
    }
  }
}

void NgramModel::log_prob(const DataView& x, double* out, ThreadPool& pool) const {
  check_fitted("log_prob");
  if (x.space() != space_)
    throw DataError("ngram model: data space " + x.space().describe() + " differs from the model's " + space_.describe());
  constexpr size_t kGrain = 256;
  pool.run(num_chunks(x.size(), kGrain),
           [&](size_t c) { score_rows(x, c * kGrain, std::min(x.size(), (c + 1) * kGrain), out, nullptr, 0); });
}

void NgramModel::position_log_probs(const DataView& x, double* out, ThreadPool& pool) const {
  check_fitted("position_log_probs");
  if (x.space() != space_)
    throw DataError("ngram model: data space " + x.space().describe() + " differs from the model's " + space_.describe());
  const size_t stride = size_t(space_.dims()) + (has_eos() ? 1 : 0);
  constexpr size_t kGrain = 256;
  pool.run(num_chunks(x.size(), kGrain),
           [&](size_t c) { score_rows(x, c * kGrain, std::min(x.size(), (c + 1) * kGrain), nullptr, out, stride); });
}

// ---------------------------------------------------------------- sampling

// For every context slot of every order, its children's words and
// probabilities p*(h w) = exp(log_prob) side by side in child order, so that
// a distribution reads them in sequence (the table's slots are scattered over
// memory, and most of a draw's time went to fetching them).
void NgramModel::build_children() const {
  std::call_once(children_once_, [&] {
    uni_prob_.resize(size_t(num_predicted()));
    for (int32_t w = 0; w < num_predicted(); ++w) uni_prob_[size_t(w)] = std::exp(uni_log_prob_[size_t(w)]);
    child_begin_.resize(tables_.size());
    child_word_.resize(tables_.size());
    child_prob_.resize(tables_.size());
    for (size_t k = 0; k < tables_.size(); ++k) {
      const Table& t = *tables_[k];
      const size_t lower = k == 0 ? size_t(space_.levels()) + 2 : size_t(tables_[k - 1]->size);
      std::vector<uint32_t>& begin = child_begin_[k];
      begin.assign(lower + 1, 0);
      for (size_t s = 0; s < t.size; ++s)
        if (t.entries[s].key != kEmpty) ++begin[key_context(t.entries[s].key) + 1];
      for (size_t i = 0; i < lower; ++i) begin[i + 1] += begin[i];
      std::vector<uint32_t> fill(begin.begin(), begin.end() - 1);
      child_word_[k].resize(t.count);
      child_prob_[k].resize(t.count);
      for (size_t s = 0; s < t.size; ++s) {
        const auto& e = t.entries[s];
        if (e.key == kEmpty) continue;
        const uint32_t i = fill[key_context(e.key)]++;
        child_word_[k][i] = key_word(e.key);
        child_prob_[k][i] = std::exp(e.log_prob);
      }
    }
  });
}

// p(.|h) for the full context h: p(w|h_{k+1}) = p*(h_{k+1} w) for the listed
// children of each suffix h_{k+1} of h, b(h_{k+1}) p(w|h_k) for the rest. In
// one dense pass (the unigram probabilities times every order's backoff, in
// order) and then each order's children, whose values get the backoffs of the
// orders above theirs: each value is the product the order-by-order
// recursion gives, in its order of multiplication, so the draws do not change.
void NgramModel::next_distribution(const State& st, std::vector<double>& dist) const {
  const size_t P = size_t(num_predicted());
  dist.resize(P);
  double b[kMaxOrder];
  for (int k = 0; k < st.len; ++k) {
    const double lb = k == 0 ? uni_log_backoff_[st.hist[0]] : tables_[size_t(k - 1)]->entries[st.hist[k]].log_backoff;
    b[k] = lb != 0.0 ? std::exp(lb) : 1.0;
  }
  const double* u = uni_prob_.data();
  double* d = dist.data();
  switch (st.len) {  // multiplying by 1 is exact, as skipping it was
    case 0: std::copy(u, u + P, d); break;
    case 1: for (size_t w = 0; w < P; ++w) d[w] = u[w] * b[0]; break;
    case 2: for (size_t w = 0; w < P; ++w) d[w] = u[w] * b[0] * b[1]; break;
    case 3: for (size_t w = 0; w < P; ++w) d[w] = u[w] * b[0] * b[1] * b[2]; break;
    default:
      for (size_t w = 0; w < P; ++w) {
        double x = u[w];
        for (int k = 0; k < st.len; ++k) x *= b[k];
        d[w] = x;
      }
  }
  for (int k = 0; k < st.len; ++k) {
    const uint32_t* words = child_word_[size_t(k)].data();
    const double* probs = child_prob_[size_t(k)].data();
    const uint32_t first = child_begin_[size_t(k)][st.hist[k]], last = child_begin_[size_t(k)][st.hist[k] + 1];
    for (uint32_t i = first; i < last; ++i) {
      const uint32_t w = words[i];
      if (w >= P) continue;
      double x = probs[i];
      for (int j = k + 1; j < st.len; ++j) x *= b[j];
      d[w] = x;
    }
  }
}

void NgramModel::sample_into(const std::vector<int32_t>& prompt, int64_t max_len, Rng& rng, double temperature,
                             std::vector<int32_t>& out, std::vector<double>& dist) const {
  build_children();
  out.clear();
  State st;
  st.len = order_ >= 2 ? 1 : 0;
  st.hist[0] = uint32_t(bos());
  auto advance = [&](int32_t x) {
    st = next_state(st, x);
    out.push_back(x);
  };
  for (int32_t x : prompt) {
    if (int64_t(out.size()) >= max_len) return;
    advance(x);
  }
  const double inv_t = 1.0 / temperature;
  while (int64_t(out.size()) < max_len) {
    next_distribution(st, dist);
    double total = 0;
    for (double& p : dist) {
      if (inv_t != 1.0) p = std::pow(p, inv_t);
      total += p;
    }
    const size_t w = rng.categorical(dist.data(), dist.size(), total);
    if (has_eos() && int32_t(w) == eos()) return;
    advance(int32_t(w));
  }
}

Dataset NgramModel::sample(size_t n, Rng& rng, const SampleOptions& opts) const {
  check_fitted("sample");
  Dataset none(space_);
  if (!space_.variable_length()) {
    const std::vector<int32_t> zero(size_t(space_.dims()), 0);
    for (size_t i = 0; i < n; ++i) none.push_back(zero);
    return complete(none, std::vector<uint8_t>(n * size_t(space_.dims()), 0), rng, opts);
  }
  for (size_t i = 0; i < n; ++i) none.push_back(nullptr, 0);
  return complete(none, {}, rng, opts);
}

Dataset NgramModel::complete(const Dataset& partial, const std::vector<uint8_t>& known, Rng& rng,
                             const SampleOptions& opts) const {
  check_fitted("complete");
  if (opts.label >= 0) throw DataError("ngram model: the space has no labels to sample for");
  if (!(opts.temperature > 0)) throw DataError("ngram model: temperature must be > 0");
  if (partial.space() != space_)
    throw DataError("ngram model: data space " + partial.space().describe() + " differs from the model's " + space_.describe());
  const size_t n = partial.size();
  const int64_t D = space_.dims();
  // Each row's known prefix: the whole row (sequences) or the known positions
  // before the first unknown one (tensors; a known one after it is an error).
  std::vector<std::vector<int32_t>> prefixes(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<int32_t> row = partial.row(i);
    if (space_.variable_length()) {
      if (!known.empty()) throw DataError("ngram model: on a variable-length space the rows are prefixes; give no mask");
    } else {
      if (known.size() != n * size_t(D))
        throw DataError("completion mask has " + std::to_string(known.size()) + " flags, expected " +
                        std::to_string(n * size_t(D)) + " (N x D)");
      int64_t k = 0;
      while (k < D && known[i * size_t(D) + size_t(k)]) ++k;
      for (int64_t d = k; d < D; ++d)
        if (known[i * size_t(D) + size_t(d)])
          throw DataError("record " + std::to_string(i + 1) + ": position " + space_.position(d) +
                          " is known but comes after unknown position " + space_.position(k) +
                          "; 'ngram' completes only positions that follow every known one");
      row.resize(size_t(k));
    }
    prefixes[i] = std::move(row);
  }
  // One RNG stream a fixed-size chunk: the draws do not depend on the pool.
  constexpr size_t kChunk = 64;
  const uint64_t base = rng.next();
  std::vector<std::vector<int32_t>> rows(n);
  auto draw = [&](size_t c) {
    Rng crng(base, c);
    std::vector<double> dist;  // the chunk's workspace
    for (size_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i)
      sample_into(prefixes[i], D, crng, opts.temperature, rows[i], dist);
  };
  if (opts.pool) opts.pool->run(num_chunks(n, kChunk), draw);
  else
    for (size_t c = 0; c < num_chunks(n, kChunk); ++c) draw(c);
  Dataset out(space_);
  out.reserve(n);
  for (auto& r : rows) out.push_back(r);
  return out;
}

// ---------------------------------------------------------------- save / load

void NgramModel::save(ModelWriter& w) const {
  check_fitted("save");
  const int N = order_;
  std::vector<uint64_t> counts;
  for (const auto& t : tables_) counts.push_back(t->count);
  w.header()["ngram"] = {{"order", N}, {"source", source_}, {"counts", counts}};
  w.add("unigram.log_prob", uni_log_prob_);
  w.add("unigram.log_backoff", uni_log_backoff_);
  std::vector<double> disc;
  std::vector<uint8_t> fb;
  for (int n = 0; n < N; ++n) {
    for (double d : discounts_[size_t(n)]) disc.push_back(d);
    fb.push_back(fallback_used_[size_t(n)] ? 1 : 0);
  }
  w.add("discounts", disc.data(), {uint64_t(N), 3});
  w.add("discount_fallback", fb);
  // Orders >= 2 as their hash tables, slot for slot (loaded by mapping them).
  for (int n = 2; n <= N; ++n) {
    const Table& t = *tables_[size_t(n - 2)];
    w.add_external("ngram" + std::to_string(n) + ".table", reinterpret_cast<const uint64_t*>(t.entries), {t.size, 3});
  }
}

void NgramModel::load(const ModelReader& r) {
  const json& h = r.header();
  if (!h.contains("ngram") || !h["ngram"].is_object() || !h["ngram"].contains("order"))
    throw FormatError(r.name() + ": ngram model header has no 'ngram' section");
  const json& info = h["ngram"];
  const int N = info["order"].get<int>();
  if (N < 1 || N > kMaxOrder) throw FormatError(r.name() + ": ngram order " + std::to_string(N) + " out of range");
  order_ = N;
  source_ = info.value("source", "trained");
  const uint64_t U = uint64_t(space_.levels()) + 2;
  uni_log_prob_.assign(U, 0.0);
  uni_log_backoff_.assign(U, 0.0);
  r.read("unigram.log_prob", uni_log_prob_.data(), {U});
  r.read("unigram.log_backoff", uni_log_backoff_.data(), {U});
  std::vector<double> disc(size_t(N) * 3);
  std::vector<uint8_t> fb(static_cast<size_t>(N));
  r.read("discounts", disc.data(), {uint64_t(N), 3});
  r.read("discount_fallback", fb.data(), {uint64_t(N)});
  discounts_.assign(size_t(N), {0, 0, 0});
  fallback_used_.assign(size_t(N), false);
  for (int n = 0; n < N; ++n) {
    for (int j = 0; j < 3; ++j) discounts_[size_t(n)][size_t(j)] = disc[size_t(n) * 3 + size_t(j)];
    fallback_used_[size_t(n)] = fb[size_t(n)] != 0;
  }
  tables_.clear();
  file_ = r.name();
  if (N >= 2 && r.has("ngram2.table")) {
    // Format 2: the tables in place (checked before first use, check_tables).
    const json& counts = info.contains("counts") ? info["counts"] : json();
    if (!counts.is_array() || counts.size() != size_t(N - 1))
      throw FormatError(r.name() + ": ngram header 'counts' is not a list of " + std::to_string(N - 1) + " counts");
    for (int n = 2; n <= N; ++n) {
      const std::string name = "ngram" + std::to_string(n) + ".table";
      const std::vector<uint64_t> shape = r.shape(name);
      const json& c = counts[size_t(n - 2)];
      if (shape.size() != 2 || shape[1] != 3 || shape[0] < 2 || shape[0] >= kNone)
        throw FormatError(r.name() + ": array '" + name + "' is not a table of (slots < 2^32, 3)");
      if (!c.is_number_unsigned() || c.get<uint64_t>() >= shape[0])
        throw FormatError(r.name() + ": ngram header 'counts' does not fit the table '" + name + "'");
      tables_.push_back(std::make_shared<Table>(r.map(name, DType::kU64, shape), shape[0], c.get<uint64_t>()));
    }
    checked_.store(false);
    fitted_ = true;
    return;
  }
  // Format 1: dense arrays, hashed again.
  std::vector<uint32_t> slot_of_prev;
  uint64_t lower_count = U;
  for (int n = 2; n <= N; ++n) {
    const std::string p = "ngram" + std::to_string(n) + ".";
    const uint64_t count = r.shape(p + "word").empty() ? 0 : r.shape(p + "word")[0];
    if (count >= (uint64_t(1) << 31)) throw FormatError(r.name() + ": array '" + p + "word' is too large");
    std::vector<uint32_t> ctxs(count), words(count);
    std::vector<double> lps(count), lbs(n < N ? count : 0);
    r.read(p + "context", ctxs.data(), {count});
    r.read(p + "word", words.data(), {count});
    r.read(p + "log_prob", lps.data(), {count});
    if (n < N) r.read(p + "log_backoff", lbs.data(), {count});
    auto table = std::make_shared<Table>(count);
    std::vector<uint32_t> slot_of(count);
    for (uint64_t i = 0; i < count; ++i) {
      if (ctxs[i] >= lower_count || words[i] >= U)
        throw FormatError(r.name() + ": array '" + p + "context' or '" + p + "word' holds an id out of range");
      const uint32_t c = n == 2 ? ctxs[i] : slot_of_prev[ctxs[i]];
      slot_of[i] = table->insert(make_key(c, words[i]), lps[i], n < N ? lbs[i] : 0.0);
      if (slot_of[i] == kNone) throw FormatError(r.name() + ": n-gram listed twice in '" + p + "word'");
    }
    slot_of_prev = std::move(slot_of);
    lower_count = count;
    tables_.push_back(std::move(table));
  }
  fitted_ = true;
}

json NgramModel::describe() const {
  json j = {{"order", order_}, {"source", source_}, {"vocabulary", space_.levels()}};
  if (fitted_) {
    j["ngrams"] = ngram_counts();
    uint64_t params = 0;
    for (auto c : ngram_counts()) params += c;
    j["parameters"] = params;
    if (source_ == "trained") {
      j["discounts"] = discounts_;
      std::vector<int> fb;
      for (int n = 0; n < order_; ++n)
        if (fallback_used_[size_t(n)]) fb.push_back(n + 1);
      j["discount_fallback_orders"] = fb;
      if (!fb.empty()) j["discount_fallback"] = fallback_;
    }
  }
  return j;
}

// ---------------------------------------------------------------- ARPA

void NgramModel::export_to(const std::string& format, std::ostream& out) const {
  if (format != "arpa") Model::export_to(format, out);
  check_fitted("export");
  const int N = order_;
  const int32_t V = int32_t(space_.levels());
  const auto* text = dynamic_cast<const TextCodec*>(codec());
  io::ArpaNgrams a;
  a.words.resize(size_t(V) + 2);
  for (int32_t w = 0; w < V; ++w) a.words[size_t(w)] = text ? text->vocabulary().token(w) : std::to_string(w);
  a.words[0] = Vocabulary::kUnkToken;
  a.words[size_t(eos())] = Vocabulary::kEosToken;
  a.words[size_t(bos())] = Vocabulary::kBosToken;
  a.orders.resize(size_t(N));
  auto log10_of = [](double ln) { return ln / kLn10; };
  // Unigrams: the predicted values and <s> (log10 p = -99, context only).
  io::ArpaNgrams::Order& uni = a.orders[0];
  for (int32_t w = 0; w < V + 2; ++w) {
    if (w == eos() && !has_eos()) continue;
    uni.ids.push_back(uint32_t(w));
    uni.log10_prob.push_back(w == bos() ? -99.0 : log10_of(uni_log_prob_[size_t(w)]));
    uni.log10_backoff.push_back(N > 1 ? log10_of(uni_log_backoff_[size_t(w)]) : 0.0);
  }
  std::vector<uint32_t> words(static_cast<size_t>(N));
  for (int n = 2; n <= N; ++n) {
    io::ArpaNgrams::Order& o = a.orders[size_t(n - 1)];
    const Table& t = *tables_[size_t(n - 2)];
    for (size_t s = 0; s < t.size; ++s) {
      const auto& e = t.entries[s];
      if (e.key == kEmpty) continue;
      // Recover the words by following the contexts down to the unigram.
      uint64_t key = e.key;
      for (int k = n - 1; k >= 1; --k) {
        words[size_t(k)] = key_word(key);
        const uint32_t c = key_context(key);
        if (k == 1) words[0] = c;
        else key = tables_[size_t(k - 2)]->entries[c].key;
        if (key == kEmpty) throw FormatError(file_ + ": a " + std::to_string(n) + "-gram's context is a free slot");
      }
      o.ids.insert(o.ids.end(), words.begin(), words.begin() + n);
      o.log10_prob.push_back(log10_of(e.log_prob));
      o.log10_backoff.push_back(n < N ? log10_of(e.log_backoff) : 0.0);
    }
  }
  io::write_arpa(a, out);
}

bool NgramModel::recognise_arpa(const std::string& head) { return io::looks_like_arpa(head); }

std::unique_ptr<Model> NgramModel::import_arpa(std::istream& in, const std::string& name, uint64_t size) {
  return read_arpa(in, name, size);
}

std::unique_ptr<NgramModel> NgramModel::read_arpa(const std::string& path, int64_t max_length,
                                                  const TokenizerOptions* tokenizer) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (!in || ec) throw IoError(path + ": cannot open ARPA file");
  return read_arpa(in, path, size, max_length, tokenizer);
}

std::unique_ptr<NgramModel> NgramModel::read_arpa(std::istream& in, const std::string& path, uint64_t size,
                                                  int64_t max_length, const TokenizerOptions* tokenizer) {
  if (max_length < 1) throw ConfigError("read_arpa: max_length must be >= 1");
  const io::ArpaNgrams a = io::read_arpa(in, path, size);
  const int N = int(a.orders.size());
  if (N > kMaxOrder) throw FormatError(path + ": order " + std::to_string(N) + " exceeds the maximum " + std::to_string(kMaxOrder));
  // The vocabulary: <unk> first, then the file's words in order; <s> and </s> are markers.
  const uint32_t W = uint32_t(a.words.size());
  std::vector<std::string> vocab{Vocabulary::kUnkToken};
  std::vector<int64_t> file_to_id(W, -1);
  int64_t file_unk = -1, file_eos = -1, file_bos = -1;
  for (uint32_t i = 0; i < W; ++i) {
    const std::string& w = a.words[i];
    if (w == Vocabulary::kUnkToken) file_unk = i;
    else if (w == Vocabulary::kEosToken) file_eos = i;
    else if (w == Vocabulary::kBosToken) file_bos = i;
    else {
      file_to_id[i] = int64_t(vocab.size());
      vocab.push_back(w);
    }
  }
  if (file_eos < 0) throw FormatError(path + ": the 1-grams have no </s>");
  Vocabulary voc;
  try {
    voc = Vocabulary(vocab);
  } catch (const FormatError& e) {
    throw FormatError(path + ": " + e.what());
  }
  const int32_t V = int32_t(voc.size());
  if (V < 2) throw FormatError(path + ": the ARPA vocabulary has no words");
  auto model = std::make_unique<NgramModel>(Space::sequence(max_length, V), N, std::vector<double>{0.5, 1.0, 1.5});
  NgramModel& m = *model;
  if (file_unk >= 0) file_to_id[size_t(file_unk)] = 0;
  file_to_id[size_t(file_eos)] = m.eos();
  if (file_bos >= 0) file_to_id[size_t(file_bos)] = m.bos();
  m.uni_log_prob_.assign(size_t(V) + 2, kNegInf);
  m.uni_log_backoff_.assign(size_t(V) + 2, 0.0);
  m.uni_log_prob_[0] = -100.0 * kLn10;  // no <unk> in the file: log10 p = -100, as KenLM assumes
  const io::ArpaNgrams::Order& uni = a.orders[0];
  for (size_t i = 0; i < uni.log10_prob.size(); ++i) {
    const int64_t id = file_to_id[uni.ids[i]];
    if (id != m.bos()) m.uni_log_prob_[size_t(id)] = uni.log10_prob[i] * kLn10;
    m.uni_log_backoff_[size_t(id)] = uni.log10_backoff[i] * kLn10;
  }
  std::vector<uint32_t> w(static_cast<size_t>(N));
  for (int n = 2; n <= N; ++n) {
    const io::ArpaNgrams::Order& o = a.orders[size_t(n - 1)];
    const uint64_t count = o.log10_prob.size();
    auto table = std::make_shared<Table>(count);
    for (uint64_t i = 0; i < count; ++i) {
      for (int k = 0; k < n; ++k) w[size_t(k)] = uint32_t(file_to_id[o.ids[i * uint64_t(n) + uint64_t(k)]]);
      auto shown = [&] {
        std::string g;
        for (int k = 0; k < n; ++k) g += (k ? " " : "") + a.words[o.ids[i * uint64_t(n) + uint64_t(k)]];
        return path + ": " + std::to_string(n) + "-gram '" + g + "'";
      };
      // The context (first n-1 words) and the suffix (last n-1 words) must be listed.
      auto chain = [&](int from, int to) -> uint32_t {  // slot of words [from, to), to - from >= 1
        uint32_t c = w[size_t(from)];
        for (int k = from + 1; k < to; ++k) {
          c = m.tables_[size_t(k - from - 1)]->find(make_key(c, w[size_t(k)]));
          if (c == kNone) return kNone;
        }
        return c;
      };
      const uint32_t ctx = chain(0, n - 1);
      if (ctx == kNone) throw FormatError(shown() + ": its context is not listed");
      if (chain(1, n) == kNone)
        throw FormatError(shown() + ": its suffix is not listed (ARPA files whose n-grams lack their suffixes are not supported)");
      if (table->insert(make_key(ctx, w[size_t(n - 1)]), o.log10_prob[i] * kLn10,
                        n < N ? o.log10_backoff[i] * kLn10 : 0.0) == kNone)
        throw FormatError(shown() + ": listed twice");
    }
    m.tables_.push_back(std::move(table));
  }
  TokenizerOptions opts;
  if (tokenizer) opts = *tokenizer;
  else {
    opts.kind = "word";
    opts.split = "whitespace";
    opts.lowercase = false;
  }
  m.set_codec(std::make_shared<TextCodec>(Tokenizer(opts), std::move(voc)));
  m.discounts_.assign(size_t(N), {0, 0, 0});
  m.fallback_used_.assign(size_t(N), false);
  m.source_ = "arpa";
  m.fitted_ = true;
  return model;
}

}  // namespace dgm
