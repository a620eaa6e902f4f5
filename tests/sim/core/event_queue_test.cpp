#include "sim/core/event_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace moesim {

TEST(EventQueue, PopsInTimeOrder) {
  EventQueue q;
  q.push(SimTime::from_ps(30), nullptr, 3);
  q.push(SimTime::from_ps(10), nullptr, 1);
  q.push(SimTime::from_ps(20), nullptr, 2);
  std::vector<std::uint64_t> order;
  while (auto e = q.pop()) order.push_back(e->tag);
  EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(EventQueue, TiesFireInInsertionOrder) {
  // Five events at the same picosecond come out in the order they were pushed.
  EventQueue q;
  for (std::uint64_t i = 0; i < 5; ++i) q.push(SimTime::from_ps(7), nullptr, i);
  std::vector<std::uint64_t> order;
  while (auto e = q.pop()) order.push_back(e->tag);
  EXPECT_EQ(order, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
}

TEST(EventQueue, CancelledEventsAreSkipped) {
  EventQueue q;
  q.push(SimTime::from_ps(1), nullptr, 1);
  const EventId second = q.push(SimTime::from_ps(2), nullptr, 2);
  q.push(SimTime::from_ps(3), nullptr, 3);
  EXPECT_TRUE(q.cancel(second));
  EXPECT_FALSE(q.cancel(second)) << "double cancellation must be refused";
  std::vector<std::uint64_t> order;
  while (auto e = q.pop()) order.push_back(e->tag);
  EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 3}));
}

TEST(EventQueue, CancellingAFiredEventFails) {
  EventQueue q;
  const EventId id = q.push(SimTime::from_ps(1), nullptr, 1);
  ASSERT_TRUE(q.pop().has_value());
  EXPECT_FALSE(q.cancel(id));
  EXPECT_FALSE(q.cancel(EventId{99}));
}

TEST(EventQueue, NextTimeIgnoresCancelledTop) {
  EventQueue q;
  const EventId first = q.push(SimTime::from_ps(1), nullptr, 1);
  q.push(SimTime::from_ps(5), nullptr, 2);
  q.cancel(first);
  ASSERT_TRUE(q.next_time().has_value());
  EXPECT_EQ(q.next_time()->ps(), 5);
}

}  // namespace moesim
