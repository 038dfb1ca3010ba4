// libFuzzer's entry point for one target: LORAFA_FUZZ_ENTRY names a function of FuzzTargets.h.
#include "FuzzTargets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lorafa::fuzz::LORAFA_FUZZ_ENTRY(data, size);
}
