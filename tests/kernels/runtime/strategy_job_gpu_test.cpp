// A strategy-built single-GPU job on the hardware executor end to end (label gpu): the measured
// record covers every task of the graph. Skips itself when no CUDA device is usable.
#include <gtest/gtest.h>

#include "kernels/runtime/hardware_runner.hpp"
#include "sim/strategies/registry.hpp"
#include "tests/kernels/runtime/single_gpu_job.hpp"

namespace moesim::runtime {
namespace {

TEST(HardwareExecutorGpu, TutelSingleGpuJobRuns) {
  HardwareAvailability hw = make_hardware_runner();
  if (!hw.runner) GTEST_SKIP() << hw.reason;
  const job::PreparedJob job = single_gpu_job();
  const auto built = job::build_graph(job, *strategies::make_strategy("tutel"), *job.first);
  HardwareRunOptions options;
  options.warmup = 1;
  options.iterations = 3;
  const ExecutionRecord measured = hw.runner->run(built.graph, options);
  ASSERT_EQ(measured.tasks.size(), built.graph.task_count());
  EXPECT_GT(measured.makespan(), SimTime::zero());
}

}  // namespace
}  // namespace moesim::runtime
