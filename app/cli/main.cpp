// `lorafa`: the engine, headless.
#include "lorafa/EngineInfo.h"
#include "lorafa/Version.h"

#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"LoRA-FA Studio command line: fine-tune language models with LoRA-FA, headless"};
  app.set_version_flag("--version", std::string("lorafa ") + lorafa::versionString());
  app.require_subcommand(1);
  CLI::App* info = app.add_subcommand("info", "Show the version, LibTorch build and compute devices");
  CLI11_PARSE(app, argc, argv);

  try {
    lorafa::configureComputeThreads();
    if (info->parsed()) {
      std::cout << lorafa::formatEngineInfo(lorafa::queryEngineInfo());
    }
  } catch (const std::exception& error) {
    std::cerr << "lorafa: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
