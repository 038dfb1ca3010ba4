// `lorafa`: the engine, headless.
#include "TokenizeCommand.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/ModelInspector.h"
#include "lorafa/Version.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <map>

namespace {

std::string millions(std::int64_t count) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2fM", static_cast<double>(count) / 1e6);
  return text;
}

void printInspection(const lorafa::ModelInspection& inspection, const std::string& targets) {
  const lorafa::ModelSummary& s = inspection.summary;
  std::cout << "architecture: " << s.architecture << " (model_type " << s.modelType << ", family " << s.family << ")\n"
            << "parameters: " << s.totalParameters << " (" << millions(s.totalParameters) << ")\n"
            << "layers: " << s.numLayers << ", hidden size: " << s.hiddenSize << ", vocabulary: " << s.vocabSize
            << "\n"
            << "linear modules: " << s.linears.size() << "\n";
  // One line per distinct module name and shape: the target picker's view.
  std::map<std::string, std::pair<std::string, int>> kinds;
  std::vector<std::string> order;
  for (const lorafa::LinearModuleInfo& l : s.linears) {
    const std::string leaf = l.name.substr(l.name.rfind('.') == std::string::npos ? 0 : l.name.rfind('.') + 1);
    const std::string key = leaf + " [" + std::to_string(l.outFeatures) + ", " + std::to_string(l.inFeatures) + "]";
    if (kinds.count(key) == 0) {
      order.push_back(key);
      kinds[key] = {l.isOutputHead ? " (output head)" : "", 0};
    }
    ++kinds[key].second;
  }
  for (const std::string& key : order) {
    std::cout << "  " << key << " x" << kinds[key].second << kinds[key].first << "\n";
  }
  for (const std::string& name : inspection.unusedTensors) {
    std::cout << "note: checkpoint tensor not used by " << s.architecture << ": " << name << "\n";
  }
  if (!targets.empty()) {
    const auto matched = lorafa::matchTargets(lorafa::TargetSpec::parse(targets), s.linears);
    std::cout << "targets \"" << targets << "\" match " << matched.size() << " modules:\n";
    for (const std::string& name : matched) std::cout << "  " << name << "\n";
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"LoRA-FA Studio command line: fine-tune language models with LoRA-FA, headless"};
  app.set_version_flag("--version", std::string("lorafa ") + lorafa::versionString());
  app.require_subcommand(1);
  CLI::App* info = app.add_subcommand("info", "Show the version, LibTorch build and compute devices");
  CLI::App* inspect = app.add_subcommand("inspect", "Describe a Hugging Face model directory without loading its weights");
  std::string modelDir;
  std::string targets;
  inspect->add_option("model", modelDir, "directory with config.json and model.safetensors")->required();
  inspect->add_option("--targets", targets, "show which modules these adapter targets select (q_proj,v_proj | all-linear | regex)");
  CLI::App* tokenize = app.add_subcommand("tokenize", "Text to token ids (JSON Lines {\"text\": ...} in, one line of ids out) or back with --decode");
  lorafa::cli::TokenizeOptions tokenizeOptions;
  tokenize->add_option("--tokenizer", tokenizeOptions.tokenizerPath, "tokenizer.json, or a directory with one")->required();
  tokenize->add_option("--input", tokenizeOptions.inputPath, "JSON Lines file (default: standard input as one text; with --decode, lines of ids)");
  tokenize->add_flag("--decode", tokenizeOptions.decode, "read lines of ids (or {\"ids\": [...]}) and print {\"text\": ...} lines");
  tokenize->add_flag("--no-special", tokenizeOptions.noSpecial, "no BOS/CLS/SEP when encoding; skip special tokens when decoding");
  CLI11_PARSE(app, argc, argv);

  try {
    lorafa::configureComputeThreads();
    if (info->parsed()) {
      std::cout << lorafa::formatEngineInfo(lorafa::queryEngineInfo());
    } else if (inspect->parsed()) {
      printInspection(lorafa::inspectModelDirectory(modelDir), targets);
    } else if (tokenize->parsed()) {
      lorafa::cli::runTokenize(tokenizeOptions, std::cin, std::cout);
    }
  } catch (const std::exception& error) {
    std::cerr << "lorafa: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
