// The three kinds of failure, told apart by type:
//  - InputError: bad user input (file, flag, config). Says where, what, and what was expected.
//    The CLI prints "error: <what()>" and exits 2.
//  - SimulationError: the model itself cannot go on (deadlock, size outside calibration with no
//    fallback). The CLI exits 3.
//  - MOESIM_CHECK: a broken invariant, i.e. a bug. Throws InternalError naming file:line, in
//    every build; the CLI prints it with "please report" and exits 4. Never used for input.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace moesim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SimulationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A broken invariant (a bug in moesim, not in the input): thrown by MOESIM_CHECK.
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// The CLI's exit codes: each kind of failure has one.
enum class ExitCode : int {
  ok = 0,
  regression = 1,      ///< a check the user asked for failed (e.g. sweep --baseline)
  bad_input = 2,       ///< InputError and command-line usage errors
  model_failure = 3,   ///< SimulationError, and running out of memory
  internal_error = 4,  ///< InternalError or any other exception: a bug, "please report"
};

/// Builds the canonical input-error message:
///   "<file>: <json path>: <what was wrong> (got X, expected Y)".
/// `file` may be empty for command-line input, in which case the flag name goes into `path`.
InputError input_error(std::string_view file, std::string_view path, std::string_view what,
                       std::string_view got = {}, std::string_view expected = {});

[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& message);

}  // namespace moesim

#define MOESIM_CHECK(cond, ...)                                                      \
  do {                                                                               \
    if (!(cond)) [[unlikely]] {                                                      \
      ::moesim::check_failed(__FILE__, __LINE__, #cond, ::fmt::format(__VA_ARGS__)); \
    }                                                                                \
  } while (false)
