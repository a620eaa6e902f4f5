// The hardware executor end to end on one GPU (label gpu): a MoE layer on one rank, with a
// compute stream and a copy stream. Skips itself when no CUDA device is usable.
#include <gtest/gtest.h>

#include <vector>

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
  if (kind == KernelKind::gemm) t.op.gemm_role = GemmRole::forward;
  return t;
}

ComputeTask described(ComputeTask t, OpDirection d, std::int32_t top_k = 0,
                      std::vector<std::int64_t> counts = {}) {
  t.op.direction = d;
  t.op.top_k = top_k;
  t.op.experts = counts.empty() ? 0 : static_cast<std::int32_t>(counts.size());
  t.op.tokens_per_expert = std::move(counts);
  return t;
}

// gate (256 tokens, 8 experts, top-2) -> permute (512 assignments, hidden 1024, 64 per expert)
// -> 8 experts x (fc1 64x2048x1024, GELU, fc2 64x1024x2048) -> unpermute, on "compute"; two
// 1 MiB copies on "copy" after the permute, and the unpermute waits for the last copy; then the
// backward kernels of the permute, the gate and a layernorm, and an Adam step. Every task
// carries its ComputeOp, so nothing is substituted.
TaskGraph moe_layer() {
  TaskGraph g;
  const StreamId c = g.stream("compute");
  const StreamId copy = g.stream("copy");
  const RankId r{0};
  const std::vector<std::int64_t> counts(8, 64);
  g.add_compute("router", r, c, kernel(KernelKind::gemm, 256, 8, 1024));
  ComputeTask gate = described(kernel(KernelKind::gate, 256, 8, 2), OpDirection::forward, 2);
  gate.op.experts = 8;
  g.add_compute("gate", r, c, gate);
  const TaskId perm = g.add_compute(
      "permute", r, c,
      described(kernel(KernelKind::permute, 512, 1024, 0), OpDirection::forward, 2, counts));
  const TaskId c1 = g.add_compute("copy1", r, copy, kernel(KernelKind::memcpy, 0, 0, 0, 2 << 20));
  const TaskId c2 = g.add_compute("copy2", r, copy, kernel(KernelKind::memcpy, 0, 0, 0, 2 << 20));
  g.depend(perm, c1);
  for (int e = 0; e < 8; ++e) {
    g.add_compute("fc1", r, c, kernel(KernelKind::gemm, 64, 2048, 1024));
    ComputeTask act = described(kernel(KernelKind::elementwise, 64, 2048, 0, 64 * 2048 * 4),
                                OpDirection::forward);
    act.op.activation = ActivationKind::gelu;
    g.add_compute("act", r, c, act);
    g.add_compute("fc2", r, c, kernel(KernelKind::gemm, 64, 1024, 2048));
  }
  const TaskId un = g.add_compute(
      "unpermute", r, c,
      described(kernel(KernelKind::unpermute, 512, 1024, 0), OpDirection::forward, 2, counts));
  g.depend(c2, un);
  g.add_compute(
      "unpermute.bwd", r, c,
      described(kernel(KernelKind::unpermute, 512, 1024, 0), OpDirection::backward, 2, counts));
  g.add_compute(
      "permute.bwd", r, c,
      described(kernel(KernelKind::permute, 512, 1024, 0), OpDirection::backward, 2, counts));
  ComputeTask gate_bwd = described(kernel(KernelKind::gate, 256, 8, 2), OpDirection::backward, 2);
  gate_bwd.op.experts = 8;
  g.add_compute("gate.bwd", r, c, gate_bwd);
  g.add_compute("ln.bwd", r, c,
                described(kernel(KernelKind::layernorm, 256, 1024, 0), OpDirection::backward));
  ComputeTask adam = kernel(KernelKind::optimizer, 1 << 20, 1, 0, 28 << 20);
  adam.op.parameters = 1 << 20;
  g.add_compute("optimizer", r, c, adam);
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
  EXPECT_EQ(rec.description.find("SUBSTITUTED"), std::string::npos) << rec.description;
  ASSERT_EQ(rec.tasks.size(), g.task_count());
  std::vector<SimTime> stream_end(g.stream_names().size(), SimTime::zero());
  for (std::size_t i = 0; i < g.task_count(); ++i) {
    const Task& t = g.tasks()[i];
    const TaskRecord& r = rec.tasks[i];
    EXPECT_GE(r.start, SimTime::zero()) << g.name_of(TaskId{static_cast<std::uint32_t>(i)});
    EXPECT_GE(r.end, r.start);
    // Stream order: a task starts after its stream predecessor ended.
    EXPECT_GE(r.start, stream_end[t.stream.index()]) << i;
    stream_end[t.stream.index()] = r.end;
    if (t.kind == TaskKind::compute && g.compute_of(t)->kind == KernelKind::gemm) {
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
