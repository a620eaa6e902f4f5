#include "sim/network/network_model_factory.hpp"

#include "sim/network/flow_network_model.hpp"

namespace moesim::network {

std::string_view to_string(NetworkModelKind kind) {
  return kind == NetworkModelKind::flow ? "flow" : "analytical";
}

std::optional<NetworkModelKind> parse_network_model_kind(std::string_view name) {
  if (name == "flow") return NetworkModelKind::flow;
  if (name == "analytical") return NetworkModelKind::analytical;
  return std::nullopt;
}

std::unique_ptr<CommunicationModel> make_communication_model(const Topology& topology,
                                                             NetworkModelKind kind,
                                                             const AnalyticalParams& params) {
  if (kind == NetworkModelKind::flow) {
    return std::make_unique<FlowNetworkModel>(topology, params.merged_collective());
  }
  return std::make_unique<AnalyticalNetworkModel>(topology, params);
}

}  // namespace moesim::network
