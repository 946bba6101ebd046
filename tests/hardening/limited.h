// limited.h — for the hardening tests: run a piece of library code in a
// forked child under a small address-space limit (RLIMIT_AS: the child's
// current size + 256 MiB; no limit under AddressSanitizer, which needs a huge
// address space) and report how it ended: the dgm::Error subclass and message,
// bad_alloc, a signal (a hang: SIGALRM after 30 s), or nothing. Plus a fixture with a scratch folder.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "dgm/error.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DGM_ASAN 1
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#define DGM_ASAN 1
#endif

namespace dgm::test {

namespace fs = std::filesystem;

struct Outcome {
  std::string type;     // "ConfigError", ..., "bad_alloc", "other", "none", or "signal N"
  std::string message;
  double seconds = 0;
};

// Runs fn in a child process with a small RLIMIT_AS; reports how it ended.
inline Outcome run_limited(const std::function<void()>& fn) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    ::alarm(30);  // a hang ends as "signal 14"
#ifndef DGM_ASAN
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    const rlim_t limit = rlim_t(pages * uint64_t(::sysconf(_SC_PAGESIZE)) + (uint64_t(256) << 20));
    struct rlimit rl = {limit, limit};
    ::setrlimit(RLIMIT_AS, &rl);
#endif
    std::string r;
    try {
      fn();
      r = "none\t";
    } catch (const ConfigError& e) {
      r = std::string("ConfigError\t") + e.what();
    } catch (const DataError& e) {
      r = std::string("DataError\t") + e.what();
    } catch (const FormatError& e) {
      r = std::string("FormatError\t") + e.what();
    } catch (const IoError& e) {
      r = std::string("IoError\t") + e.what();
    } catch (const std::bad_alloc&) {
      r = "bad_alloc\t";
    } catch (const std::exception& e) {
      r = std::string("other\t") + e.what();
    }
    if (::write(p[1], r.data(), r.size()) < 0) _exit(3);
    _exit(0);
  }
  ::close(p[1]);
  std::string got;
  char buf[4096];
  ssize_t k;
  while ((k = ::read(p[0], buf, sizeof buf)) > 0) got.append(buf, size_t(k));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFSIGNALED(status)) {
    o.type = "signal " + std::to_string(WTERMSIG(status));
    return o;
  }
  const size_t tab = got.find('\t');
  o.type = got.substr(0, tab);
  o.message = tab == std::string::npos ? "" : got.substr(tab + 1);
  return o;
}

inline void expect_refused(const std::function<void()>& fn, const std::string& type, const std::string& needle) {
  const Outcome o = run_limited(fn);
  EXPECT_EQ(o.type, type) << o.message;
  EXPECT_NE(o.message.find(needle), std::string::npos) << o.message;
  EXPECT_EQ(o.message.find('\n'), std::string::npos) << "one line: " << o.message;
  EXPECT_LT(o.seconds, 2.0) << "a refusal must not do the work";
}

class LimitedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(DGM_TEST_TMP) / "hardening" / (std::string(info->test_suite_name()) + "." + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  std::string file(const std::string& name, const std::string& bytes) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path dir_;
};

}  // namespace dgm::test
