#include "io/SafetensorsWriter.h"

#include "io/AtomicFile.h"
#include "io/SafetensorsDtype.h"
#include "lorafa/FormatError.h"

#include <c10/core/Layout.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <unordered_set>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; writing on a big-endian host needs byte swapping"
#endif

namespace lorafa {
namespace {

using Json = nlohmann::ordered_json;

std::string inQuotes(const std::string& name) { return "\"" + name + "\""; }

// The dtype string of each tensor, after checking everything that could make the file invalid.
std::vector<std::string> checkedDtypes(const std::string& path,
                                       const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::vector<std::string> dtypes;
  std::unordered_set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty()) {
      throw FormatError(path, "cannot write a tensor with an empty name");
    }
    if (name == "__metadata__") {
      throw FormatError(path, "cannot write a tensor named \"__metadata__\": the format reserves that key");
    }
    if (!seen.insert(name).second) {
      throw FormatError(path, "cannot write two tensors named " + inQuotes(name));
    }
    if (!tensor.defined()) {
      throw FormatError(path, "cannot write tensor " + inQuotes(name) + ": it is undefined");
    }
    if (tensor.layout() != c10::kStrided) {
      throw FormatError(path, "cannot write tensor " + inQuotes(name) + ": only dense tensors can be stored");
    }
    if (tensor.is_meta()) {
      throw FormatError(path,
                        "cannot write tensor " + inQuotes(name) + ": it is on the meta device (no data)");
    }
    const std::optional<std::string> dtype = safetensorsDtypeName(tensor.scalar_type());
    if (!dtype) {
      throw FormatError(path, "cannot write tensor " + inQuotes(name) + ": dtype " +
                                  std::string(c10::toString(tensor.scalar_type())) +
                                  " has no safetensors equivalent");
    }
    dtypes.push_back(*dtype);
  }
  return dtypes;
}

void writeAll(std::FILE* out, const void* data, std::size_t bytes, const std::string& path,
              const std::string& what) {
  if (bytes > 0 && std::fwrite(data, 1, bytes, out) != bytes) {
    const int error = errno != 0 ? errno : EIO;
    throw std::system_error(std::error_code(error, std::generic_category()),
                            path + ": writing " + what + " failed");
  }
}

} // namespace

void writeSafetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::vector<std::string> dtypes = checkedDtypes(path, tensors);

  Json header = Json::object();
  if (!metadata.empty()) {
    Json map = Json::object();
    for (const auto& [key, value] : metadata) {
      map[key] = value;
    }
    header["__metadata__"] = std::move(map);
  }
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& tensor = tensors[i].second;
    const auto bytes =
        static_cast<std::uint64_t>(tensor.numel()) * static_cast<std::uint64_t>(tensor.element_size());
    Json entry = Json::object();
    entry["dtype"] = dtypes[i];
    entry["shape"] = tensor.sizes().vec();
    entry["data_offsets"] = {offset, offset + bytes};
    header[tensors[i].first] = std::move(entry);
    offset += bytes;
  }

  std::string text;
  try {
    text = header.dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::type_error&) {
    throw FormatError(path, "a tensor name or metadata string is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' '); // the data then starts at a multiple of 8

  unsigned char length[8];
  for (int i = 0; i < 8; ++i) {
    length[i] = static_cast<unsigned char>((static_cast<std::uint64_t>(text.size()) >> (8 * i)) & 0xFF);
  }

  writeFileAtomically(path, [&](std::FILE* out) {
    writeAll(out, length, sizeof length, path, "the header length");
    writeAll(out, text.data(), text.size(), path, "the header");
    for (const auto& [name, tensor] : tensors) {
      // One tensor at a time on the CPU: a model on the GPU is never copied over all at once.
      const at::Tensor bytes = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous();
      writeAll(out, bytes.data_ptr(), static_cast<std::size_t>(bytes.nbytes()), path,
               "the data of tensor " + inQuotes(name));
    }
  });
}

} // namespace lorafa
