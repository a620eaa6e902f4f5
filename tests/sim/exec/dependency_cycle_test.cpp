#include "sim/exec/dependency_cycle.hpp"

#include <gtest/gtest.h>

namespace moesim {

TEST(DependencyCycle, AcyclicGraphHasNone) {
  TaskGraph g;
  const StreamId s = g.stream("compute");
  const TaskId a = g.add_delay("a", RankId{0}, s, SimTime::from_us(1));
  const TaskId b = g.add_delay("b", RankId{1}, s, SimTime::from_us(1));
  g.depend(a, b);
  EXPECT_FALSE(find_dependency_cycle(g).has_value());
}

TEST(DependencyCycle, FindsCycleThroughStreamOrder) {
  // b is after a on the stream, and a explicitly depends on b.
  TaskGraph g;
  const StreamId s = g.stream("compute");
  const TaskId a = g.add_delay("a", RankId{0}, s, SimTime::from_us(1));
  const TaskId b = g.add_delay("b", RankId{0}, s, SimTime::from_us(1));
  g.depend(b, a);
  const auto cycle = find_dependency_cycle(g);
  ASSERT_TRUE(cycle.has_value());
  EXPECT_EQ(cycle->size(), 2u);
}

}  // namespace moesim
