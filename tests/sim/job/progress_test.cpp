#include "sim/job/progress.hpp"

#include <gtest/gtest.h>

#include <string>

namespace moesim::job {
namespace {

// A command that is over within its first 2 s prints nothing: quick runs and the test suite
// stay quiet, whatever the number of units.
TEST(Progress, AQuickCommandPrintsNothing) {
  ::testing::internal::CaptureStderr();
  {
    Progress progress("run", "iterations", 3, false);
    for (int i = 0; i < 3; ++i) progress.tick();
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(Progress, QuietOrEmptyPrintsNothing) {
  ::testing::internal::CaptureStderr();
  {
    Progress quiet("sweep", "cases", 2, true);
    quiet.tick();
    quiet.tick();
    Progress empty("sweep", "cases", 0, false);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace moesim::job
