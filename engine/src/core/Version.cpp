#include "lorafa/Version.h"

namespace lorafa {

const char* versionString() { return LORAFA_VERSION; }

} // namespace lorafa
