// The hardware executor end to end on one GPU (label gpu): a MoE layer on one rank, with a
// compute stream and a copy stream. Skips itself when no CUDA device is usable.
#include <gtest/gtest.h>

#include <variant>

#include "kernels/runtime/hardware_runner.hpp"

namespace moesim::runtime {
namespace {

ComputeTask kernel(KernelKind kind, std::int64_t m, std::int64_t n, std::int64_t k,
                   std::int64_t bytes = 0) {
  ComputeTask t;
  t.kind = kind;
  t.shape = KernelShape{m, n, k, 1};
  t.bytes = Bytes{bytes};
  t.flops = Flops{kind == KernelKind::gemm ? 2.0 * static_cast<double>(m * n * k) : 0.0};
  return t;
}

// gate (256 tokens, 8 experts, top-2) -> permute (512 assignments, hidden 1024) -> 8 experts x
// (fc1 64x2048x1024, fc2 64x1024x2048) -> unpermute, on "compute"; two 1 MiB copies on "copy"
// after the permute, and the unpermute waits for the last copy.
TaskGraph moe_layer() {
  TaskGraph g;
  const StreamId c = g.stream("compute");
  const StreamId copy = g.stream("copy");
  const RankId r{0};
  g.add_compute("router", r, c, kernel(KernelKind::gemm, 256, 8, 1024));
  g.add_compute("gate", r, c, kernel(KernelKind::gate, 256, 8, 2));
  const TaskId perm = g.add_compute("permute", r, c, kernel(KernelKind::permute, 512, 1024, 0));
  const TaskId c1 = g.add_compute("copy1", r, copy, kernel(KernelKind::memcpy, 0, 0, 0, 2 << 20));
  const TaskId c2 = g.add_compute("copy2", r, copy, kernel(KernelKind::memcpy, 0, 0, 0, 2 << 20));
  g.depend(perm, c1);
  for (int e = 0; e < 8; ++e) {
    g.add_compute("fc1", r, c, kernel(KernelKind::gemm, 64, 2048, 1024));
    g.add_compute("act", r, c, kernel(KernelKind::elementwise, 64, 2048, 0, 64 * 2048 * 4));
    g.add_compute("fc2", r, c, kernel(KernelKind::gemm, 64, 1024, 2048));
  }
  const TaskId un = g.add_compute("unpermute", r, c, kernel(KernelKind::unpermute, 512, 1024, 0));
  g.depend(c2, un);
  g.add_delay("host", r, copy, SimTime::from_us(20));
  g.validate();
  return g;
}

TEST(HardwareExecutorGpu, MoeLayerOnOneGpuGivesACompleteOrderedRecord) {
  HardwareAvailability hw = make_hardware_runner();
  if (!hw.runner) GTEST_SKIP() << hw.reason;
  const TaskGraph g = moe_layer();
  HardwareRunOptions options;
  options.warmup = 2;
  options.iterations = 5;
  const ExecutionRecord rec = hw.runner->run(g, options);
  EXPECT_EQ(rec.source, "measured");
  EXPECT_NE(rec.description.find("NCCL"), std::string::npos) << rec.description;
  ASSERT_EQ(rec.tasks.size(), g.task_count());
  std::vector<SimTime> stream_end(g.stream_names().size(), SimTime::zero());
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    const TaskRecord& r = rec.tasks[i];
    EXPECT_EQ(r.rank, t.rank);
    EXPECT_EQ(r.stream, t.stream);
    EXPECT_GE(r.start, SimTime::zero()) << g.name_of(TaskId{static_cast<std::uint32_t>(i)});
    EXPECT_GE(r.end, r.start);
    // Stream order: a task starts after its stream predecessor ended.
    EXPECT_GE(r.start, stream_end[t.stream.index()]) << i;
    stream_end[t.stream.index()] = r.end;
    if (std::holds_alternative<ComputeTask>(t.body) &&
        std::get<ComputeTask>(t.body).kind == KernelKind::gemm) {
      EXPECT_GT(r.end, r.start) << "a GEMM takes time";
    }
  }
  for (const auto& [a, b] : g.edges()) {
    EXPECT_GE(rec.tasks[b.index()].start, rec.tasks[a.index()].end);
  }
  // The 20 us delay lasts at least 20 us.
  EXPECT_GE(rec.tasks.back().end - rec.tasks.back().start, SimTime::from_us(20));
}

TEST(HardwareExecutorGpu, AllReduceOnASingleRankCommunicatorRuns) {
  HardwareAvailability hw = make_hardware_runner();
  if (!hw.runner) GTEST_SKIP() << hw.reason;
  TaskGraph g;
  const StreamId c = g.stream("compute");
  const TaskId a = g.add_compute("mm", RankId{0}, c, kernel(KernelKind::gemm, 512, 512, 512));
  CommOp op;
  op.kind = CommKind::all_reduce;
  op.ranks = {RankId{0}};
  op.bytes = Bytes{1 << 20};
  const auto m = g.add_collective("ar", op, g.stream("comm"));
  g.depend(a, m[0]);
  const ExecutionRecord rec = hw.runner->run(g, HardwareRunOptions{});
  EXPECT_GE(rec.tasks[m[0].index()].start, rec.tasks[a.index()].end);
}

}  // namespace
}  // namespace moesim::runtime
