// How subcommands plug into the moesim CLI: each subcommand lives in its own file and exposes a
// register function; main.cpp calls them all (the one list of subcommands). A subcommand's
// callback does its work and reports failures by throwing InputError (exit 2) or
// SimulationError (exit 3); main.cpp turns those into "error: ..." and the exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace moesim::app {

void register_simulate_command(CLI::App& root);
void register_calibrate_command(CLI::App& root);

}  // namespace moesim::app
