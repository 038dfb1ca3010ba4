#pragma once

// The fuzz targets' entry points. Each takes one input, runs it through a parser and returns 0;
// the typed errors the parser documents for bad input (FormatError, DataError, ConfigError,
// Pcre2LimitError) are caught inside, so anything that escapes — another exception, a crash,
// undefined behaviour, a leak, a hang — is a finding. The same functions run under libFuzzer
// (FuzzMain.cpp) and in the normal build's test_fuzz_replay over the seeds and the regressions.

#include <cstddef>
#include <cstdint>

namespace lorafa::fuzz {

int safetensors(const std::uint8_t* data, std::size_t size);
int modelConfig(const std::uint8_t* data, std::size_t size);
int tokenizer(const std::uint8_t* data, std::size_t size);
int datasetJson(const std::uint8_t* data, std::size_t size);
int datasetCsv(const std::uint8_t* data, std::size_t size);
int adapterConfig(const std::uint8_t* data, std::size_t size);
int runConfig(const std::uint8_t* data, std::size_t size);

} // namespace lorafa::fuzz
