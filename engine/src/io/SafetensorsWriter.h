#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lorafa {

/// Writes `tensors` as a safetensors file at `path`, replacing any file there atomically (see
/// writeFileAtomically): a failure leaves the previous file as it was.
///
/// Layout: the header lists "__metadata__" first (omitted when `metadata` is empty), then the
/// tensors in the order given, and their data follows contiguously in that same order. The header
/// is padded with spaces so that the data starts at a multiple of 8 bytes. Tensors on any device,
/// of any strides, are written as row-major little-endian bytes (copied to the CPU one at a time).
///
/// Throws FormatError naming `path` before anything is written when a name is empty, repeated or
/// "__metadata__", when a tensor is undefined, sparse or on the meta device, when its dtype has no
/// safetensors equivalent (e.g. complex double, quantized types), or when a name or a metadata
/// string is not valid UTF-8. I/O failures throw std::system_error (see writeFileAtomically).
void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

} // namespace lorafa
