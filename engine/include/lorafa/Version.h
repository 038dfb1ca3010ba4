#pragma once

namespace lorafa {

/// The LoRA-FA Studio version, e.g. "0.1.0".
const char* versionString();

} // namespace lorafa
