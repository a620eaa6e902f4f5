#include "sim/job/progress.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace moesim::job {
namespace {

using Clock = Progress::Clock;

/// A clock the test moves by hand.
struct FakeClock {
  Clock::time_point now{};
  void advance_s(double s) {
    now += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }
};

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
    quiet.within("tasks simulated", 1, 2);
    quiet.note(5, "tasks built");
    quiet.growing(5, "tasks built so far");
    quiet.tick();
    Progress empty("sweep", "cases", 0, false);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

// Off a terminal (the tests' stderr is captured into a file): a line per 10% of the units, with
// the ETA from the mean time per unit.
TEST(Progress, UnitsPrintALineEveryTenthAfterTwoSeconds) {
  FakeClock clock;
  ::testing::internal::CaptureStderr();
  {
    Progress progress("sweep", "cases", 4, false, [&] { return clock.now; });
    clock.advance_s(1.0);
    progress.tick();  // 1 s in: quiet
    clock.advance_s(2.0);
    progress.tick();  // 2 of 4 after 3 s
    clock.advance_s(3.0);
    progress.tick();
    progress.tick();
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "sweep: 2/4 cases (50%), 3s elapsed, ETA 3s\n"
            "sweep: 3/4 cases (75%), 6s elapsed, ETA 2s\n"
            "sweep: 4/4 cases (100%) in 6s\n");
}

// One huge iteration: the build is noted when it ends, then the executor's tasks every 10%; the
// ETA reads the tasks' own pace from their first report, so a set-up before the first tasks end
// (here 5 s) does not count as their pace.
TEST(Progress, InsideOneUnitTheTasksShowTheirOwnPace) {
  FakeClock clock;
  ::testing::internal::CaptureStderr();
  {
    Progress progress("run", "iterations", 2, false, [&] { return clock.now; });
    clock.advance_s(6.0);
    progress.note(22'600'000, "tasks built");
    clock.advance_s(5.0);
    progress.within("tasks simulated", 200'000, 2'000'000);  // first report: no pace yet
    clock.advance_s(1.0);
    progress.within("tasks simulated", 300'000, 2'000'000);  // same tenth: not printed
    clock.advance_s(1.0);
    progress.within("tasks simulated", 600'000,
                    2'000'000);  // 0.4 M in 2 s: 7 s left, then a unit of 20 s
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "run: iteration 1/2: 22.6 M tasks built, 6s elapsed\n"
            "run: iteration 1/2: 200.0 k of 2.0 M tasks simulated (5%), 11s elapsed, ETA ?\n"
            "run: iteration 1/2: 600.0 k of 2.0 M tasks simulated (15%), 13s elapsed, ETA 27s\n");
}

// A graph under construction has no known end: its growing count is shown after the first 2 s
// and then every 10 s (off a terminal), without an ETA, until the build's total is noted.
TEST(Progress, AGrowingCountIsShownEveryTenSecondsWithoutAnEta) {
  FakeClock clock;
  ::testing::internal::CaptureStderr();
  {
    Progress progress("run", "iterations", 1, false, [&] { return clock.now; });
    clock.advance_s(1.0);
    progress.growing(1'048'576, "tasks built so far");  // 1 s in: quiet
    clock.advance_s(2.0);
    progress.growing(2'097'152, "tasks built so far");  // 3 s in: the first line
    clock.advance_s(4.0);
    progress.growing(5'242'880, "tasks built so far");  // 4 s after it: not yet
    clock.advance_s(6.0);
    progress.growing(9'437'184, "tasks built so far");  // 10 s after it
    progress.note(9'600'000, "tasks built");
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "run: iteration 1/1: 2.1 M tasks built so far, 3s elapsed\n"
            "run: iteration 1/1: 9.4 M tasks built so far, 13s elapsed\n"
            "run: iteration 1/1: 9.6 M tasks built, 13s elapsed\n");
}

// Between units the inner step starts again: the next unit's first report of its tasks is new
// (printed at once), and the units after the running one are priced at the mean so far.
TEST(Progress, ATickEndsTheUnitsInnerSteps) {
  FakeClock clock;
  ::testing::internal::CaptureStderr();
  {
    Progress progress("compare", "iterations", 3, false, [&] { return clock.now; });
    clock.advance_s(4.0);
    progress.tick();  // 4 s per unit
    progress.within("tasks simulated", 100, 1000);
    clock.advance_s(1.0);
    progress.within("tasks simulated", 600, 1000);  // 500 in 1 s: 0.8 s left, then 4 s
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "compare: 1/3 iterations (33%), 4s elapsed, ETA 8s\n"
            "compare: iteration 2/3: 100 of 1000 tasks simulated (36%), 4s elapsed, ETA ?\n"
            "compare: iteration 2/3: 600 of 1000 tasks simulated (53%), 5s elapsed, ETA 5s\n");
}

}  // namespace
}  // namespace moesim::job
