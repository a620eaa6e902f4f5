// TaskGraph: every kernel and every communication of every rank for one training iteration, with
// the stream each runs on and the dependencies between them. It is the contract between the
// strategies that build it and the executors (simulated and hardware) that run it.
//
// Semantics (those of CUDA streams and events):
//  - a stream of a rank runs its tasks one at a time, in the order they were added;
//  - depend(a, b) makes b wait for a's end, across streams and ranks (a CUDA event);
//  - the member tasks of one CommOp start together once all members are ready, and end together.
// Names, stream names, per-expert token counts and kernels are interned: the same op on 1024
// ranks stores its name and its kernel once, and equal routing counts are stored once. A task
// itself is 24 bytes (which rank, stream, name, phase and layer, and an index to its body), so a
// 20 M-task iteration fits in a few GB.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/workload/comm_op.hpp"
#include "sim/workload/task.hpp"

namespace moesim {

/// One task. Its body is resolved through the graph: TaskGraph::compute_of(), comm_of(),
/// delay_of().
struct Task {
  std::uint32_t name = 0;  ///< index into TaskGraph::names()
  RankId rank;
  StreamId stream;
  std::int32_t layer = -1;  ///< transformer layer, -1 if none
  Phase phase = Phase::other;
  TaskKind kind = TaskKind::compute;
  /// compute: index of the interned kernel; comm: the CommId; delay: index of the duration.
  std::uint32_t body = 0;
};
static_assert(sizeof(Task) == 24, "a task is 24 bytes: 20 M of them are one iteration's graph");

struct CommRecord {
  std::uint32_t name = 0;
  /// Low priority: once every member is ready it still waits until no other (non-yielding)
  /// operation runs on any of its ranks, and then runs to its end (Lina, USENIX ATC 2023:
  /// gradient all-reduce chunks that give way to all-to-alls at chunk boundaries). Next to
  /// `name`, in its padding: no bytes added per operation.
  bool yields = false;
  CommOp op;
  std::vector<TaskId> members;  ///< one per rank of op.ranks, same order
};

/// Optional fields of a new task.
struct TaskInfo {
  Phase phase = Phase::other;
  std::int32_t layer = -1;
};

/// Told as a graph grows, so that a build of tens of millions of tasks (DeepSeek-V3 on 8,192
/// GPUs: 90 M tasks, about 25 s) can show that it is under way.
class TaskGraphGrowthListener {
 public:
  virtual ~TaskGraphGrowthListener() = default;
  /// The graph now holds `tasks` tasks (a multiple of TaskGraph::kGrowthReportTasks).
  virtual void tasks_added(std::size_t tasks) = 0;
};

class TaskGraph {
 public:
  explicit TaskGraph(std::uint32_t rank_count = 0) : rank_count_(rank_count) {}

  std::uint32_t rank_count() const { return rank_count_; }
  void set_rank_count(std::uint32_t n) { rank_count_ = n; }

  /// Tasks between two reports to the growth listener.
  static constexpr std::size_t kGrowthReportTasks = std::size_t{1} << 20;
  /// Tells `listener` each time the graph reaches a multiple of kGrowthReportTasks tasks; null
  /// tells nobody. Whoever attaches one detaches it before it goes (copies of the graph keep
  /// the pointer).
  void set_growth_listener(TaskGraphGrowthListener* listener) { growth_ = listener; }

  /// Interns a stream name ("compute", "comm.inter", ...).
  StreamId stream(std::string_view name);
  std::optional<StreamId> find_stream(std::string_view name) const;

  TaskId add_compute(std::string_view name, RankId rank, StreamId stream, const ComputeTask& task,
                     TaskInfo info = {});
  TaskId add_delay(std::string_view name, RankId rank, StreamId stream, SimTime duration,
                   TaskInfo info = {});
  /// Declares a communication operation; its member tasks are added with add_comm_member().
  CommId add_comm(std::string_view name, CommOp op);
  /// Adds `rank`'s part in `comm` on `stream`. Each rank of the op must be added exactly once.
  TaskId add_comm_member(CommId comm, RankId rank, StreamId stream, TaskInfo info = {});
  /// Declares `op` and adds every member on the same-named stream; returns the member tasks in
  /// the order of op.ranks.
  std::vector<TaskId> add_collective(std::string_view name, CommOp op, StreamId stream,
                                     TaskInfo info = {});

  /// Marks `comm` low priority (CommRecord::yields).
  void set_yields(CommId comm) { comms_[comm.index()].yields = true; }

  /// `after` starts only once `before` has ended.
  void depend(TaskId before, TaskId after);

  /// Room for `tasks` tasks and `edges` edges up front, so that a large graph is not copied
  /// while its vectors grow (the copy doubled the peak memory of a 20 M-task iteration); pages
  /// reserved beyond what is used are never touched.
  void reserve(std::size_t tasks, std::size_t edges) {
    tasks_.reserve(tasks);
    edges_.reserve(edges);
  }

  std::size_t task_count() const { return tasks_.size(); }
  std::size_t comm_count() const { return comms_.size(); }
  const Task& task(TaskId id) const { return tasks_[id.index()]; }
  const std::vector<Task>& tasks() const { return tasks_; }
  const CommRecord& comm(CommId id) const { return comms_[id.index()]; }
  const std::vector<CommRecord>& comms() const { return comms_; }
  const std::vector<std::pair<TaskId, TaskId>>& edges() const { return edges_; }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<std::string>& stream_names() const { return stream_names_; }
  std::string_view name_of(TaskId id) const { return names_[tasks_[id.index()].name]; }

  /// The kernel of a compute task (shared by every task of equal kernel), nullptr otherwise.
  const ComputeTask* compute_of(const Task& t) const {
    return t.kind == TaskKind::compute ? &compute_bodies_[t.body] : nullptr;
  }
  const ComputeTask* compute_of(TaskId id) const { return compute_of(task(id)); }
  /// The operation a communication member takes part in, nullopt for other tasks.
  std::optional<CommId> comm_of(const Task& t) const {
    if (t.kind != TaskKind::comm) return std::nullopt;
    return CommId{t.body};
  }
  std::optional<CommId> comm_of(TaskId id) const { return comm_of(task(id)); }
  /// The span of a delay task, nullopt for other tasks.
  std::optional<SimTime> delay_of(const Task& t) const {
    if (t.kind != TaskKind::delay) return std::nullopt;
    return delays_[t.body];
  }
  std::optional<SimTime> delay_of(TaskId id) const { return delay_of(task(id)); }
  /// Distinct kernels of the graph (what compute tasks index).
  std::size_t distinct_kernel_count() const { return compute_bodies_.size(); }
  std::string_view stream_name(StreamId id) const { return stream_names_[id.index()]; }

  /// Bytes and flops a task accounts for (for a comm member: the op's size).
  Bytes bytes_of(TaskId id) const;
  Flops flops_of(TaskId id) const;

  /// Checks structural validity: ranks in range, every comm complete (one member per rank of its
  /// group, no duplicates), matrices sized to the group. Throws InputError naming the task.
  void validate() const;

 private:
  std::uint32_t intern_name(std::string_view name);
  TaskId push(std::uint32_t name, RankId rank, StreamId stream, TaskInfo info, TaskKind kind,
              std::uint32_t body);
  /// Index of the stored kernel equal to `task` (added on first sight).
  std::uint32_t intern_kernel(const ComputeTask& task);
  /// The stored copy of `counts` equal to it (added on first sight), so that every permute and
  /// unpermute of the same routing shares one vector.
  TokenCounts intern_counts(const TokenCounts& counts);

  std::uint32_t rank_count_ = 0;
  std::vector<Task> tasks_;
  std::vector<CommRecord> comms_;
  std::vector<std::pair<TaskId, TaskId>> edges_;
  std::vector<std::string> names_;
  /// Hashes a name as a string_view, so that looking one up does not build a std::string (one
  /// lookup per task: 22.6 M on DeepSeek-V3 at 2,048 GPUs).
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
      return std::hash<std::string_view>{}(name);
    }
  };
  std::unordered_map<std::string, std::uint32_t, NameHash, std::equal_to<>> name_index_;
  std::vector<std::string> stream_names_;
  /// Interned per-expert counts, bucketed by a hash of their values.
  std::unordered_map<std::uint64_t, std::vector<TokenCounts>> counts_pool_;
  /// Distinct kernels; a deque so that growing never copies them (nor moves a returned pointer).
  std::deque<ComputeTask> compute_bodies_;
  /// Open-addressing index of compute_bodies_ by kernel hash (kEmptySlot where unused; the size
  /// a power of two at most half full).
  std::vector<std::uint32_t> kernel_slots_;
  std::vector<SimTime> delays_;
  TaskGraphGrowthListener* growth_ = nullptr;
};

}  // namespace moesim
