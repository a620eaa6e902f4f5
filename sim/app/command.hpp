// How subcommands plug into the moesim CLI: each subcommand lives in its own file and exposes a
// register function; main.cpp calls them all (the one list of subcommands). A subcommand's
// callback does its work and reports failures by throwing InputError (exit 2) or
// SimulationError (exit 3); main.cpp turns those into "error: ..." and the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>

namespace moesim::app {

/// Ends a command with a specific exit code and a message that is not an error of the input or
/// the model, e.g. `moesim sweep --baseline` finding regressions (exit 1).
class CommandExit : public std::runtime_error {
 public:
  CommandExit(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

void register_simulate_command(CLI::App& root);
void register_topology_command(CLI::App& root);
void register_collective_command(CLI::App& root);
void register_run_command(CLI::App& root);
void register_compare_command(CLI::App& root);
void register_sweep_command(CLI::App& root);
void register_run_case_command(CLI::App& root);
void register_execute_command(CLI::App& root);
void register_validate_command(CLI::App& root);
void register_calibrate_command(CLI::App& root);
void register_reproduce_command(CLI::App& root);
void register_routing_command(CLI::App& root);
void register_export_command(CLI::App& root);
void register_report_command(CLI::App& root);

}  // namespace moesim::app
