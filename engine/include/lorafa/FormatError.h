#pragma once

#include <stdexcept>
#include <string>

namespace lorafa {

/// A file (or directory) that cannot be used as it is: malformed, truncated, inconsistent or
/// holding something the engine does not support. what() is "<path>: <problem>", so a user sees
/// which file is wrong and why.
class FormatError : public std::runtime_error {
public:
  FormatError(std::string path, std::string problem);

  /// The file or directory at fault, as the caller named it.
  const std::string& path() const { return m_path; }
  /// What is wrong, without the path.
  const std::string& problem() const { return m_problem; }

private:
  std::string m_path;
  std::string m_problem;
};

} // namespace lorafa
