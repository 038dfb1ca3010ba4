// Dataset files: JSON Lines / a JSON array, and CSV / TSV, through loadDataset with format
// detection, skipping bad records (so the records after a bad one are read too), then the same
// file again stopping at the first bad record.
#include "FuzzTargets.h"
#include "MemoryFile.h"

#include "lorafa/DataError.h"
#include "lorafa/Dataset.h"
#include "lorafa/FormatError.h"

#include <string_view>

namespace lorafa::fuzz {
namespace {

void load(const std::string& path, DatasetFileType type) {
  for (const OnError policy : {OnError::Skip, OnError::Stop}) {
    DatasetOptions options;
    options.fileType = type;
    options.onError = policy;
    try {
      const Dataset dataset = loadDataset(path, options);
      for (const Example& example : dataset.examples) {
        if (example.label >= 0 && static_cast<std::size_t>(example.label) >= dataset.labelNames.size()) {
          std::abort(); // a label id without a name
        }
      }
    } catch (const FormatError&) { // DataError is a FormatError
    }
  }
}

} // namespace

int datasetJson(const std::uint8_t* data, std::size_t size) {
  // As loadDataset decides for a .json file: an array when the text starts with '['.
  std::size_t i = 0;
  while (i < size && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t')) ++i;
  load(memoryFile(data, size), i < size && data[i] == '[' ? DatasetFileType::JsonArray : DatasetFileType::JsonLines);
  return 0;
}

int datasetCsv(const std::uint8_t* data, std::size_t size) {
  // Tab-separated when the first line has a tab and no comma.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string_view firstLine = text.substr(0, text.find('\n'));
  const bool tabs = firstLine.find('\t') != std::string_view::npos && firstLine.find(',') == std::string_view::npos;
  load(memoryFile(data, size), tabs ? DatasetFileType::Tsv : DatasetFileType::Csv);
  return 0;
}

} // namespace lorafa::fuzz
