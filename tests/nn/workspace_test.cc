// workspace_test.cc — the per-thread arena: alignment, frames giving memory
// back, one merged block after a call that outgrew it, misuse caught.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>

#include "nn/workspace.h"

namespace dgm::nn {
namespace {

TEST(Workspace, AlignedFramesReuseAndMerge) {
  Workspace ws;
  float* first = nullptr;
  {
    Workspace::Frame f(ws);
    first = ws.take<float>(3);
    double* d = ws.take_zero<double>(5);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 64, 0u);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(d[i], 0.0);
    {
      Workspace::Frame inner(ws);
      float* big = ws.take<float>(size_t(3) << 20);  // past the first block: a second one
      big[0] = 1.0f;
      EXPECT_GT(ws.capacity(), size_t(12) << 20);
    }
    // The inner frame gave its memory back: the next take follows d again.
    float* again = ws.take<float>(1);
    EXPECT_EQ(reinterpret_cast<char*>(again), reinterpret_cast<char*>(d) + 64);
  }
  // The outermost frame closed with two blocks: now one of their combined size.
  const size_t cap = ws.capacity();
  {
    Workspace::Frame f(ws);
    float* a = ws.take<float>(3);
    float* big = ws.take<float>(size_t(3) << 20);
    EXPECT_EQ(reinterpret_cast<char*>(big), reinterpret_cast<char*>(a) + 64);  // same block
  }
  EXPECT_EQ(ws.capacity(), cap);
}

TEST(Workspace, TakeOutsideAFrameIsALogicError) {
  Workspace ws;
  EXPECT_THROW(ws.take<float>(1), std::logic_error);
}

}  // namespace
}  // namespace dgm::nn
