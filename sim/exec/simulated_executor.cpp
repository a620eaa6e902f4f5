#include "sim/exec/simulated_executor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "sim/core/engine.hpp"
#include "sim/core/errors.hpp"
#include "sim/exec/dependency_cycle.hpp"

namespace moesim {
namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
// Event tags: a task id ends a kernel or delay; with this bit set, a comm id ends an operation.
constexpr std::uint64_t kCommTag = std::uint64_t{1} << 63;

class Run final : public EventHandler, public network::CommCompletionListener {
 public:
  Run(const TaskGraph& graph, const compute::ComputeModel& compute,
      network::CommunicationModel& network)
      : graph_(graph), compute_(compute), network_(network) {}

  ExecutionRecord execute(ExecutionStats* stats) {
    build_structure();
    engine_.add_resource_model(network_);
    engine_.reserve_events(graph_.task_count() / 4 + 16);
    for (std::uint32_t t = 0; t < waiting_.size(); ++t) {
      if (waiting_[t] == 0) became_ready(t);
    }
    engine_.run();
    if (finished_ != graph_.task_count()) throw_deadlock();
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
      for (TaskId member : c.members) finish(member.value, engine.now());
      if (priority_ended) start_parked();
    } else {
      finish(static_cast<std::uint32_t>(tag), engine.now());
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
    successors_.resize(graph_.edges().size());
    std::vector<std::uint32_t> fill(succ_offset_.begin(), succ_offset_.end() - 1);
    for (const auto& [before, after] : graph_.edges()) {
      successors_[fill[before.index()]++] = after.value;
    }
    arrived_.assign(graph_.comm_count(), 0);
    active_comm_.assign(graph_.rank_count(), 0);
    active_priority_.assign(graph_.rank_count(), 0);
    active_relay_.assign(graph_.rank_count(), 0);
    held_sms_.assign(graph_.rank_count(), 0);
    record_.source = "simulated";
    record_.description = fmt::format("compute={} network={}", compute_.name(), network_.name());
    record_.tasks.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const Task& t = graph_.tasks()[i];
      const TaskId id{i};
      record_.tasks[i] = TaskRecord{t.rank,
                                    t.stream,
                                    SimTime::zero(),
                                    SimTime::zero(),
                                    graph_.bytes_of(id),
                                    graph_.flops_of(id)};
    }
  }

  void became_ready(std::uint32_t task_index) {
    const Task& t = graph_.tasks()[task_index];
    const SimTime now = engine_.now();
    if (const auto* c = graph_.compute_of(t)) {
      const std::size_t r = t.rank.index();
      const compute::ComputeContext ctx{t.rank, active_comm_[r], active_relay_[r], held_sms_[r]};
      start_timed(task_index, now, compute_.duration(*c, ctx));
    } else if (const auto delay = graph_.delay_of(t)) {
      start_timed(task_index, now, *delay);
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
    network_.start(comm, record.op, now, *this);
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

  void start_timed(std::uint32_t task_index, SimTime now, SimTime duration) {
    record_.tasks[task_index].start = now;
    engine_.schedule_at(now + duration, *this, task_index);
  }

  void finish(std::uint32_t task_index, SimTime now) {
    record_.tasks[task_index].end = now;
    ++finished_;
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
  std::size_t finished_ = 0;
};

}  // namespace

ExecutionRecord SimulatedExecutor::run(const TaskGraph& graph, ExecutionStats* stats) {
  Run run(graph, compute_, network_);
  return run.execute(stats);
}

}  // namespace moesim
