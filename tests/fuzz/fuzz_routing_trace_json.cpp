// libFuzzer target: routing trace JSON (--routing FILE.json).
#include <cstddef>
#include <cstdint>

#include "sim/io/routing_trace.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse(
      [&] { (void)moesim::io::routing_trace_from_json_text(text, "fuzz.json"); });
}
