#include "kernels/runtime/hardware_executor.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <variant>

#include "kernels/device_check.hpp"
#include "kernels/moe/moe_kernels.hpp"
#include "kernels/reference/backward_kernels.hpp"
#include "kernels/reference/reference_kernels.hpp"
#include "kernels/runtime/graph_lowering.hpp"
#include "kernels/runtime/nccl_calls.hpp"
#include "kernels/runtime/runtime_kernels.hpp"
#include "sim/core/errors.hpp"

#ifdef MOESIM_HAS_MPI
#include <mpi.h>
#endif

namespace moesim::runtime {
namespace {

// CUDA / NCCL calls are checked by MOESIM_DEVICE_CHECK (kernels/device_check.hpp): a failure
// throws DeviceError with the expression, file:line and the library's message; run() turns it
// into a SimulationError. DeviceFailure reports a failure seen on another rank's thread.
class DeviceFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// cudaMalloc'd memory of one device, freed on destruction.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(std::int64_t bytes) {
    if (bytes > 0) MOESIM_DEVICE_CHECK(cudaMalloc(&ptr_, static_cast<std::size_t>(bytes)));
  }
  ~DeviceMemory() {
    if (ptr_ != nullptr) (void)cudaFree(ptr_);
  }
  DeviceMemory(DeviceMemory&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)) {}
  DeviceMemory& operator=(DeviceMemory&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  char* get() const { return static_cast<char*>(ptr_); }

 private:
  void* ptr_ = nullptr;
};

template <class T>
DeviceMemory upload(const std::vector<T>& host) {
  DeviceMemory m(static_cast<std::int64_t>(host.size() * sizeof(T)));
  if (!host.empty()) {
    MOESIM_DEVICE_CHECK(
        cudaMemcpy(m.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  return m;
}

/// Per-task constants built once at set-up: the routing of a permute / unpermute task (expert
/// choices that give each expert the task's token count, their rows in the expert-ordered buffer
/// and the combine weights) and the device scratch a kernel needs beside its output.
struct TaskConstants {
  DeviceMemory topk_expert;  // int [assignments]
  DeviceMemory dest_row;     // int [assignments]
  DeviceMemory prob;         // float [assignments]
  DeviceMemory scratch;      // route outputs + workspace, or layernorm backward workspace
  std::size_t workspace_bytes = 0;
};

bool is_routing(DeviceOp op) {
  return op == DeviceOp::permute_forward || op == DeviceOp::permute_backward ||
         op == DeviceOp::unpermute_forward || op == DeviceOp::unpermute_backward;
}

TaskConstants make_constants(const DeviceCall& d) {
  TaskConstants tc;
  if (is_routing(d.op)) {
    // The same placement as the CPU reference, so a GPU test can compare against it.
    const std::vector<int> choice =
        reference::choices_from_counts(d.tokens_per_expert, d.tokens, d.top_k);
    const reference::Routing r = reference::route(choice, d.tokens, d.top_k, d.experts, d.capacity);
    const auto assignments = static_cast<std::size_t>(d.tokens) * static_cast<std::size_t>(d.top_k);
    tc.topk_expert = upload(choice);
    tc.dest_row = upload(r.dest_row);
    const float weight =
        d.op == DeviceOp::permute_backward ? 1.0F : 1.0F / static_cast<float>(d.top_k);
    tc.prob = upload(std::vector<float>(assignments, weight));
    if (d.op == DeviceOp::permute_forward) {
      const int a = d.tokens * d.top_k;
      tc.workspace_bytes = kernels::route_workspace_bytes(a, d.experts);
      const std::int64_t ints = std::int64_t{a} + 2 * d.experts + 1;
      tc.scratch = DeviceMemory(ints * 4 + static_cast<std::int64_t>(tc.workspace_bytes));
    }
  }
  if (d.op == DeviceOp::layernorm_backward) {
    tc.workspace_bytes = kernels::layernorm_backward_workspace_bytes(d.m, static_cast<int>(d.n));
    tc.scratch = DeviceMemory(static_cast<std::int64_t>(tc.workspace_bytes));
  }
  return tc;
}

struct StreamState {
  cudaStream_t stream = nullptr;
  std::unique_ptr<kernels::BlasHandle> blas;
  DeviceMemory output;
  DeviceMemory send;
  DeviceMemory recv;
};

/// Everything one rank (one GPU) owns during a run.
struct RankState {
  int device = 0;
  const RankPlan* plan = nullptr;
  cudaStream_t origin_stream = nullptr;
  cudaEvent_t origin = nullptr;
  std::map<std::uint32_t, StreamState> streams;  // by StreamId
  DeviceMemory inputs;
  std::map<std::uint32_t, TaskConstants> constants;  // by TaskId
  std::map<std::uint32_t, ncclComm_t> comms;         // by group index
  ~RankState() {
    for (auto& [g, comm] : comms) (void)ncclCommDestroy(comm);
    for (auto& [s, st] : streams) {
      st.blas.reset();
      if (st.stream != nullptr) (void)cudaStreamDestroy(st.stream);
    }
    if (origin != nullptr) (void)cudaEventDestroy(origin);
    if (origin_stream != nullptr) (void)cudaStreamDestroy(origin_stream);
  }
};

kernels::ElementType element(const DeviceCall& d) {
  return d.fp16 ? kernels::ElementType::fp16 : kernels::ElementType::bf16;
}

int as_int(std::int64_t v) { return static_cast<int>(v); }

/// `bytes` rounded up to the 256-byte alignment every sub-buffer of a call starts at (the
/// lowering adds kCallAlignmentSlack to each call's buffer sizes for it).
std::int64_t aligned(std::int64_t bytes) { return (bytes + 255) / 256 * 256; }

kernels::Activation activation_of(const DeviceCall& d) {
  return d.activation == DeviceActivation::swiglu ? kernels::Activation::swiglu
                                                  : kernels::Activation::gelu;
}

void launch_compute(const DeviceCall& d, RankState& rank, StreamState& s, std::uint32_t task) {
  const kernels::ElementType type = element(d);
  char* in = rank.inputs.get();
  char* out = s.output.get();
  cudaStream_t st = s.stream;
  switch (d.op) {
    case DeviceOp::gemm: {
      const char* b = in + aligned(d.m * d.k * d.batch * 2);
      if (d.batch == 1) {
        kernels::gemm(*s.blas, type, as_int(d.m), as_int(d.n), as_int(d.k), in, b, out, st,
                      d.transpose_b, d.transpose_a);
      } else {
        kernels::gemm_strided_batched(*s.blas, type, as_int(d.m), as_int(d.n), as_int(d.k),
                                      as_int(d.batch), in, d.m * d.k, b, d.k * d.n, out, d.m * d.n,
                                      st, d.transpose_b, d.transpose_a);
      }
      return;
    }
    case DeviceOp::attention_forward: {
      const std::int64_t head = aligned(d.batch * d.n * d.k * 2);
      kernels::attention_forward(*s.blas, type, as_int(d.batch), as_int(d.n), as_int(d.k), in,
                                 in + head, in + 2 * head, out + head, out,
                                 1.0F / std::sqrt(static_cast<float>(d.k)), d.causal, st);
      return;
    }
    case DeviceOp::attention_backward: {
      const std::int64_t head = aligned(d.batch * d.n * d.k * 2);
      const std::int64_t scores = aligned(d.batch * d.n * d.n * 2);
      char* scratch = out + 3 * head;
      kernels::attention_backward(*s.blas, type, as_int(d.batch), as_int(d.n), as_int(d.k), in,
                                  in + head, in + 2 * head, in + 3 * head, scratch,
                                  scratch + scores, out, out + head, out + 2 * head,
                                  1.0F / std::sqrt(static_cast<float>(d.k)), d.causal, st);
      return;
    }
    case DeviceOp::softmax_rows:
      kernels::softmax_rows(type, in, out, d.m, as_int(d.n), 1.0F, false, as_int(d.n), st);
      return;
    case DeviceOp::layernorm_forward: {
      const std::int64_t rows = aligned(d.m * d.n * 2);
      kernels::layernorm(type, in, in + rows, in + rows + aligned(d.n * 2), out, d.m, as_int(d.n),
                         1e-5F, st);
      return;
    }
    case DeviceOp::layernorm_backward: {
      TaskConstants& tc = rank.constants.at(task);
      const std::int64_t rows = aligned(d.m * d.n * 2);
      auto* dgamma = reinterpret_cast<float*>(out + rows);
      kernels::layernorm_backward(type, in, in + 2 * rows, in + rows, out, dgamma,
                                  dgamma + aligned(d.n * 4) / 4, d.m, as_int(d.n), 1e-5F,
                                  tc.scratch.get(), tc.workspace_bytes, st);
      return;
    }
    case DeviceOp::activation_forward:
      kernels::activation_forward(type, activation_of(d), in, d.m, as_int(d.n), out, st);
      return;
    case DeviceOp::activation_backward: {
      const int width = d.activation == DeviceActivation::swiglu ? 2 : 1;
      kernels::activation_backward(type, activation_of(d), in, in + aligned(d.m * d.n * width * 2),
                                   d.m, as_int(d.n), out, st);
      return;
    }
    case DeviceOp::gate_forward: {
      auto* idx = reinterpret_cast<int*>(out);
      auto* prob = reinterpret_cast<float*>(out + aligned(std::int64_t{d.tokens} * d.top_k * 4));
      kernels::softmax_topk(reinterpret_cast<const float*>(in), d.tokens, d.experts, d.top_k, idx,
                            prob, false, st);
      return;
    }
    case DeviceOp::gate_backward: {
      const auto* d_prob =
          reinterpret_cast<const float*>(in + aligned(std::int64_t{d.tokens} * d.experts * 4));
      kernels::softmax_topk_backward(reinterpret_cast<const float*>(in), d_prob, d.tokens,
                                     d.experts, d.top_k, reinterpret_cast<float*>(out), st);
      return;
    }
    case DeviceOp::permute_forward: {
      TaskConstants& tc = rank.constants.at(task);
      const std::int32_t assignments = d.tokens * d.top_k;
      auto* dest = reinterpret_cast<int*>(tc.scratch.get());
      int* count = dest + assignments;
      int* offset = count + d.experts;
      void* workspace = offset + d.experts + 1;
      kernels::route(reinterpret_cast<const int*>(tc.topk_expert.get()), d.tokens, d.top_k,
                     d.experts, d.capacity, dest, count, offset, workspace, tc.workspace_bytes, st);
      kernels::permute(type, in, d.tokens, d.top_k, d.hidden, dest, out, d.out_rows, st);
      return;
    }
    case DeviceOp::permute_backward:
    case DeviceOp::unpermute_forward: {
      // The permute's backward is a gather-sum with unit weights: the combine kernel.
      TaskConstants& tc = rank.constants.at(task);
      kernels::unpermute_combine(type, in, reinterpret_cast<const int*>(tc.dest_row.get()),
                                 reinterpret_cast<const float*>(tc.prob.get()), d.tokens, d.top_k,
                                 d.hidden, out, st);
      return;
    }
    case DeviceOp::unpermute_backward: {
      TaskConstants& tc = rank.constants.at(task);
      const std::int64_t token_rows = aligned(std::int64_t{d.tokens} * d.hidden * 2);
      const std::int64_t expert_rows = aligned(std::int64_t{d.out_rows} * d.hidden * 2);
      kernels::unpermute_backward(
          type, in, in + token_rows, reinterpret_cast<const int*>(tc.dest_row.get()),
          reinterpret_cast<const float*>(tc.prob.get()), d.tokens, d.top_k, d.hidden, out,
          d.out_rows, reinterpret_cast<float*>(out + expert_rows), st);
      return;
    }
    case DeviceOp::adam: {
      const std::int64_t state = aligned(d.parameters * 4);
      auto* master = reinterpret_cast<float*>(out);
      auto* m = reinterpret_cast<float*>(out + state);
      auto* v = reinterpret_cast<float*>(out + 2 * state);
      kernels::adam_step(type, in, master, m, v, out + 3 * state, d.parameters,
                         kernels::AdamConfig{}, st);
      return;
    }
    case DeviceOp::copy:
      if (d.copy_bytes > 0) {
        MOESIM_DEVICE_CHECK(cudaMemcpyAsync(out, in, static_cast<std::size_t>(d.copy_bytes),
                                            cudaMemcpyDeviceToDevice, st));
      }
      return;
    case DeviceOp::delay:
      spin_delay(d.delay.ps() / 1000, st);
      return;
  }
}

void launch_comm(const CommCall& c, RankState& rank, StreamState& s) {
  if (c.calls.empty()) return;
  issue_nccl_calls(c, rank.comms.at(c.group), s.send.get(), s.recv.get(), s.stream);
}

std::int64_t median(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string version_string(int v) {
  // CUDA encodes 1000 * major + 10 * minor.
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}

/// State shared by the rank threads of one run.
class Run {
 public:
  Run(const TaskGraph& graph, const ExecutionPlan& plan, const HardwareRunOptions& options,
      std::vector<std::uint32_t> local_ranks, int gpus_per_process, int process, int processes)
      : graph_(graph),
        plan_(plan),
        options_(options),
        local_ranks_(std::move(local_ranks)),
        gpus_per_process_(gpus_per_process),
        process_(process),
        processes_(processes),
        barrier_(static_cast<std::ptrdiff_t>(local_ranks_.size())),
        enqueued_(graph.task_count()),
        start_ps_(graph.task_count()),
        end_ps_(graph.task_count()),
        states_(local_ranks_.size()) {
    for (auto& e : enqueued_) e.store(-1);
  }

  void set_up_communicators() {
    // One communicator per group with a local member, every process walking the groups in
    // the same order so the MPI broadcasts of unique ids match.
    for (std::uint32_t g = 0; g < plan_.groups.size(); ++g) {
      const std::vector<RankId>& ranks = plan_.groups[g].ranks;
      const int owner = static_cast<int>(ranks.front().value) / gpus_per_process_;
      bool spans = false;
      for (RankId r : ranks) spans |= static_cast<int>(r.value) / gpus_per_process_ != owner;
      ncclUniqueId id{};
      if (spans) {
#ifdef MOESIM_HAS_MPI
        if (process() == owner) MOESIM_DEVICE_CHECK(ncclGetUniqueId(&id));
        MPI_Bcast(&id, sizeof(id), MPI_BYTE, owner, MPI_COMM_WORLD);
#endif
      } else if (process() == owner) {
        MOESIM_DEVICE_CHECK(ncclGetUniqueId(&id));
      }
      std::vector<std::size_t> members;
      for (std::size_t i = 0; i < local_ranks_.size(); ++i) {
        if (std::binary_search(ranks.begin(), ranks.end(), RankId{local_ranks_[i]})) {
          members.push_back(i);
        }
      }
      if (members.empty()) continue;
      MOESIM_DEVICE_CHECK(ncclGroupStart());
      for (std::size_t i : members) {
        RankState& st = states_[i];
        MOESIM_DEVICE_CHECK(cudaSetDevice(st.device));
        const auto pos =
            std::lower_bound(ranks.begin(), ranks.end(), RankId{local_ranks_[i]}) - ranks.begin();
        ncclComm_t comm = nullptr;
        MOESIM_DEVICE_CHECK(
            ncclCommInitRank(&comm, static_cast<int>(ranks.size()), id, static_cast<int>(pos)));
        st.comms[g] = comm;
      }
      MOESIM_DEVICE_CHECK(ncclGroupEnd());
    }
  }

  void set_up_rank(std::size_t i) {
    RankState& st = states_[i];
    const std::uint32_t r = local_ranks_[i];
    st.device = static_cast<int>(r) % gpus_per_process_;
    st.plan = &plan_.ranks[r];
    MOESIM_DEVICE_CHECK(cudaSetDevice(st.device));
    MOESIM_DEVICE_CHECK(cudaStreamCreateWithFlags(&st.origin_stream, cudaStreamNonBlocking));
    MOESIM_DEVICE_CHECK(cudaEventCreate(&st.origin));
    st.inputs = DeviceMemory(st.plan->input_bytes);
    fill_random(st.inputs.get(), st.plan->input_bytes, options_.seed * 1000003ULL + r,
                st.origin_stream);
    for (const StreamBuffers& b : st.plan->streams) {
      StreamState& s = st.streams[b.stream.value];
      MOESIM_DEVICE_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
      s.output = DeviceMemory(b.output_bytes);
      // Outputs that kernels update in place (Adam's master weights and moments) start finite.
      fill_random(s.output.get(), b.output_bytes, options_.seed * 104729ULL + r, st.origin_stream);
      s.send = DeviceMemory(b.send_bytes);
      s.recv = DeviceMemory(b.recv_bytes);
      fill_random(s.send.get(), b.send_bytes, options_.seed * 7919ULL + r, st.origin_stream);
    }
    for (const Launch& l : st.plan->launches) {
      if (l.compute &&
          (is_routing(l.compute->op) || l.compute->op == DeviceOp::layernorm_backward)) {
        st.constants.emplace(l.task.value, make_constants(*l.compute));
      }
      if (l.compute &&
          (l.compute->op == DeviceOp::gemm || l.compute->op == DeviceOp::attention_forward ||
           l.compute->op == DeviceOp::attention_backward)) {
        auto& blas = st.streams[l.stream.value].blas;
        if (!blas) blas = std::make_unique<kernels::BlasHandle>();
      }
      MOESIM_DEVICE_CHECK(cudaEventCreate(&events_.at(l.task.index()).first));
      MOESIM_DEVICE_CHECK(cudaEventCreate(&events_.at(l.task.index()).second));
    }
    MOESIM_DEVICE_CHECK(cudaDeviceSynchronize());
  }

  void prepare_events() { events_.assign(graph_.task_count(), {nullptr, nullptr}); }

  void destroy_events() {
    for (auto& [a, b] : events_) {
      if (a != nullptr) (void)cudaEventDestroy(a);
      if (b != nullptr) (void)cudaEventDestroy(b);
    }
  }

  /// Body of rank thread i: every iteration, then the per-task medians.
  void rank_thread(std::size_t i) {
    try {
      RankState& st = states_[i];
      MOESIM_DEVICE_CHECK(cudaSetDevice(st.device));
      std::map<std::uint32_t, std::vector<std::int64_t>> starts;
      std::map<std::uint32_t, std::vector<std::int64_t>> ends;
      const int total = options_.warmup + options_.iterations;
      for (int it = 0; it < total; ++it) {
        sync_all(i);
        if (failed_.load()) break;
        run_iteration(st, it);
        MOESIM_DEVICE_CHECK(cudaDeviceSynchronize());
        if (it < options_.warmup) continue;
        for (const Launch& l : st.plan->launches) {
          float a_ms = 0;
          float b_ms = 0;
          MOESIM_DEVICE_CHECK(
              cudaEventElapsedTime(&a_ms, st.origin, events_[l.task.index()].first));
          MOESIM_DEVICE_CHECK(
              cudaEventElapsedTime(&b_ms, st.origin, events_[l.task.index()].second));
          starts[l.task.value].push_back(std::llround(static_cast<double>(a_ms) * 1e9));
          ends[l.task.value].push_back(std::llround(static_cast<double>(b_ms) * 1e9));
        }
      }
      if (!failed_.load()) {
        for (const auto& [task, v] : starts) {
          start_ps_[task] = median(v);
          end_ps_[task] = std::max(median(ends[task]), start_ps_[task]);
        }
      }
      barrier_.arrive_and_drop();
    } catch (const std::exception& e) {
      fail(e.what());
      barrier_.arrive_and_drop();
    }
  }

  void fail(const std::string& what) {
    {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (error_.empty()) error_ = what;
    }
    failed_.store(true);
    for (auto& e : enqueued_) e.notify_all();
  }

  bool failed() const { return failed_.load(); }
  const std::string& error() const { return error_; }
  std::vector<std::int64_t>& starts() { return start_ps_; }
  std::vector<std::int64_t>& ends() { return end_ps_; }
  std::vector<RankState>& states() { return states_; }

 private:
  int process() const { return process_; }

  void sync_all(std::size_t i) {
    barrier_.arrive_and_wait();
#ifdef MOESIM_HAS_MPI
    if (processes_ > 1) {
      if (i == 0) MPI_Barrier(MPI_COMM_WORLD);
      barrier_.arrive_and_wait();
    }
#else
    (void)i;
    (void)processes_;
#endif
  }

  void run_iteration(RankState& st, int it) {
    spin_delay(static_cast<std::int64_t>(options_.launch_headroom_us * 1000.0), st.origin_stream);
    MOESIM_DEVICE_CHECK(cudaEventRecord(st.origin, st.origin_stream));
    for (auto& [id, s] : st.streams)
      MOESIM_DEVICE_CHECK(cudaStreamWaitEvent(s.stream, st.origin, 0));
    for (const Launch& l : st.plan->launches) {
      StreamState& s = st.streams.at(l.stream.value);
      for (TaskId a : l.waits) {
        if (graph_.task(a).rank != graph_.task(l.task).rank) {
          // cudaStreamWaitEvent on an event not yet recorded is a no-op: wait until the
          // producer's thread has enqueued this iteration's record.
          std::atomic<int>& flag = enqueued_[a.index()];
          for (int seen = flag.load(); seen < it && !failed_.load(); seen = flag.load()) {
            flag.wait(seen);
          }
          if (failed_.load()) throw DeviceFailure("another rank failed");
        }
        MOESIM_DEVICE_CHECK(cudaStreamWaitEvent(s.stream, events_[a.index()].second, 0));
      }
      MOESIM_DEVICE_CHECK(cudaEventRecord(events_[l.task.index()].first, s.stream));
      if (l.compute) launch_compute(*l.compute, st, s, l.task.value);
      if (l.comm) launch_comm(*l.comm, st, s);
      MOESIM_DEVICE_CHECK(cudaEventRecord(events_[l.task.index()].second, s.stream));
      enqueued_[l.task.index()].store(it);
      enqueued_[l.task.index()].notify_all();
    }
  }

  const TaskGraph& graph_;
  const ExecutionPlan& plan_;
  const HardwareRunOptions& options_;
  std::vector<std::uint32_t> local_ranks_;
  int gpus_per_process_;
  int process_;
  int processes_;
  std::barrier<> barrier_;
  std::vector<std::atomic<int>> enqueued_;  // iteration whose end event a task last enqueued
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> events_;  // (start, end) per task
  std::vector<std::int64_t> start_ps_;
  std::vector<std::int64_t> end_ps_;
  std::vector<RankState> states_;
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::string error_;
};

}  // namespace

HardwareExecutor::HardwareExecutor(int gpus_per_process, int process, int processes, bool owns_mpi)
    : gpus_per_process_(gpus_per_process),
      process_(process),
      processes_(processes),
      owns_mpi_(owns_mpi) {
  cudaDeviceProp prop{};
  (void)cudaGetDeviceProperties(&prop, 0);
  int driver = 0;
  int runtime = 0;
  (void)cudaDriverGetVersion(&driver);
  (void)cudaRuntimeGetVersion(&runtime);
  int nccl = 0;
  (void)ncclGetVersion(&nccl);
  description_ = fmt::format(
      "measured on {} process(es) x {} GPU(s), {} (sm_{}{}), driver {}, CUDA runtime {}, NCCL "
      "{}.{}.{}",
      processes_, gpus_per_process_, prop.name, prop.major, prop.minor, version_string(driver),
      version_string(runtime), nccl / 10000, (nccl % 10000) / 100, nccl % 100);
}

HardwareExecutor::~HardwareExecutor() {
#ifdef MOESIM_HAS_MPI
  if (owns_mpi_) MPI_Finalize();
#endif
}

std::string HardwareExecutor::describe() const { return description_; }

std::uint32_t HardwareExecutor::max_ranks() const {
  return static_cast<std::uint32_t>(gpus_per_process_ * processes_);
}

ExecutionRecord HardwareExecutor::run(const TaskGraph& graph, const HardwareRunOptions& options) {
  if (graph.rank_count() > max_ranks()) {
    throw input_error("", "task graph", "more ranks than GPUs available",
                      std::to_string(graph.rank_count()),
                      fmt::format("<= {} ({} process(es) x {} GPU(s))", max_ranks(), processes_,
                                  gpus_per_process_));
  }
  const ExecutionPlan plan = lower_graph(graph);
  auto process_of = [&](RankId r) { return static_cast<int>(r.value) / gpus_per_process_; };
  for (const auto& [a, b] : graph.edges()) {
    if (process_of(graph.task(a).rank) != process_of(graph.task(b).rank)) {
      throw input_error("",
                        fmt::format("dependency '{}' -> '{}'", graph.name_of(a), graph.name_of(b)),
                        "an explicit dependency between ranks in different processes is not "
                        "supported by the hardware executor; express it as a send_recv");
    }
  }
  std::vector<std::uint32_t> local;
  for (std::uint32_t r = 0; r < graph.rank_count(); ++r) {
    if (process_of(RankId{r}) == process_) local.push_back(r);
  }
  if (local.empty()) {
    // Every process takes part in the per-iteration MPI barrier, so each needs a rank.
    throw input_error(
        "", "task graph", "fewer ranks than MPI processes", std::to_string(graph.rank_count()),
        fmt::format("> {} (one rank per process at least)", (processes_ - 1) * gpus_per_process_));
  }
  Run run(graph, plan, options, local, gpus_per_process_, process_, processes_);
  try {
    run.prepare_events();
    for (std::size_t i = 0; i < local.size(); ++i) run.set_up_rank(i);
    run.set_up_communicators();
  } catch (const std::exception& e) {
    run.destroy_events();
    throw SimulationError(fmt::format("hardware executor: set-up failed: {}", e.what()));
  }
  std::vector<std::thread> threads;
  threads.reserve(local.size());
  for (std::size_t i = 0; i < local.size(); ++i) {
    threads.emplace_back([&run, i]() { run.rank_thread(i); });
  }
  for (std::thread& t : threads) t.join();
  run.destroy_events();
  if (run.failed()) throw SimulationError("hardware executor: " + run.error());
#ifdef MOESIM_HAS_MPI
  if (processes_ > 1) {
    // Each task's times were filled by exactly one process; the others hold 0.
    MPI_Allreduce(MPI_IN_PLACE, run.starts().data(), static_cast<int>(run.starts().size()),
                  MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, run.ends().data(), static_cast<int>(run.ends().size()), MPI_INT64_T,
                  MPI_SUM, MPI_COMM_WORLD);
  }
#endif
  ExecutionRecord record;
  record.source = "measured";
  record.description = fmt::format("{}; {} warm-up + {} timed iterations, median per task",
                                   description_, options.warmup, options.iterations);
  if (plan.substituted_tasks > 0) {
    // A stand-in ran for these tasks (DeviceCall::substituted): the record says so.
    std::string names;
    std::size_t listed = 0;
    for (const RankPlan& rp : plan.ranks) {
      for (const Launch& l : rp.launches) {
        if (!l.compute || !l.compute->substituted || listed >= 8) continue;
        names += fmt::format("{}{}", listed++ ? ", " : "", graph.name_of(l.task));
      }
    }
    record.description +=
        fmt::format("; {} SUBSTITUTED tasks (no real kernel, a stand-in of their size ran: {}{})",
                    plan.substituted_tasks, names, plan.substituted_tasks > listed ? ", ..." : "");
  }
  record.tasks.resize(graph.task_count());
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    record.tasks[i] =
        TaskRecord{SimTime::from_ps(run.starts()[i]), SimTime::from_ps(run.ends()[i])};
  }
  return record;
}

HardwareAvailability make_hardware_runner() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return {nullptr, fmt::format("no usable CUDA device ({})", cudaGetErrorString(err))};
  }
  if (count == 0) return {nullptr, "no usable CUDA device (cudaGetDeviceCount found 0 devices)"};
  int process = 0;
  int processes = 1;
  bool owns_mpi = false;
#ifdef MOESIM_HAS_MPI
  // Only under a launcher (mpirun sets these); a plain run stays single-process.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &process);
    MPI_Comm_size(MPI_COMM_WORLD, &processes);
    owns_mpi = true;
  }
#endif
  return {std::make_unique<HardwareExecutor>(count, process, processes, owns_mpi), ""};
}

}  // namespace moesim::runtime
