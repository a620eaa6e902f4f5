#include "sim/workload/collective_traits.hpp"

#include <gtest/gtest.h>

namespace moesim {
namespace {

// nccl-tests' busbw factors (NVIDIA/nccl-tests, doc/PERFORMANCE.md) over 8 ranks: all_reduce
// 2*7/8 = 1.75; all_gather, reduce_scatter, all_to_all(-v) 7/8; broadcast, reduce, send_recv 1.
TEST(CollectiveTraits, BusFactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(traits_of(CommKind::all_reduce).bus_factor(8), 1.75);
  for (CommKind k : {CommKind::all_gather, CommKind::reduce_scatter, CommKind::all_to_all,
                     CommKind::all_to_all_v}) {
    EXPECT_DOUBLE_EQ(traits_of(k).bus_factor(8), 0.875) << to_string(k);
  }
  for (CommKind k : {CommKind::broadcast, CommKind::reduce, CommKind::send_recv}) {
    EXPECT_DOUBLE_EQ(traits_of(k).bus_factor(8), 1.0) << to_string(k);
  }
  EXPECT_DOUBLE_EQ(traits_of(CommKind::all_reduce).bus_factor(0), 0.0);
}

// A ring all-reduce takes 2(n-1) latency steps, a ring all-gather n-1, a broadcast chain 1.
TEST(CollectiveTraits, StepsFollowTheRing) {
  EXPECT_EQ(traits_of(CommKind::all_reduce).steps(4), 6);
  EXPECT_EQ(traits_of(CommKind::all_gather).steps(4), 3);
  EXPECT_EQ(traits_of(CommKind::broadcast).steps(4), 1);
}

// Every row round-trips its name and sits at its kind's index (traits_of is a lookup, no search).
TEST(CollectiveTraits, OneRowPerKindInOrder) {
  std::size_t i = 0;
  for (const CollectiveTraits& t : all_collective_traits()) {
    EXPECT_EQ(static_cast<std::size_t>(t.kind), i++);
    EXPECT_EQ(parse_comm_kind(t.name), t.kind);
    EXPECT_EQ(&traits_of(t.kind), &t);
  }
  EXPECT_FALSE(parse_comm_kind("allreduce").has_value());
}

// nccl-tests binary and log names map to kinds by the longest name they contain.
TEST(CollectiveTraits, NcclTestsNamesPickTheLongestMatch) {
  EXPECT_EQ(comm_kind_from_nccl_tests_name("build/all_reduce_perf"), CommKind::all_reduce);
  EXPECT_EQ(comm_kind_from_nccl_tests_name("reduce_scatter_perf"), CommKind::reduce_scatter);
  EXPECT_EQ(comm_kind_from_nccl_tests_name("reduce_perf"), CommKind::reduce);
  EXPECT_EQ(comm_kind_from_nccl_tests_name("alltoallv_perf"), CommKind::all_to_all_v);
  EXPECT_EQ(comm_kind_from_nccl_tests_name("logs/alltoall_perf.txt"), CommKind::all_to_all);
  EXPECT_EQ(comm_kind_from_nccl_tests_name("sendrecv_perf"), CommKind::send_recv);
  EXPECT_FALSE(comm_kind_from_nccl_tests_name("hypercube_perf").has_value());
}

}  // namespace
}  // namespace moesim
