// libFuzzer target: model JSON (traces/models, --model FILE).
#include <cstddef>
#include <cstdint>

#include "sim/io/model_json.hpp"
#include "tests/fuzz/fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = moesim::fuzz::text_of(data, size);
  return moesim::fuzz::accept_or_refuse(
      [&] { (void)moesim::io::model_from_json_text(text, "fuzz.json"); });
}
