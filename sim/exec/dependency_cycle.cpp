#include "sim/exec/dependency_cycle.hpp"

#include <map>
#include <utility>

namespace moesim {
namespace {

// Node of the merged graph: a comm op stands for all its member tasks.
struct MergedGraph {
  std::vector<std::uint32_t> node_of_task;
  std::vector<TaskId> representative;  // a task of each node, for messages
  std::vector<std::vector<std::uint32_t>> successors;
};

MergedGraph merge(const TaskGraph& graph) {
  MergedGraph m;
  const std::size_t n = graph.task_count();
  m.node_of_task.assign(n, 0);
  std::vector<std::int64_t> node_of_comm(graph.comm_count(), -1);
  for (std::size_t i = 0; i < n; ++i) {
    const Task& t = graph.tasks()[i];
    if (const auto c = graph.comm_of(t)) {
      auto& node = node_of_comm[c->index()];
      if (node < 0) {
        node = static_cast<std::int64_t>(m.representative.size());
        m.representative.push_back(TaskId{static_cast<std::uint32_t>(i)});
      }
      m.node_of_task[i] = static_cast<std::uint32_t>(node);
    } else {
      m.node_of_task[i] = static_cast<std::uint32_t>(m.representative.size());
      m.representative.push_back(TaskId{static_cast<std::uint32_t>(i)});
    }
  }
  m.successors.resize(m.representative.size());
  auto add = [&](std::size_t a, std::size_t b) {
    const auto na = m.node_of_task[a];
    const auto nb = m.node_of_task[b];
    m.successors[na].push_back(nb);
  };
  for (const auto& [before, after] : graph.edges()) add(before.index(), after.index());
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::size_t> last_on_stream;
  for (std::size_t i = 0; i < n; ++i) {
    const Task& t = graph.tasks()[i];
    auto [it, fresh] = last_on_stream.try_emplace({t.rank.value, t.stream.value}, i);
    if (!fresh) {
      add(it->second, i);
      it->second = i;
    }
  }
  return m;
}

}  // namespace

std::optional<std::vector<TaskId>> find_dependency_cycle(const TaskGraph& graph) {
  const MergedGraph m = merge(graph);
  const std::size_t n = m.successors.size();
  // Iterative three-colour DFS; the grey path is the cycle when a grey node is met again.
  enum : std::uint8_t { white, grey, black };
  std::vector<std::uint8_t> colour(n, white);
  std::vector<std::uint32_t> parent(n, 0);
  std::vector<std::pair<std::uint32_t, std::size_t>> stack;
  for (std::uint32_t root = 0; root < n; ++root) {
    if (colour[root] != white) continue;
    stack.push_back({root, 0});
    colour[root] = grey;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next == m.successors[node].size()) {
        colour[node] = black;
        stack.pop_back();
        continue;
      }
      const std::uint32_t succ = m.successors[node][next++];
      if (colour[succ] == white) {
        colour[succ] = grey;
        parent[succ] = node;
        stack.push_back({succ, 0});
      } else if (colour[succ] == grey) {
        std::vector<TaskId> cycle;
        for (std::uint32_t v = node; v != succ; v = parent[v]) cycle.push_back(m.representative[v]);
        cycle.push_back(m.representative[succ]);
        return std::vector<TaskId>(cycle.rbegin(), cycle.rend());
      }
    }
  }
  return std::nullopt;
}

}  // namespace moesim
