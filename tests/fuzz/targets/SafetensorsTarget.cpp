// A whole safetensors file: the length prefix, the JSON header and the data buffer. What a file
// that passes the header checks promises (every tensor inside the buffer, sizes that match) is
// checked by touching every byte of every tensor: a wrong extent reads outside the input, which
// AddressSanitizer reports.
#include "FuzzTargets.h"

#include "io/SafetensorsHeader.h"
#include "lorafa/FormatError.h"

#include <cstdlib>

namespace lorafa::fuzz {

int safetensors(const std::uint8_t* data, std::size_t size) {
  try {
    const SafetensorsHeader header = parseSafetensorsHeader(data, size, "fuzz.safetensors");
    unsigned sum = 0;
    for (const SafetensorsTensorInfo& tensor : header.tensors) {
      const std::uint8_t* begin = data + header.dataOffset + tensor.begin;
      const std::uint8_t* end = data + header.dataOffset + tensor.end;
      for (const std::uint8_t* p = begin; p < end; ++p) sum += *p;
      if (header.indexByName.at(tensor.name) >= header.tensors.size()) std::abort();
    }
    if (header.dataOffset > size) std::abort();
    static volatile unsigned sink = 0;
    sink = sink + sum;
  } catch (const FormatError&) {
  }
  return 0;
}

} // namespace lorafa::fuzz
