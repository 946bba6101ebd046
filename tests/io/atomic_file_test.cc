// atomic_file_test.cc — AtomicFile, the one writer of every output file:
// all or nothing, no temporary left by a failure or a kill -9 (on the
// unnamed-temporary path), short temporary names, modes and symlinks kept,
// devices and FIFOs written in place, write errors reported, and the same on
// the named-temporary fallback.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <ostream>
#include <thread>

#include "dgm/io/atomic_file.h"
#include "io/io_test_util.h"

namespace dgm::detail {
void atomic_file_force_named_temporary(bool on);  // src/io/atomic_file.cc
}

namespace dgm {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::tmp_dir;
using test::write_file;

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

// Every case runs on both paths: the unnamed temporary (O_TMPFILE) and the
// named fallback.
class AtomicFileTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { detail::atomic_file_force_named_temporary(GetParam()); }
  void TearDown() override { detail::atomic_file_force_named_temporary(false); }
};

TEST_P(AtomicFileTest, CommitReplacesAndLeavesNothingElse) {
  const std::string dir = tmp_dir(), path = dir + "/out.txt";
  write_file(path, "old");
  AtomicFile f(path);
  f.write("new ");
  f.stream() << 42 << "\n";
  f.printf("%s %d\n", "x", 7);
  EXPECT_EQ(read_file(path), "old");  // nothing visible before commit
  f.commit();
  EXPECT_EQ(read_file(path), "new 42\nx 7\n");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.txt"});
}

TEST_P(AtomicFileTest, CreatesANewFile) {
  const std::string dir = tmp_dir(), path = dir + "/new.bin";
  std::string big(3 << 20, 'a');  // past the stream buffer
  for (size_t i = 0; i < big.size(); i += 4097) big[i] = char(i);
  write_file_atomically(path, big);
  EXPECT_EQ(read_file(path), big);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"new.bin"});
}

TEST_P(AtomicFileTest, WithoutCommitNothingChanges) {
  const std::string dir = tmp_dir();
  write_file(dir + "/a", "old");
  {
    AtomicFile f(dir + "/a");
    f.write("half");
    AtomicFile g(dir + "/b");
    g.write("half");
  }
  EXPECT_EQ(read_file(dir + "/a"), "old");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"a"});
  EXPECT_THROW(write_file_atomically(dir + "/a", [](std::ostream& out) {
                 out << "partial";
                 throw DataError("fails midway");
               }),
               DataError);
  EXPECT_EQ(read_file(dir + "/a"), "old");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"a"});
}

TEST_P(AtomicFileTest, KeepsTheModeOfTheFileItReplaces) {
  const std::string dir = tmp_dir(), path = dir + "/secret.dgm";
  write_file(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  write_file_atomically(path, "new");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // A new file gets 0666 minus the umask.
  const mode_t mask = ::umask(022);
  write_file_atomically(dir + "/fresh", "x");
  ::umask(mask);
  ASSERT_EQ(::stat((dir + "/fresh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST_P(AtomicFileTest, WritesThroughSymlinksToTheirTarget) {
  const std::string dir = tmp_dir();
  fs::create_directories(dir + "/real");
  write_file(dir + "/real/model.dgm", "old");
  fs::create_symlink("real/model.dgm", dir + "/hop");  // relative, from the link's folder
  fs::create_symlink(dir + "/hop", dir + "/link");     // a chain
  write_file_atomically(dir + "/link", "new");
  EXPECT_TRUE(fs::is_symlink(dir + "/link"));
  EXPECT_TRUE(fs::is_symlink(dir + "/hop"));
  EXPECT_EQ(read_file(dir + "/real/model.dgm"), "new");
  EXPECT_EQ(names_in(dir + "/real"), std::vector<std::string>{"model.dgm"});
  // A dangling link creates its target, as the shell's '>' does.
  fs::create_symlink("real/later.dgm", dir + "/dangling");
  write_file_atomically(dir + "/dangling", "made");
  EXPECT_EQ(read_file(dir + "/real/later.dgm"), "made");
  EXPECT_TRUE(fs::is_symlink(dir + "/dangling"));
}

TEST_P(AtomicFileTest, SymlinkLoopIsNamed) {
  const std::string dir = tmp_dir();
  fs::create_symlink("b", dir + "/a");
  fs::create_symlink("a", dir + "/b");
  test::expect_error<IoError>([&] { write_file_atomically(dir + "/a", "x"); }, dir + "/a: ", "symbolic links");
}

TEST_P(AtomicFileTest, LongestNameWorks) {
  const std::string dir = tmp_dir();
  const std::string name(255, 'n');  // NAME_MAX: no room for a suffix
  write_file(dir + "/" + name, "old");
  write_file_atomically(dir + "/" + name, "new");
  EXPECT_EQ(read_file(dir + "/" + name), "new");
  EXPECT_EQ(names_in(dir).size(), 1u);
}

// A name the filesystem cannot hold is refused when the file is opened,
// before a byte is written (the unnamed file would only meet it at commit).
TEST_P(AtomicFileTest, NameTooLongFailsBeforeWriting) {
  const std::string dir = tmp_dir();
  const std::string path = dir + "/" + std::string(256, 'n');
  test::expect_error<IoError>([&] { AtomicFile f(path); }, path + ": cannot create: File name too long");
  EXPECT_TRUE(names_in(dir).empty());
}

TEST_P(AtomicFileTest, BadTargetsAreIoErrors) {
  const std::string dir = tmp_dir();
  test::expect_error<IoError>([&] { write_file_atomically(dir, "x"); }, dir + ": is a directory");
  // Missing folders are created (the rule for every output); one under a regular file cannot be.
  write_file_atomically(dir + "/new/folder/file", "x");
  EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/new/folder/file"));
  test::expect_error<IoError>([&] { write_file_atomically(dir + "/new/folder/file/under", "x"); },
                              dir + "/new/folder/file/under: cannot create the folder");
  test::expect_error<IoError>([&] { write_file_atomically("", "x"); }, "", "empty file name");
}

TEST_P(AtomicFileTest, DevicesAreWrittenInPlace) {
  write_file_atomically("/dev/null", "discarded");
  struct stat st;
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  // A full disk: the error names the target and the reason.
  test::expect_error<IoError>([&] { write_file_atomically("/dev/full", std::string(100, 'x')); },
                              "/dev/full: write error: No space left on device");
  test::expect_error<IoError>(
      [&] {
        AtomicFile f("/dev/full");
        f.stream() << std::string(200000, 'x');  // the stream throws as soon as a write fails
        ADD_FAILURE() << "no exception from the stream";
      },
      "/dev/full: write error");
}

TEST_P(AtomicFileTest, FifoIsWrittenInPlace) {
  const std::string dir = tmp_dir(), fifo = dir + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = read_file(fifo); });
  write_file_atomically(fifo, "through the pipe");
  reader.join();
  EXPECT_EQ(got, "through the pipe");
  struct stat st;
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_P(AtomicFileTest, LiveModeIsVisibleAsItGrows) {
  const std::string dir = tmp_dir(), path = dir + "/train.jsonl";
  write_file(path, "an old log that is longer\n");
  AtomicFile log(path, AtomicFile::Mode::kLive);
  log.write("{\"step\": 1}\n");
  EXPECT_EQ(read_file(path), "{\"step\": 1}\n");
  log.write("{\"step\": 2}\n");
  log.commit();
  EXPECT_EQ(read_file(path), "{\"step\": 1}\n{\"step\": 2}\n");
}

// A writer killed with SIGKILL in the middle of a write leaves the previous
// file intact and, on the unnamed-temporary path, no other file at all.
TEST_P(AtomicFileTest, KillNineLeavesThePreviousFileAndNoTemporary) {
  const std::string dir = tmp_dir(), path = dir + "/samples.txt";
  write_file(path, "previous");
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    AtomicFile f(path);
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 8; ++i) f.write(chunk);
    f.stream().flush();
    if (::write(p[1], "w", 1) != 1) _exit(2);
    for (;;) ::pause();
  }
  ::close(p[1]);
  char c;
  ASSERT_EQ(::read(p[0], &c, 1), 1);
  ::close(p[0]);
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(read_file(path), "previous");
  const auto names = names_in(dir);
  if (!GetParam()) {
    EXPECT_EQ(names, std::vector<std::string>{"samples.txt"});
  } else {  // the fallback's documented window: the whole write
    ASSERT_EQ(names.size(), 2u);
    EXPECT_EQ(names[0].rfind(".dgm-", 0), 0u) << names[0];
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, AtomicFileTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Named" : "Unnamed"; });

TEST(AtomicFile, ConcurrentWritersLeaveOneWholeFile) {
  const std::string dir = tmp_dir(), path = dir + "/out";
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) write_file_atomically(path, std::string(size_t(10000 + t), char('a' + t)));
    });
  for (auto& th : threads) th.join();
  const std::string got = read_file(path);
  ASSERT_GE(got.size(), 10000u);
  EXPECT_EQ(got, std::string(got.size(), got[0]));
  EXPECT_EQ(got.size(), size_t(10000 + (got[0] - 'a')));
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out"});
}

}  // namespace
}  // namespace dgm
