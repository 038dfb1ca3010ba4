#include "ModuleTreePattern.h"

#include <QStringList>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

namespace lorafa::ui {
namespace {

bool isNumber(const QString& segment) {
  if (segment.isEmpty()) return false;
  return std::all_of(segment.begin(), segment.end(), [](QChar c) { return c.isDigit(); });
}

QString escaped(const QString& text) {
  QString out;
  for (QChar c : text) {
    if (QStringLiteral("\\^$.|?*+()[]{}").contains(c)) out += QLatin1Char('\\');
    out += c;
  }
  return out;
}

/// The last `count` dot-separated segments of `path` (all of it when it has fewer).
QString suffix(const QStringList& segments, int count) {
  const int from = std::max(0, static_cast<int>(segments.size()) - count);
  return segments.mid(from).join(QLatin1Char('.'));
}

/// "[2-5]" for a run of single digits, else "0|1|7".
QString numbersPattern(const std::vector<int>& numbers) {
  const bool contiguous = numbers.back() - numbers.front() + 1 == static_cast<int>(numbers.size());
  if (numbers.size() == 1) return QString::number(numbers.front());
  if (contiguous && numbers.back() <= 9)
    return QStringLiteral("[%1-%2]").arg(numbers.front()).arg(numbers.back());
  QStringList parts;
  for (int n : numbers)
    parts << QString::number(n);
  return QLatin1Char('(') + parts.join(QLatin1Char('|')) + QLatin1Char(')');
}

} // namespace

ModulePlace placeOf(const std::string& path) {
  const QStringList segments = QString::fromStdString(path).split(QLatin1Char('.'));
  ModulePlace place;
  int rest = 0;
  for (int i = 0; i < segments.size(); ++i) {
    if (isNumber(segments[i])) {
      place.layer = segments.mid(0, i + 1).join(QLatin1Char('.'));
      rest = i + 1;
      break;
    }
  }
  const QStringList local = segments.mid(rest);
  place.local = local.join(QLatin1Char('.'));
  place.group = QStringLiteral("other");
  // Attention first: BERT's attention.output.dense is attention although "output" is in it.
  for (const QString& s : local) {
    const QString l = s.toLower();
    if (l.contains(QLatin1String("attn")) || l.contains(QLatin1String("attention"))) {
      place.group = QStringLiteral("attention");
      return place;
    }
  }
  static const QStringList mlpNames{"mlp", "densereludense", "intermediate", "output", "ffn", "feed_forward",
                                    "ff"};
  for (const QString& s : local) {
    if (mlpNames.contains(s.toLower())) {
      place.group = QStringLiteral("MLP");
      return place;
    }
  }
  return place;
}

QString patternForSelection(const std::vector<LinearModuleInfo>& modules,
                            const std::vector<std::string>& selected) {
  const std::set<std::string> wanted(selected.begin(), selected.end());
  if (wanted.empty()) return {};
  std::vector<std::string> ordered; // the selection in model order
  for (const LinearModuleInfo& m : modules) {
    if (wanted.count(m.name) != 0) ordered.push_back(m.name);
  }
  const auto selectsExactly = [&](const QString& text) {
    try {
      const std::vector<std::string> matched = matchTargets(TargetSpec::parse(text.toStdString()), modules);
      return std::set<std::string>(matched.begin(), matched.end()) == wanted;
    } catch (const std::exception&) {
      return false;
    }
  };
  if (selectsExactly(QStringLiteral("all-linear"))) return QStringLiteral("all-linear");

  std::vector<QString> candidates;
  // Names (dotted suffixes) of growing length: "q_proj", then "self_attn.q_proj", ...
  int deepest = 1;
  for (const std::string& path : ordered) {
    deepest = std::max(deepest, static_cast<int>(QString::fromStdString(path).count(QLatin1Char('.'))) + 1);
  }
  for (int depth = 1; depth <= deepest; ++depth) {
    QStringList names;
    bool numbered = false; // a name with a layer number in it reads worse than a path or a regex
    for (const std::string& path : ordered) {
      const QStringList segments = QString::fromStdString(path).split(QLatin1Char('.'));
      const QString name = suffix(segments, depth);
      numbered = numbered || std::any_of(segments.end() - std::min(depth, static_cast<int>(segments.size())),
                                         segments.end(), isNumber);
      if (!names.contains(name)) names << name;
    }
    if (numbered) break;
    const QString text = names.join(QLatin1Char(','));
    if (selectsExactly(text)) {
      candidates.push_back(text);
      break;
    }
  }

  // The same local modules in a set of layers: ^model\.layers\.[0-2]\.(self_attn\.q_proj)$.
  QString base;
  std::set<int> numbers;
  QStringList locals;
  bool layered = true;
  for (const std::string& path : ordered) {
    const ModulePlace place = placeOf(path);
    if (place.layer.isEmpty()) {
      layered = false;
      break;
    }
    const int dot = place.layer.lastIndexOf(QLatin1Char('.'));
    const QString layerBase = dot < 0 ? QString() : place.layer.left(dot);
    if (!base.isNull() && layerBase != base) {
      layered = false;
      break;
    }
    base = layerBase;
    numbers.insert(place.layer.mid(dot + 1).toInt());
    if (!locals.contains(place.local)) locals << place.local;
  }
  if (layered && !base.isEmpty() && !locals.isEmpty()) {
    QStringList alternatives;
    for (const QString& l : locals)
      alternatives << escaped(l);
    const QString localPattern =
        alternatives.size() == 1 ? alternatives.front()
                                 : QLatin1Char('(') + alternatives.join(QLatin1Char('|')) + QLatin1Char(')');
    const QString text = QLatin1Char('^') + escaped(base) + QStringLiteral("\\.") +
                         numbersPattern(std::vector<int>(numbers.begin(), numbers.end())) +
                         QStringLiteral("\\.") + localPattern + QLatin1Char('$');
    if (selectsExactly(text)) candidates.push_back(text);
  }

  QStringList paths;
  for (const std::string& path : ordered)
    paths << QString::fromStdString(path);
  const QString list = paths.join(QLatin1Char(','));
  if (selectsExactly(list)) {
    candidates.push_back(list);
  } else {
    QStringList alternatives;
    for (const QString& p : paths)
      alternatives << escaped(p);
    candidates.push_back(QStringLiteral("^(") + alternatives.join(QLatin1Char('|')) + QStringLiteral(")$"));
  }
  return *std::min_element(candidates.begin(), candidates.end(),
                           [](const QString& a, const QString& b) { return a.size() < b.size(); });
}

} // namespace lorafa::ui
