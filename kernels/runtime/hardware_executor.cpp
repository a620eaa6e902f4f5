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

#include "kernels/moe/moe_kernels.hpp"
#include "kernels/runtime/graph_lowering.hpp"
#include "kernels/runtime/runtime_kernels.hpp"
#include "sim/core/errors.hpp"

#ifdef MOESIM_HAS_MPI
#include <mpi.h>
#endif

namespace moesim::runtime {
namespace {

// Checked CUDA / NCCL calls: a failure throws with the expression, file:line and the library's
// message (architecture.md, "Errors"); run() turns it into a SimulationError.
class DeviceFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

#define RT_CUDA(expr)                                                                    \
  do {                                                                                   \
    const cudaError_t rt_err_ = (expr);                                                  \
    if (rt_err_ != cudaSuccess) {                                                        \
      throw DeviceFailure(fmt::format("{}:{}: {} failed: {}", __FILE__, __LINE__, #expr, \
                                      cudaGetErrorString(rt_err_)));                     \
    }                                                                                    \
  } while (false)

#define RT_NCCL(expr)                                                                    \
  do {                                                                                   \
    const ncclResult_t rt_res_ = (expr);                                                 \
    if (rt_res_ != ncclSuccess) {                                                        \
      throw DeviceFailure(fmt::format("{}:{}: {} failed: {}", __FILE__, __LINE__, #expr, \
                                      ncclGetErrorString(rt_res_)));                     \
    }                                                                                    \
  } while (false)

ncclDataType_t nccl_type(WireType t) {
  switch (t) {
    case WireType::u8:
      return ncclUint8;
    case WireType::bf16:
      return ncclBfloat16;
    case WireType::fp16:
      return ncclFloat16;
    case WireType::fp32:
      return ncclFloat32;
  }
  return ncclUint8;
}

/// cudaMalloc'd memory of one device, freed on destruction.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(std::int64_t bytes) {
    if (bytes > 0) RT_CUDA(cudaMalloc(&ptr_, static_cast<std::size_t>(bytes)));
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
    RT_CUDA(cudaMemcpy(m.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  return m;
}

/// Routing constants of one permute / unpermute task, built on the host: assignment
/// a = t * top_k + j goes to expert a % experts (distinct experts per token while
/// top_k <= experts, and balanced), dropless rows in expert order.
struct RoutingConstants {
  DeviceMemory topk_expert;  // int [assignments]
  DeviceMemory dest_row;     // int [assignments]
  DeviceMemory prob;         // float [assignments]
  DeviceMemory scratch;      // route outputs: dest_row, count, offset, workspace
  std::size_t workspace_bytes = 0;
};

RoutingConstants make_routing(const DeviceCall& d) {
  const std::int32_t assignments = d.tokens * d.top_k;
  std::vector<int> expert(static_cast<std::size_t>(assignments));
  std::vector<int> count(static_cast<std::size_t>(d.experts), 0);
  for (int a = 0; a < assignments; ++a) {
    expert[static_cast<std::size_t>(a)] = a % d.experts;
    ++count[static_cast<std::size_t>(a % d.experts)];
  }
  std::vector<int> offset(static_cast<std::size_t>(d.experts) + 1, 0);
  for (std::size_t e = 0; e < count.size(); ++e) offset[e + 1] = offset[e] + count[e];
  std::vector<int> dest(static_cast<std::size_t>(assignments));
  std::vector<int> next(offset.begin(), offset.end() - 1);
  for (int a = 0; a < assignments; ++a) {
    dest[static_cast<std::size_t>(a)] = next[static_cast<std::size_t>(expert[a])]++;
  }
  RoutingConstants rc;
  rc.topk_expert = upload(expert);
  rc.dest_row = upload(dest);
  rc.prob = upload(std::vector<float>(static_cast<std::size_t>(assignments),
                                      1.0F / static_cast<float>(d.top_k)));
  if (d.op == DeviceOp::route_permute) {
    rc.workspace_bytes = kernels::route_workspace_bytes(assignments, d.experts);
    const std::int64_t ints = std::int64_t{assignments} + 2 * d.experts + 1;
    rc.scratch = DeviceMemory(ints * 4 + static_cast<std::int64_t>(rc.workspace_bytes));
  }
  return rc;
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
  std::map<std::uint32_t, RoutingConstants> routing;  // by TaskId
  std::map<std::uint32_t, ncclComm_t> comms;          // by group index
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

void launch_compute(const DeviceCall& d, RankState& rank, StreamState& s, std::uint32_t task) {
  const kernels::ElementType type = element(d);
  char* in = rank.inputs.get();
  char* out = s.output.get();
  cudaStream_t st = s.stream;
  switch (d.op) {
    case DeviceOp::gemm:
      if (d.batch == 1) {
        kernels::gemm(*s.blas, type, as_int(d.m), as_int(d.n), as_int(d.k), in, in + d.m * d.k * 2,
                      out, st);
      } else {
        kernels::gemm_strided_batched(*s.blas, type, as_int(d.m), as_int(d.n), as_int(d.k),
                                      as_int(d.batch), in, d.m * d.k, in + d.m * d.k * d.batch * 2,
                                      d.k * d.n, out, d.m * d.n, st);
      }
      return;
    case DeviceOp::attention: {
      const std::int64_t head = d.batch * d.n * d.k * 2;
      kernels::attention_forward(*s.blas, type, as_int(d.batch), as_int(d.n), as_int(d.k), in,
                                 in + head, in + 2 * head, out + head, out,
                                 1.0F / std::sqrt(static_cast<float>(d.k)), true, st);
      return;
    }
    case DeviceOp::softmax_rows:
      kernels::softmax_rows(type, in, out, d.m, as_int(d.n), 1.0F, false, as_int(d.n), st);
      return;
    case DeviceOp::layernorm:
      kernels::layernorm(type, in, in + d.m * d.n * 2, in + d.m * d.n * 2 + d.n * 2, out, d.m,
                         as_int(d.n), 1e-5F, st);
      return;
    case DeviceOp::activation_gelu:
    case DeviceOp::activation_swiglu:
      kernels::activation_forward(type,
                                  d.op == DeviceOp::activation_gelu ? kernels::Activation::gelu
                                                                    : kernels::Activation::swiglu,
                                  in, d.m, as_int(d.n), out, st);
      return;
    case DeviceOp::softmax_topk: {
      auto* idx = reinterpret_cast<int*>(out);
      auto* prob = reinterpret_cast<float*>(out + std::int64_t{d.tokens} * d.top_k * 4);
      kernels::softmax_topk(reinterpret_cast<const float*>(in), d.tokens, d.experts, d.top_k, idx,
                            prob, true, st);
      return;
    }
    case DeviceOp::route_permute: {
      RoutingConstants& rc = rank.routing.at(task);
      const std::int32_t assignments = d.tokens * d.top_k;
      auto* dest = reinterpret_cast<int*>(rc.scratch.get());
      int* count = dest + assignments;
      int* offset = count + d.experts;
      void* workspace = offset + d.experts + 1;
      kernels::route(reinterpret_cast<const int*>(rc.topk_expert.get()), d.tokens, d.top_k,
                     d.experts, 0, dest, count, offset, workspace, rc.workspace_bytes, st);
      kernels::permute(type, in, d.tokens, d.top_k, d.hidden, dest, out, assignments, st);
      return;
    }
    case DeviceOp::unpermute_combine: {
      RoutingConstants& rc = rank.routing.at(task);
      kernels::unpermute_combine(type, in, reinterpret_cast<const int*>(rc.dest_row.get()),
                                 reinterpret_cast<const float*>(rc.prob.get()), d.tokens, d.top_k,
                                 d.hidden, out, st);
      return;
    }
    case DeviceOp::copy:
      if (d.copy_bytes > 0) {
        RT_CUDA(cudaMemcpyAsync(out, in, static_cast<std::size_t>(d.copy_bytes),
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
  ncclComm_t comm = rank.comms.at(c.group);
  char* send = s.send.get();
  char* recv = s.recv.get();
  auto count = [](std::int64_t n) { return static_cast<std::size_t>(n); };
  if (c.grouped) RT_NCCL(ncclGroupStart());
  for (const NcclCall& call : c.calls) {
    const ncclDataType_t type = nccl_type(call.type);
    char* sb = send + call.send_offset_bytes;
    char* rb = recv + call.recv_offset_bytes;
    const auto peer = static_cast<int>(call.peer);
    switch (call.kind) {
      case NcclCallKind::all_reduce:
        RT_NCCL(ncclAllReduce(sb, rb, count(call.count), type, ncclSum, comm, s.stream));
        break;
      case NcclCallKind::all_gather:
        RT_NCCL(ncclAllGather(sb, rb, count(call.count), type, comm, s.stream));
        break;
      case NcclCallKind::reduce_scatter:
        RT_NCCL(ncclReduceScatter(sb, rb, count(call.count), type, ncclSum, comm, s.stream));
        break;
      case NcclCallKind::broadcast:
        RT_NCCL(ncclBroadcast(sb, rb, count(call.count), type, peer, comm, s.stream));
        break;
      case NcclCallKind::reduce:
        RT_NCCL(ncclReduce(sb, rb, count(call.count), type, ncclSum, peer, comm, s.stream));
        break;
      case NcclCallKind::send:
        RT_NCCL(ncclSend(sb, count(call.count), type, peer, comm, s.stream));
        break;
      case NcclCallKind::recv:
        RT_NCCL(ncclRecv(rb, count(call.count), type, peer, comm, s.stream));
        break;
    }
  }
  if (c.grouped) RT_NCCL(ncclGroupEnd());
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
        if (process() == owner) RT_NCCL(ncclGetUniqueId(&id));
        MPI_Bcast(&id, sizeof(id), MPI_BYTE, owner, MPI_COMM_WORLD);
#endif
      } else if (process() == owner) {
        RT_NCCL(ncclGetUniqueId(&id));
      }
      std::vector<std::size_t> members;
      for (std::size_t i = 0; i < local_ranks_.size(); ++i) {
        if (std::binary_search(ranks.begin(), ranks.end(), RankId{local_ranks_[i]})) {
          members.push_back(i);
        }
      }
      if (members.empty()) continue;
      RT_NCCL(ncclGroupStart());
      for (std::size_t i : members) {
        RankState& st = states_[i];
        RT_CUDA(cudaSetDevice(st.device));
        const auto pos =
            std::lower_bound(ranks.begin(), ranks.end(), RankId{local_ranks_[i]}) - ranks.begin();
        ncclComm_t comm = nullptr;
        RT_NCCL(ncclCommInitRank(&comm, static_cast<int>(ranks.size()), id, static_cast<int>(pos)));
        st.comms[g] = comm;
      }
      RT_NCCL(ncclGroupEnd());
    }
  }

  void set_up_rank(std::size_t i) {
    RankState& st = states_[i];
    const std::uint32_t r = local_ranks_[i];
    st.device = static_cast<int>(r) % gpus_per_process_;
    st.plan = &plan_.ranks[r];
    RT_CUDA(cudaSetDevice(st.device));
    RT_CUDA(cudaStreamCreateWithFlags(&st.origin_stream, cudaStreamNonBlocking));
    RT_CUDA(cudaEventCreate(&st.origin));
    st.inputs = DeviceMemory(st.plan->input_bytes);
    fill_random(st.inputs.get(), st.plan->input_bytes, options_.seed * 1000003ULL + r,
                st.origin_stream);
    for (const StreamBuffers& b : st.plan->streams) {
      StreamState& s = st.streams[b.stream.value];
      RT_CUDA(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
      s.output = DeviceMemory(b.output_bytes);
      s.send = DeviceMemory(b.send_bytes);
      s.recv = DeviceMemory(b.recv_bytes);
      fill_random(s.send.get(), b.send_bytes, options_.seed * 7919ULL + r, st.origin_stream);
    }
    for (const Launch& l : st.plan->launches) {
      if (l.compute && (l.compute->op == DeviceOp::route_permute ||
                        l.compute->op == DeviceOp::unpermute_combine)) {
        st.routing.emplace(l.task.value, make_routing(*l.compute));
      }
      if (l.compute && (l.compute->op == DeviceOp::gemm || l.compute->op == DeviceOp::attention)) {
        auto& blas = st.streams[l.stream.value].blas;
        if (!blas) blas = std::make_unique<kernels::BlasHandle>();
      }
      RT_CUDA(cudaEventCreate(&events_.at(l.task.index()).first));
      RT_CUDA(cudaEventCreate(&events_.at(l.task.index()).second));
    }
    RT_CUDA(cudaDeviceSynchronize());
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
      RT_CUDA(cudaSetDevice(st.device));
      std::map<std::uint32_t, std::vector<std::int64_t>> starts;
      std::map<std::uint32_t, std::vector<std::int64_t>> ends;
      const int total = options_.warmup + options_.iterations;
      for (int it = 0; it < total; ++it) {
        sync_all(i);
        if (failed_.load()) break;
        run_iteration(st, it);
        RT_CUDA(cudaDeviceSynchronize());
        if (it < options_.warmup) continue;
        for (const Launch& l : st.plan->launches) {
          float a_ms = 0;
          float b_ms = 0;
          RT_CUDA(cudaEventElapsedTime(&a_ms, st.origin, events_[l.task.index()].first));
          RT_CUDA(cudaEventElapsedTime(&b_ms, st.origin, events_[l.task.index()].second));
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
    RT_CUDA(cudaEventRecord(st.origin, st.origin_stream));
    for (auto& [id, s] : st.streams) RT_CUDA(cudaStreamWaitEvent(s.stream, st.origin, 0));
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
        RT_CUDA(cudaStreamWaitEvent(s.stream, events_[a.index()].second, 0));
      }
      RT_CUDA(cudaEventRecord(events_[l.task.index()].first, s.stream));
      if (l.compute) launch_compute(*l.compute, st, s, l.task.value);
      if (l.comm) launch_comm(*l.comm, st, s);
      RT_CUDA(cudaEventRecord(events_[l.task.index()].second, s.stream));
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
  record.tasks.resize(graph.task_count());
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    const Task& t = graph.tasks()[i];
    const TaskId id{static_cast<std::uint32_t>(i)};
    record.tasks[i] = TaskRecord{t.rank,
                                 t.stream,
                                 SimTime::from_ps(run.starts()[i]),
                                 SimTime::from_ps(run.ends()[i]),
                                 graph.bytes_of(id),
                                 graph.flops_of(id)};
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
