// HardwareRunner: the seam between the moesim CLI (sim/app, which never includes a CUDA header
// and links no CUDA library) and the CUDA/NCCL hardware executor (hardware_executor.cpp).
//
// make_hardware_runner() returns a runner, or nullptr plus the reason no GPU can be used
// ("no usable CUDA device (<cudaGetDeviceCount's message>)"). It is defined by the CUDA build
// only, inside libmoesim_hardware.so, whose one exported entry point (hardware_plugin_abi.hpp)
// calls it; moesim reaches it through dlopen (sim/app/hardware_library.cpp).
//
// A runner executes one TaskGraph: warm-up iterations, then timed ones, and returns the
// measured ExecutionRecord (source "measured"): per task the median over timed iterations of
// its start and end event, relative to its rank's iteration-start event, in picoseconds. Its
// description names the tasks that ran by a stand-in (DeviceCall::substituted), if any.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sim/exec/execution_record.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::runtime {

struct HardwareRunOptions {
  int warmup = 3;       ///< iterations run and discarded (NCCL and cuBLAS set-up, clocks)
  int iterations = 10;  ///< timed iterations; per-task times are their median
  /// Time the first kernel of each iteration waits on the GPU (a spin kernel before the start
  /// event) so the host can enqueue ahead and launch latency does not show up as gaps.
  double launch_headroom_us = 200.0;
  std::uint64_t seed = 1;  ///< seeds the random (never zero) input buffers
};

class HardwareRunner {
 public:
  virtual ~HardwareRunner() = default;
  /// GPU names, driver, CUDA and NCCL versions, processes x GPUs: the record's description.
  virtual std::string describe() const = 0;
  /// Ranks the runner can host (processes x GPUs per process).
  virtual std::uint32_t max_ranks() const = 0;
  /// False on every MPI process but the first: only one process prints and writes files.
  virtual bool writes_output() const = 0;
  /// Runs `graph` (validated). Throws InputError if it needs more ranks than max_ranks() or a
  /// task cannot be lowered; SimulationError for a dependency cycle or a device failure.
  virtual ExecutionRecord run(const TaskGraph& graph, const HardwareRunOptions& options) = 0;
};

struct HardwareAvailability {
  std::unique_ptr<HardwareRunner> runner;  ///< nullptr when no GPU is usable
  std::string reason;                      ///< why not, when runner is nullptr
};

HardwareAvailability make_hardware_runner();

}  // namespace moesim::runtime
