// sharded_read_test.cc — load_data for P ranks (as threads): every format's
// shards (npy, IDX, CIFAR and the line formats read by offset), put back
// together in rank order, are the splits one process reads
// (validation by shuffled fraction, by count, by file; limit; test), each
// shard is the block range comm.h assigns, and a bad record on any rank is
// one error on every rank, naming the same file and line as one process does.
#include <gtest/gtest.h>

#include "dgm/comm.h"
#include "dgm/io/read.h"
#include "io/io_test_util.h"
#include "thread_comm.h"

namespace dgm {
namespace {

using test::random_dataset;
using test::tmp_dir;
using test::write_file;

void expect_same_rows(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a.row(i), b.row(i)) << "sample " << i;
    ASSERT_EQ(a.label(i), b.label(i)) << "sample " << i;
  }
}

// Loads `data` on P ranks and checks the shards against one process.
void expect_shards_match(const json& data, const Space& space, int P) {
  const DataSplits one = load_data(data, space, 7);
  std::vector<DataSplits> parts(static_cast<size_t>(P));
  test::run_ranks(P, [&](Communicator& comm) { parts[size_t(comm.rank())] = load_data(data, space, 7, nullptr, comm); });
  for (int which = 0; which < 3; ++which) {
    const Dataset& whole = which == 0 ? one.train : which == 1 ? one.validation : one.test;
    Dataset joined(space);
    for (int r = 0; r < P; ++r) {
      const Dataset& d = which == 0 ? parts[size_t(r)].train : which == 1 ? parts[size_t(r)].validation : parts[size_t(r)].test;
      EXPECT_EQ(d.size(), shard_range(whole.size(), r, P).size()) << "split " << which << " rank " << r;
      if (!d.empty()) joined.append(d);
    }
    SCOPED_TRACE("split " + std::to_string(which) + ", P = " + std::to_string(P) + ", " + data.dump());
    expect_same_rows(joined, whole);
  }
}

TEST(ShardedRead, EveryFormatAndSplit) {
  const std::string dir = tmp_dir();
  const Space labeled = Space::tensor({2, 3}, 4, 3);
  const Space bytes = Space::tensor({2, 3}, 256, 3);
  const Dataset d = random_dataset(labeled, 700, 3);
  const Dataset b = random_dataset(bytes, 650, 4);
  write_dataset(d, dir + "/d.txt", "lines");
  write_dataset(d, dir + "/d.csv", "csv");
  write_dataset(d, dir + "/d.jsonl", "jsonl");
  write_dataset(d, dir + "/d.grid", "grid");
  write_dataset(b, dir + "/b-images-idx3-ubyte", "idx");
  write_dataset(b, dir + "/b-images-idx3-ubyte.gz", "idx");
  write_dataset(b, dir + "/b.bin", "cifar");
  write_dataset(b, dir + "/b.npy", "npy");
  write_dataset(d.slice(0, 90), dir + "/t.txt", "lines");
  for (int P : {2, 3, 4}) {
    for (const char* f : {"d.txt", "d.csv", "d.jsonl", "d.grid"}) {
      const std::string path = dir + "/" + f;
      expect_shards_match(json{{"train", path}, {"validation_fraction", 0.2}, {"test", dir + "/t.txt"}}, labeled, P);
      expect_shards_match(json{{"train", path}, {"validation_count", 100}, {"limit", 333}}, labeled, P);
      expect_shards_match(json{{"train", path}, {"validation", dir + "/t.txt"}}, labeled, P);
    }
    for (const char* f : {"b-images-idx3-ubyte", "b-images-idx3-ubyte.gz"}) {
      const std::string path = dir + "/" + f;
      const std::string labels = idx_labels_path(path);
      expect_shards_match(json{{"train", path}, {"labels", labels}, {"validation_fraction", 0.1}}, bytes, P);
      expect_shards_match(json{{"train", path}, {"labels", labels}, {"validation_count", 150}}, bytes, P);
    }
    expect_shards_match(json{{"train", dir + "/b.bin"}, {"validation_fraction", 0.3}}, bytes, P);
    expect_shards_match(json{{"train", dir + "/b.npy"}, {"labels", npy_labels_path(dir + "/b.npy")},
                             {"validation_count", 120}},
                        bytes, P);
    expect_shards_match(json{{"train", dir + "/b.npy"}, {"threshold", 128}}, Space::tensor({2, 3}, 2), P);
  }
}

TEST(ShardedRead, LinesInTinyByteRangesAndTrailingBlanks) {
  const std::string dir = tmp_dir();
  const Space seq = Space::sequence(12, 20);
  // Variable-length: empty lines are empty sequences; long lines span several
  // ranks' byte ranges.
  const Dataset s = random_dataset(seq, 40, 8);
  write_dataset(s, dir + "/s.txt", "lines");
  for (int P : {2, 5, 9}) expect_shards_match(json{{"train", dir + "/s.txt"}}, seq, P);
  // Fixed shapes: trailing blank lines end the file, on whichever rank they fall.
  const Space grid = Space::tensor({4}, 2);
  write_file(dir + "/f.txt", "0101\n1111\n0000\n0011\n\n\n  \n\n\n\n\n\n");
  for (int P : {2, 3, 7}) expect_shards_match(json{{"train", dir + "/f.txt"}}, grid, P);
}

TEST(ShardedRead, ABadLineIsOneErrorOnEveryRank) {
  const std::string dir = tmp_dir();
  const Space grid = Space::tensor({4}, 2);
  std::string text;
  for (int i = 0; i < 200; ++i) text += i == 170 ? "0120\n" : i == 185 ? "\n" : "0101\n";
  write_file(dir + "/bad.txt", text);
  std::string one;
  try {
    load_data(json{{"train", dir + "/bad.txt"}}, grid, 1);
  } catch (const Error& e) {
    one = e.what();
  }
  ASSERT_NE(one.find("bad.txt:171"), std::string::npos) << one;
  for (int P : {2, 3}) {
    test::run_ranks(P, [&](Communicator& comm) {
      try {
        load_data(json{{"train", dir + "/bad.txt"}}, grid, 1, nullptr, comm);
        ADD_FAILURE() << "no error on rank " << comm.rank();
      } catch (const CollectiveError& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.substr(msg.find(dir)), one) << msg;  // "rank R: " + the one-process message
      }
    });
  }
  // A blank line followed by samples on a later rank is an error too.
  text.clear();
  for (int i = 0; i < 200; ++i) text += i == 20 ? "\n" : "0101\n";
  write_file(dir + "/blank.txt", text);
  test::run_ranks(3, [&](Communicator& comm) {
    EXPECT_THROW(load_data(json{{"train", dir + "/blank.txt"}}, grid, 1, nullptr, comm), CollectiveError);
  });
  // A missing or truncated shard: every rank stops.
  const Space bytes = Space::tensor({2, 3}, 256);
  write_dataset(random_dataset(bytes, 300, 1), dir + "/x.idx", "idx");
  std::string raw = test::read_file(dir + "/x.idx");
  write_file(dir + "/cut.idx", raw.substr(0, raw.size() - 700));
  test::run_ranks(3, [&](Communicator& comm) {
    try {
      load_data(json{{"train", dir + "/cut.idx"}}, bytes, 1, nullptr, comm);
      ADD_FAILURE() << "no error";
    } catch (const CollectiveError& e) {
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
    EXPECT_THROW(load_data(json{{"train", dir + "/absent.idx"}}, bytes, 1, nullptr, comm), CollectiveError);
  });
}

}  // namespace
}  // namespace dgm
