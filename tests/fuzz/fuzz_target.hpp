// The contract every libFuzzer target in this folder checks: a parser given any bytes either
// returns or throws InputError. Anything else (another exception, a crash, a sanitizer report,
// a hang) is a finding. libFuzzer reports an escaping exception as a crash (deadly signal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sim/core/errors.hpp"

namespace moesim::fuzz {

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// Runs `parse` on the input; InputError is the expected way to refuse it.
template <typename Parse>
int accept_or_refuse(Parse&& parse) {
  try {
    parse();
  } catch (const InputError&) {
  }
  return 0;
}

}  // namespace moesim::fuzz
