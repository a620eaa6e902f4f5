// make_communication_model: the one place a network model is chosen by kind (per run, from the
// CLI's --model or a job file). The topology must outlive the model.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "sim/network/analytical_network_model.hpp"
#include "sim/network/communication_model.hpp"
#include "sim/network/topology.hpp"

namespace moesim::network {

enum class NetworkModelKind : std::uint8_t { flow, analytical };
std::string_view to_string(NetworkModelKind kind);
std::optional<NetworkModelKind> parse_network_model_kind(std::string_view name);

std::unique_ptr<CommunicationModel> make_communication_model(const Topology& topology,
                                                             NetworkModelKind kind,
                                                             const AnalyticalParams& params = {});

}  // namespace moesim::network
