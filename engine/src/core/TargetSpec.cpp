#include "lorafa/ModelSummary.h"

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

namespace lorafa {
namespace {

bool matchesName(const std::string& path, const std::string& name) {
  return path == name ||
         (path.size() > name.size() && path.compare(path.size() - name.size(), name.size(), name) == 0 &&
          path[path.size() - name.size() - 1] == '.');
}

std::string availableNames(const std::vector<LinearModuleInfo>& linears) {
  std::vector<std::string> leaves;
  std::set<std::string> seen;
  for (const LinearModuleInfo& l : linears) {
    const std::string leaf = l.name.substr(l.name.rfind('.') == std::string::npos ? 0 : l.name.rfind('.') + 1);
    if (seen.insert(leaf).second) leaves.push_back(leaf);
  }
  std::ostringstream out;
  out << "available linear modules (" << linears.size() << "): ";
  for (std::size_t i = 0; i < leaves.size(); ++i) out << (i ? ", " : "") << leaves[i];
  if (!linears.empty()) out << "; e.g. " << linears.front().name;
  return out.str();
}

} // namespace

TargetSpec TargetSpec::parse(const std::string& text) {
  TargetSpec spec;
  std::string trimmed = text;
  trimmed.erase(0, trimmed.find_first_not_of(" \t"));
  trimmed.erase(trimmed.find_last_not_of(" \t") + 1);
  if (trimmed == "all-linear" || trimmed == "all_linear") {
    spec.kind = Kind::AllLinear;
    return spec;
  }
  if (trimmed.rfind("re:", 0) == 0 || trimmed.find_first_of("^$*+?()[]{}|\\") != std::string::npos) {
    spec.kind = Kind::Regex;
    spec.regex = trimmed.rfind("re:", 0) == 0 ? trimmed.substr(3) : trimmed;
    return spec;
  }
  std::string token;
  for (char c : trimmed + ",") {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!token.empty()) spec.names.push_back(token);
      token.clear();
    } else {
      token += c;
    }
  }
  if (spec.names.empty()) throw std::invalid_argument("no target modules given (e.g. q_proj,v_proj or all-linear)");
  return spec;
}

std::string TargetSpec::toString() const {
  switch (kind) {
  case Kind::AllLinear: return "all-linear";
  case Kind::Regex: return "re:" + regex;
  case Kind::Names: break;
  }
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + names[i];
  return out;
}

std::vector<std::string> matchTargets(const TargetSpec& spec, const std::vector<LinearModuleInfo>& linears) {
  std::regex pattern;
  if (spec.kind == TargetSpec::Kind::Regex) {
    try {
      pattern = std::regex(spec.regex, std::regex::ECMAScript);
    } catch (const std::regex_error& error) {
      throw std::invalid_argument("target pattern \"" + spec.regex + "\" is not a valid regular expression: " +
                                  error.what());
    }
  }
  std::vector<std::string> matched;
  for (const LinearModuleInfo& l : linears) {
    bool take = false;
    switch (spec.kind) {
    case TargetSpec::Kind::AllLinear: take = !l.isOutputHead; break;
    case TargetSpec::Kind::Regex: take = std::regex_match(l.name, pattern); break;
    case TargetSpec::Kind::Names:
      take = std::any_of(spec.names.begin(), spec.names.end(), [&](const std::string& n) { return matchesName(l.name, n); });
      break;
    }
    if (take) matched.push_back(l.name);
  }
  if (matched.empty()) {
    throw std::invalid_argument("target modules \"" + spec.toString() + "\" match no linear module; " +
                                availableNames(linears));
  }
  return matched;
}

} // namespace lorafa
