#include "lorafa/FormatError.h"

#include <utility>

namespace lorafa {

FormatError::FormatError(std::string path, std::string problem)
    : std::runtime_error(path + ": " + problem), m_path(std::move(path)), m_problem(std::move(problem)) {}

} // namespace lorafa
