// HardwareExecutor: runs a TaskGraph on the GPUs of this process (one host thread per GPU) and,
// when built with MPI and launched by mpirun, on the GPUs of several processes: rank r lives in
// process r / gpus_per_process on local device r % gpus_per_process.
//
// Per run: lower_graph() gives each rank its launch list; every (rank, stream) of the graph gets
// a CUDA stream, every task a start and an end event; one NCCL communicator per distinct rank set
// (ncclCommInitRank inside one ncclGroupStart/End, the unique id broadcast over MPI when a group
// spans processes). Inputs are random, never zero, sized for the largest task; outputs and
// communication buffers are per stream.
//
// Per iteration each rank thread: barrier with all ranks; a spin kernel (launch headroom) and
// the origin event on its own stream, which every task stream waits on; then its launches in
// plan order: wait on producer end events (for a producer on another rank, first wait on the
// host until that rank's thread has enqueued the record), record start, launch, record end.
// Then it synchronizes and reads every event relative to its origin. The record keeps the median
// over timed iterations of each start and each end; the median is monotone, so stream order and
// dependencies still hold in the record.
//
// Limits: an explicit dependency between ranks in different processes is rejected (express it
// as a send_recv); rank origins are aligned by a host barrier, so cross-rank times carry that
// barrier's skew (microseconds).
#pragma once

#include <memory>
#include <string>

#include "kernels/runtime/hardware_runner.hpp"

namespace moesim::runtime {

class HardwareExecutor final : public HardwareRunner {
 public:
  /// `processes` > 1 only under MPI (then MPI is initialized and finalized by this object).
  HardwareExecutor(int gpus_per_process, int process, int processes, bool owns_mpi);
  ~HardwareExecutor() override;
  HardwareExecutor(const HardwareExecutor&) = delete;
  HardwareExecutor& operator=(const HardwareExecutor&) = delete;

  std::string describe() const override;
  std::uint32_t max_ranks() const override;
  bool writes_output() const override { return process_ == 0; }
  ExecutionRecord run(const TaskGraph& graph, const HardwareRunOptions& options) override;

 private:
  int gpus_per_process_;
  int process_;
  int processes_;
  bool owns_mpi_;
  std::string description_;
};

}  // namespace moesim::runtime
