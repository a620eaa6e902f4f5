#include "sim/exec/simulated_executor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "sim/compute/overlap_contention.hpp"
#include "sim/core/engine.hpp"
#include "sim/core/errors.hpp"
#include "sim/exec/dependency_cycle.hpp"

namespace moesim {
namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
// Event tags: a task id ends a kernel or delay; with this bit set, a comm id ends an operation.
// A kernel's tag carries its generation in bits 32..62: re-rating a running kernel schedules a
// new end and bumps the generation, and the superseded event is ignored when it fires (cheaper
// than cancelling it in the heap).
constexpr std::uint64_t kCommTag = std::uint64_t{1} << 63;
constexpr int kGenerationShift = 32;
constexpr std::uint32_t kGenerationMask = 0x7fff'ffffU;

std::uint64_t kernel_tag(std::uint32_t task_index, std::uint32_t generation) {
  return (static_cast<std::uint64_t>(generation & kGenerationMask) << kGenerationShift) |
         task_index;
}

class Run final : public EventHandler, public network::CommCompletionListener {
 public:
  Run(const TaskGraph& graph, const compute::ComputeModel& compute,
      network::CommunicationModel& network, ExecutionProgressListener* progress)
      : graph_(graph), compute_(compute), network_(network), progress_(progress) {}

  ExecutionRecord execute(ExecutionStats* stats) {
    build_structure();
    engine_.add_resource_model(network_);
    engine_.reserve_events(graph_.task_count() / 4 + 16);
    for (std::uint32_t t = 0; t < waiting_.size(); ++t) {
      if (waiting_[t] == 0) became_ready(t);
    }
    engine_.run();
    if (finished_ != graph_.task_count()) throw_deadlock();
    if (progress_ != nullptr) progress_->tasks_finished(finished_, graph_.task_count());
    if (stats) stats->events = engine_.events_fired();
    return std::move(record_);
  }

  void on_event(Engine& engine, std::uint64_t tag) override {
    if (tag & kCommTag) {
      const CommRecord& c = graph_.comm(CommId{static_cast<std::uint32_t>(tag & ~kCommTag)});
      const int sms = c.op.relay ? c.op.relay->comm_sms : 0;
      bool priority_ended = false;
      for (TaskId member : c.members) {
        const std::size_t r = graph_.task(member).rank.index();
        --active_comm_[r];
        if (!c.yields && --active_priority_[r] == 0) priority_ended = true;
        if (c.op.relay) {
          --active_relay_[r];
          held_sms_[r] -= sms;
        }
      }
      for (TaskId member : c.members) rerate_kernels(graph_.task(member).rank.index());
      for (TaskId member : c.members) finish(member.value, engine.now());
      if (priority_ended) start_parked();
    } else {
      const auto task_index = static_cast<std::uint32_t>(tag);
      const auto generation = static_cast<std::uint32_t>(tag >> kGenerationShift) & kGenerationMask;
      const Task& t = graph_.tasks()[task_index];
      if (graph_.compute_of(t) && !retire_kernel(t.rank.index(), task_index, generation)) return;
      finish(task_index, engine.now());
    }
  }

  void on_comm_complete(CommId comm, SimTime at) override {
    // Deferred through the queue so the network model is never re-entered from its own advance().
    engine_.schedule_at(at, *this, kCommTag | comm.value);
  }

 private:
  void build_structure() {
    const std::size_t n = graph_.task_count();
    waiting_.assign(n, 0);
    stream_next_.assign(n, kNone);
    // Last task seen on each (rank, stream), indexed rank * streams + stream.
    const std::size_t streams = graph_.stream_names().size();
    std::vector<std::uint32_t> last_on_stream(graph_.rank_count() * streams, kNone);
    for (std::uint32_t i = 0; i < n; ++i) {
      const Task& t = graph_.tasks()[i];
      std::uint32_t& last = last_on_stream[t.rank.index() * streams + t.stream.index()];
      if (last != kNone) {
        stream_next_[last] = i;
        ++waiting_[i];
      }
      last = i;
    }
    // Successor lists in compressed form (offsets + flat array).
    succ_offset_.assign(n + 1, 0);
    for (const auto& [before, after] : graph_.edges()) {
      ++succ_offset_[before.index() + 1];
      ++waiting_[after.index()];
    }
    for (std::size_t i = 0; i < n; ++i) succ_offset_[i + 1] += succ_offset_[i];
    // Each task's offset serves as its fill cursor, which leaves it at the next task's offset;
    // shifting back by one restores them (no second array of n cursors: 90 M tasks at 8,192 GPUs).
    successors_.resize(graph_.edges().size());
    for (const auto& [before, after] : graph_.edges()) {
      successors_[succ_offset_[before.index()]++] = after.value;
    }
    for (std::size_t i = n; i > 0; --i) succ_offset_[i] = succ_offset_[i - 1];
    succ_offset_[0] = 0;
    arrived_.assign(graph_.comm_count(), 0);
    active_comm_.assign(graph_.rank_count(), 0);
    active_priority_.assign(graph_.rank_count(), 0);
    active_relay_.assign(graph_.rank_count(), 0);
    held_sms_.assign(graph_.rank_count(), 0);
    running_.assign(graph_.rank_count(), {});
    record_.source = "simulated";
    record_.description = fmt::format("compute={} network={}", compute_.name(), network_.name());
    record_.tasks.assign(n, TaskRecord{SimTime::zero(), SimTime::zero()});
    if (!compute_.reads_rank()) alone_.assign(graph_.distinct_kernel_count(), kNotAsked);
  }

  void became_ready(std::uint32_t task_index) {
    const Task& t = graph_.tasks()[task_index];
    const SimTime now = engine_.now();
    if (graph_.compute_of(t) != nullptr) {
      const std::size_t r = t.rank.index();
      const SimTime duration = kernel_duration(t, context_of(r));
      running_[r].push_back(RunningKernel{task_index, 0, duration, now + duration});
      start_timed(task_index, now, duration, kernel_tag(task_index, 0));
    } else if (const auto delay = graph_.delay_of(t)) {
      start_timed(task_index, now, *delay, task_index);
    } else {
      const CommId comm = *graph_.comm_of(t);
      const CommRecord& record = graph_.comm(comm);
      if (++arrived_[comm.index()] < record.members.size()) return;
      if (record.yields && blocked_by_priority(record)) {
        parked_.push_back(comm);
        return;
      }
      start_comm(comm, now);
    }
  }

  void start_comm(CommId comm, SimTime now) {
    const CommRecord& record = graph_.comm(comm);
    const int sms = record.op.relay ? record.op.relay->comm_sms : 0;
    for (TaskId member : record.members) {
      record_.tasks[member.index()].start = now;
      const std::size_t r = graph_.task(member).rank.index();
      ++active_comm_[r];
      if (!record.yields) ++active_priority_[r];
      if (record.op.relay) {
        ++active_relay_[r];
        held_sms_[r] += sms;
      }
    }
    for (TaskId member : record.members) rerate_kernels(graph_.task(member).rank.index());
    network_.start(comm, record.op, now, *this);
  }

  /// Kernel task `t`'s duration in `ctx`. With nothing communicating beside it, the same for every
  /// task of its kernel when the model does not read the rank: asked once per distinct kernel
  /// (the same GEMM on 2,048 ranks and 32 micro-batches is one question, not 65,536).
  SimTime kernel_duration(const Task& t, const compute::ComputeContext& ctx) {
    const ComputeTask& kernel = *graph_.compute_of(t);
    if (alone_.empty() || ctx.concurrent_comm_ops != 0 || ctx.sm_holding_ops != 0 ||
        ctx.held_sms != 0) {
      return compute_.duration(kernel, ctx);
    }
    SimTime& known = alone_[t.body];
    if (known < SimTime::zero()) known = compute_.duration(kernel, ctx);
    return known;
  }

  compute::ComputeContext context_of(std::size_t rank) const {
    return compute::ComputeContext{RankId{static_cast<std::uint32_t>(rank)}, active_comm_[rank],
                                   active_relay_[rank], held_sms_[rank]};
  }

  /// The communication running on `rank` changed: every kernel running there continues the rest
  /// of its work at the rate of the new context (its whole duration in that context), and its end
  /// moves accordingly.
  void rerate_kernels(std::size_t rank) {
    if (running_[rank].empty()) return;
    const SimTime now = engine_.now();
    const compute::ComputeContext ctx = context_of(rank);
    for (RunningKernel& k : running_[rank]) {
      const SimTime duration = kernel_duration(graph_.tasks()[k.task], ctx);
      if (duration == k.duration) continue;
      const SimTime left = k.end - now;
      if (left > SimTime::zero()) {
        k.end = now + compute::rescale_remaining(left, k.duration, duration);
        k.generation = (k.generation + 1) & kGenerationMask;
        engine_.schedule_at(k.end, *this, kernel_tag(k.task, k.generation));
      }
      k.duration = duration;
    }
  }

  /// Takes kernel `task_index` off its rank's running list when `generation` is its current
  /// end; false for a superseded end event (the kernel was re-rated after it was scheduled).
  bool retire_kernel(std::size_t rank, std::uint32_t task_index, std::uint32_t generation) {
    std::vector<RunningKernel>& list = running_[rank];
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].task != task_index) continue;
      if (list[i].generation != generation) return false;
      list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
    return false;
  }

  bool blocked_by_priority(const CommRecord& record) const {
    return std::any_of(record.members.begin(), record.members.end(),
                       [&](TaskId m) { return active_priority_[graph_.task(m).rank.index()] > 0; });
  }

  /// Starts, in the order they became ready, the parked low-priority operations whose ranks no
  /// longer run other communication.
  void start_parked() {
    std::size_t kept = 0;
    for (const CommId comm : parked_) {
      if (blocked_by_priority(graph_.comm(comm))) {
        parked_[kept++] = comm;
      } else {
        start_comm(comm, engine_.now());
      }
    }
    parked_.resize(kept);
  }

  void start_timed(std::uint32_t task_index, SimTime now, SimTime duration, std::uint64_t tag) {
    record_.tasks[task_index].start = now;
    engine_.schedule_at(now + duration, *this, tag);
  }

  void finish(std::uint32_t task_index, SimTime now) {
    record_.tasks[task_index].end = now;
    ++finished_;
    if (progress_ != nullptr && finished_ % SimulatedExecutor::kProgressTasks == 0) {
      progress_->tasks_finished(finished_, graph_.task_count());
    }
    for (std::uint32_t s = succ_offset_[task_index]; s < succ_offset_[task_index + 1]; ++s) {
      release(successors_[s]);
    }
    if (stream_next_[task_index] != kNone) release(stream_next_[task_index]);
  }

  void release(std::uint32_t task_index) {
    if (--waiting_[task_index] == 0) became_ready(task_index);
  }

  [[noreturn]] void throw_deadlock() const {
    if (auto cycle = find_dependency_cycle(graph_)) {
      std::string names;
      for (std::size_t i = 0; i < cycle->size() && i < 12; ++i) {
        const Task& t = graph_.task((*cycle)[i]);
        names +=
            fmt::format("{}'{}' (rank {}, stream {})", i ? " -> " : "", graph_.name_of((*cycle)[i]),
                        t.rank.value, graph_.stream_name(t.stream));
      }
      throw SimulationError(
          fmt::format("deadlock: the task graph has a dependency cycle, {} tasks never ran: {}{}",
                      graph_.task_count() - finished_, names, cycle->size() > 12 ? " -> ..." : ""));
    }
    // Acyclic but stuck: a low-priority operation never found a gap, or a model never completed
    // an operation.
    if (!parked_.empty()) {
      throw SimulationError(fmt::format(
          "deadlock: {} tasks never ran; {} low-priority operation(s) still wait for a gap, "
          "first '{}'",
          graph_.task_count() - finished_, parked_.size(),
          graph_.names()[graph_.comm(parked_.front()).name]));
    }
    std::string blocked;
    int shown = 0;
    for (std::uint32_t c = 0; c < graph_.comm_count() && shown < 8; ++c) {
      const CommRecord& rec = graph_.comms()[c];
      if (arrived_[c] == rec.members.size() &&
          record_.tasks[rec.members.front().index()].end == SimTime::zero()) {
        blocked += fmt::format("{}'{}'", shown++ ? ", " : "", graph_.names()[rec.name]);
      }
    }
    throw SimulationError(
        fmt::format("deadlock: {} tasks never ran; communication started but never completed: {}",
                    graph_.task_count() - finished_, blocked.empty() ? "none" : blocked));
  }

  const TaskGraph& graph_;
  const compute::ComputeModel& compute_;
  network::CommunicationModel& network_;
  ExecutionProgressListener* progress_;
  Engine engine_;
  ExecutionRecord record_;
  std::vector<std::uint32_t> waiting_;
  std::vector<std::uint32_t> stream_next_;
  std::vector<std::uint32_t> succ_offset_;
  std::vector<std::uint32_t> successors_;
  std::vector<std::uint32_t> arrived_;
  std::vector<int> active_comm_;
  std::vector<int> active_priority_;  ///< of those, not yielding (CommRecord::yields)
  std::vector<CommId> parked_;        ///< yielding operations ready but waiting for a gap
  std::vector<int> active_relay_;     ///< of those, SM-holding (DeepEP-style) operations
  std::vector<int> held_sms_;         ///< SMs they hold
  /// Per distinct kernel, its duration with nothing beside it (kernel_duration); empty when the
  /// compute model reads the rank.
  static constexpr SimTime kNotAsked = SimTime::from_ps(-1);
  std::vector<SimTime> alone_;
  /// A kernel in flight: its whole duration in the context it runs in now, and its current end.
  struct RunningKernel {
    std::uint32_t task = 0;
    std::uint32_t generation = 0;  ///< bumped at each re-rate; in the end event's tag
    SimTime duration;
    SimTime end;
  };
  std::vector<std::vector<RunningKernel>> running_;  ///< per rank, in start order
  std::size_t finished_ = 0;
};

}  // namespace

ExecutionRecord SimulatedExecutor::run(const TaskGraph& graph, ExecutionStats* stats) {
  Run run(graph, compute_, network_, progress_);
  return run.execute(stats);
}

}  // namespace moesim
