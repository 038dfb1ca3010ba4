// `lorafa`: the engine, headless.
#include "ExportCommand.h"
#include "EstimateCommand.h"
#include "LaunchCommand.h"
#include "ModelsCommand.h"
#include "TokenizeCommand.h"
#include "TokenizerTrainCommand.h"
#include "TrainCommand.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/FaultInjection.h"
#include "lorafa/ModelInspector.h"
#include "lorafa/Version.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <unistd.h>

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
  CLI::App* estimate = app.add_subcommand("estimate", "Predict the peak memory of a run configuration for full, LoRA and LoRA-FA");
  lorafa::cli::EstimateOptions estimateOptions;
  estimate->add_option("config", estimateOptions.configPath, "run configuration file (its model folder's config.json is read)")->required();
  estimate->add_option("--device", estimateOptions.device, "cpu (default) or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  estimate->add_option("--capacity", estimateOptions.capacityBytes, "memory available, in bytes: say what fits and the largest batch, sequence and rank that do")
      ->check(CLI::NonNegativeNumber);
  estimate->footer("Example: lorafa estimate resources/examples/demo-kjv-lora-fa.yaml --capacity 8000000000");
  CLI::App* tokenize = app.add_subcommand("tokenize", "Text to token ids (JSON Lines {\"text\": ...} in, one line of ids out) or back with --decode");
  lorafa::cli::TokenizeOptions tokenizeOptions;
  tokenize->add_option("--tokenizer", tokenizeOptions.tokenizerPath, "tokenizer.json, or a directory with one")->required();
  tokenize->add_option("--input", tokenizeOptions.inputPath, "JSON Lines file (default: standard input as one text; with --decode, lines of ids)");
  tokenize->add_flag("--decode", tokenizeOptions.decode, "read lines of ids (or {\"ids\": [...]}) and print {\"text\": ...} lines");
  tokenize->add_flag("--no-special", tokenizeOptions.noSpecial, "no BOS/CLS/SEP when encoding; skip special tokens when decoding");
  CLI::App* tokenizerTrain = app.add_subcommand("tokenizer-train", "Train a byte-level BPE tokenizer on UTF-8 text files (writes tokenizer.json + tokenizer_config.json)");
  lorafa::cli::TokenizerTrainOptions tokenizerTrainOptions;
  tokenizerTrain->add_option("--input", tokenizerTrainOptions.inputs, "UTF-8 text files (read line by line)")->required();
  tokenizerTrain->add_option("--output", tokenizerTrainOptions.outputDir, "folder for tokenizer.json and tokenizer_config.json")->required();
  tokenizerTrain->add_option("--vocab-size", tokenizerTrainOptions.vocabSize, "vocabulary size, special tokens included (default 8192)");
  tokenizerTrain->add_option("--min-frequency", tokenizerTrainOptions.minFrequency, "never merge a pair seen fewer times (default 2)");
  tokenizerTrain->add_option("--special", tokenizerTrainOptions.specialTokens, "special tokens, ids 0, 1, ... in order (default <s> </s> <pad>)");
  tokenizerTrain->add_option("--bos", tokenizerTrainOptions.bosToken, "BOS token (default <s> if special; none: no BOS)");
  tokenizerTrain->add_option("--eos", tokenizerTrainOptions.eosToken, "EOS token (default </s> if special; none: no EOS)");
  tokenizerTrain->add_option("--pad", tokenizerTrainOptions.padToken, "padding token (default <pad> if special; none: no padding token)");
  tokenizerTrain->add_flag("--no-bos", tokenizerTrainOptions.noBos, "do not prepend BOS when encoding with special tokens");
  tokenizerTrain->add_option("--pre-tokenizer", tokenizerTrainOptions.preTokenizer, "word split: llama3 (default) or gpt2");
  tokenizerTrain->add_option("--model-max-length", tokenizerTrainOptions.modelMaxLength, "tokenizer_config.json model_max_length (default 2048)");
  tokenizerTrain->add_option("--threads", tokenizerTrainOptions.threads, "threads counting words (default: all cores, at most 8)");
  tokenizerTrain->add_flag("--force", tokenizerTrainOptions.force, "write into a non-empty output folder");
  tokenizerTrain->footer("Example: lorafa tokenizer-train --input corpus.txt --vocab-size 4096 --output my-tokenizer");
  CLI::App* train = app.add_subcommand("train", "Train from a run configuration (YAML or JSON; see resources/examples)");
  lorafa::cli::TrainCommandOptions trainOptions;
  train->add_option("config", trainOptions.configPath, "run configuration file")->required();
  train->add_option("--store", trainOptions.storePath, "run history database (default: $XDG_DATA_HOME/lorafa-studio/runs.db)");
  train->add_option("--output-dir", trainOptions.outputDir, "use this output folder instead of the config's output_dir");
  train->add_option("--max-steps", trainOptions.maxSteps, "use this train.max_steps instead of the config's (0: epochs decide)")
      ->check(CLI::NonNegativeNumber);
  train->footer("Example: lorafa train resources/examples/lora-fa.yaml\n"
                "Exit codes: 0 completed, 1 failed (NaN, out of memory, I/O), 2 unusable configuration (no run recorded),\n"
                "3 stopped by Ctrl-C/SIGTERM after a checkpoint.");
  CLI::App* resume = app.add_subcommand("resume", "Continue a run from the newest checkpoint in its output folder");
  resume->add_option("run", trainOptions.runId, "run id (see lorafa runs list)")->required();
  resume->add_option("--store", trainOptions.storePath, "run history database");
  resume->footer("Example: lorafa resume 12   (exit codes as for train)");
  lorafa::cli::LaunchOptions launch; // data parallel: train and resume (LaunchCommand.h)
  for (CLI::App* command : {train, resume}) {
    command->add_option("--nproc", launch.nproc, "data parallel: processes on this node, one per device (resume: default as the run trained)")
        ->check(CLI::Range(1, 1024));
    command->add_option("--nnodes", launch.nnodes, "data parallel: number of nodes (default 1)")->check(CLI::Range(1, 4096));
    command->add_option("--node-rank", launch.nodeRank, "data parallel: this node's index, 0..nnodes-1")->check(CLI::NonNegativeNumber);
    command->add_option("--master-addr", launch.masterAddr, "data parallel: address of node 0 (default 127.0.0.1)");
    command->add_option("--master-port", launch.masterPort, "data parallel: TCP port of the rendezvous on node 0 (default: a free port, or 29500 across nodes)")
        ->check(CLI::Range(0, 65535));
    command->add_option("--dist-timeout", launch.timeoutSeconds, "data parallel: seconds a rank waits for the others before failing (default 60)")
        ->check(CLI::Range(1, 86400));
  }
  lorafa::cli::InferenceOptions inference;
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a run's checkpoint on its validation rows");
  eval->add_option("config", inference.configPath, "run configuration file")->required();
  eval->add_option("--checkpoint", inference.checkpoint, "checkpoint folder (default: the newest in output_dir; none: untrained)");
  eval->footer("Example: lorafa eval resources/examples/lora-fa.yaml --checkpoint none   (the baseline)");
  CLI::App* generateCmd = app.add_subcommand("generate", "Continue a prompt with a run's model and adapter");
  generateCmd->add_option("config", inference.configPath, "run configuration file")->required();
  generateCmd->add_option("--prompt", inference.prompt, "text to continue (tokenized as is)")->required();
  generateCmd->add_option("--checkpoint", inference.checkpoint, "checkpoint folder (default: the newest in output_dir; none: untrained)");
  generateCmd->add_option("--max-new-tokens", inference.maxNewTokens, "at most this many new tokens (default 64)");
  generateCmd->add_option("--temperature", inference.temperature, "0 (default): greedy; above 0: sampling");
  generateCmd->add_option("--seed", inference.seed, "sampling seed");
  generateCmd->footer("Example: lorafa generate run.yaml --prompt \"Name three colours.\" --max-new-tokens 32");
  CLI::App* exportCmd = app.add_subcommand("export", "Export a run's adapter (PEFT layout) or a merged checkpoint, verified");
  lorafa::cli::ExportCommandOptions exportOptions;
  exportCmd->add_option("run", exportOptions.runId, "run id (see lorafa runs list)");
  exportCmd->add_option("--adapter", exportOptions.adapterDir, "write a PEFT LoRA adapter folder here");
  exportCmd->add_option("--merged", exportOptions.mergedDir, "write a merged Hugging Face checkpoint here");
  exportCmd->add_flag("--force", exportOptions.force, "replace the content of a non-empty target folder");
  exportCmd->add_option("--checkpoint", exportOptions.checkpoint, "checkpoint folder (default: the run's newest)");
  exportCmd->add_option("--store", exportOptions.storePath, "run history database");
  exportCmd->add_option("--shard-size", exportOptions.shardSizeBytes, "merged: bytes per shard (default 5000000000)")
      ->check(CLI::PositiveNumber);
  exportCmd->add_option("--peft-adapter", exportOptions.peftAdapterDir, "merge this existing PEFT adapter folder instead of a run (with --merged)");
  exportCmd->add_option("--base", exportOptions.baseDir, "with --peft-adapter: the base model folder (default: its base_model_name_or_path)");
  exportCmd->add_flag("--no-verify", exportOptions.noVerify, "skip re-loading the export and comparing logits");
  exportCmd->footer("Examples: lorafa export 3 --adapter out/adapter; lorafa export 3 --merged out/merged --force\n"
                    "          lorafa export --peft-adapter some-adapter --merged out/merged\n"
                    "Exit codes: 0 written and verified, 1 failed or not reproducing the model, 2 unusable request.");
  CLI::App* runs = app.add_subcommand("runs", "The run history: list, show, rename or delete runs");
  runs->require_subcommand(1);
  std::string storePath;
  std::int64_t runId = 0;
  runs->add_option("--store", storePath, "run history database");
  CLI::App* runsList = runs->add_subcommand("list", "All runs, newest first");
  CLI::App* runsShow = runs->add_subcommand("show", "One run: status, metrics, events");
  runsShow->add_option("run", runId, "run id")->required();
  CLI::App* runsDelete = runs->add_subcommand("delete", "Remove a run from the history (its output folder stays)");
  runsDelete->add_option("run", runId, "run id")->required();
  std::string runName;
  CLI::App* runsRename = runs->add_subcommand("rename", "Give a run another name");
  runsRename->add_option("run", runId, "run id")->required();
  runsRename->add_option("name", runName, "the new name")->required();
  runs->footer("Examples: lorafa runs list; lorafa runs show 3; lorafa runs rename 3 baseline; lorafa runs --store my.db delete 3");
  CLI::App* models = app.add_subcommand("models", "The model library: the Hugging Face cache and added folders; download from the Hub");
  models->require_subcommand(1);
  lorafa::cli::ModelsOptions modelsOptions;
  models->add_option("--library", modelsOptions.libraryPath, "the added-folders list (default: $XDG_DATA_HOME/lorafa-studio/model-library.json)");
  CLI::App* modelsList = models->add_subcommand("list", "Every cached or added model: family, parameters, dtype, size, supported");
  modelsList->add_flag("--json", modelsOptions.json, "print a JSON array");
  CLI::App* modelsAdd = models->add_subcommand("add", "Add a folder (a model, or a folder of models) to the library");
  modelsAdd->add_option("folder", modelsOptions.folder, "folder")->required();
  CLI::App* modelsRemove = models->add_subcommand("remove", "Remove an added folder from the library (its files stay)");
  modelsRemove->add_option("folder", modelsOptions.folder, "folder")->required();
  CLI::App* modelsPull = models->add_subcommand("pull", "Download a model from the Hugging Face Hub into the shared cache (resumable)");
  modelsPull->add_option("repo", modelsOptions.repoId, "repository id, e.g. Qwen/Qwen3-0.6B")->required();
  modelsPull->add_option("--revision", modelsOptions.revision, "branch, tag or commit (default main)");
  modelsPull->add_option("--include", modelsOptions.include, "only files matching these shell patterns (repeatable; default: all but non-safetensors weights)");
  models->footer("Examples: lorafa models list; lorafa models pull Qwen/Qwen3-0.6B; lorafa models add ~/models\n"
                 "Environment: HF_HUB_CACHE or HF_HOME (cache), HF_TOKEN (gated and private models), HF_ENDPOINT (mirror).\n"
                 "pull exit codes: 0 done, 1 network or disk failure, 2 unknown/gated/private, 3 stopped by Ctrl-C (run it again to resume).");
  CLI11_PARSE(app, argc, argv);

  try {
    // Crash drills (tests/drills): die with SIGKILL at a named point of a write.
    if (const char* fault = std::getenv("LORAFA_FAULT_KILL_AT"); fault != nullptr && *fault != '\0') {
      lorafa::armFaultKillFromSpec(fault);
    }
    // OMP_NUM_THREADS, when set, limits LibTorch as it does in PyTorch; otherwise every core.
    lorafa::configureComputeThreads(std::getenv("OMP_NUM_THREADS") ? std::atoi(std::getenv("OMP_NUM_THREADS")) : 0);
    if (info->parsed()) {
      std::cout << lorafa::formatEngineInfo(lorafa::queryEngineInfo());
    } else if (inspect->parsed()) {
      printInspection(lorafa::inspectModelDirectory(modelDir), targets);
    } else if (estimate->parsed()) {
      lorafa::cli::runEstimate(estimateOptions, std::cout);
    } else if (tokenize->parsed()) {
      lorafa::cli::runTokenize(tokenizeOptions, std::cin, std::cout);
    } else if (tokenizerTrain->parsed()) {
      return lorafa::cli::runTokenizerTrain(tokenizerTrainOptions, std::cout, std::cerr, isatty(STDERR_FILENO) != 0);
    } else if (train->parsed()) {
      if (lorafa::cli::wantsLaunch(launch)) return lorafa::cli::launchRanks(argc, argv, launch, std::cerr);
      return lorafa::cli::runTrain(trainOptions, std::cout, std::cerr);
    } else if (resume->parsed()) {
      if (launch.nproc == 0 && !lorafa::cli::isLaunchedRank()) launch.nproc = lorafa::cli::storedLocalWorldSize(trainOptions.storePath, trainOptions.runId);
      if (lorafa::cli::wantsLaunch(launch)) return lorafa::cli::launchRanks(argc, argv, launch, std::cerr);
      return lorafa::cli::runResume(trainOptions, std::cout, std::cerr);
    } else if (eval->parsed()) {
      return lorafa::cli::runEval(inference, std::cout, std::cerr);
    } else if (generateCmd->parsed()) {
      return lorafa::cli::runGenerate(inference, std::cout, std::cerr);
    } else if (exportCmd->parsed()) {
      return lorafa::cli::runExport(exportOptions, std::cout, std::cerr);
    } else if (modelsList->parsed()) {
      return lorafa::cli::runModelsList(modelsOptions, std::cout, std::cerr);
    } else if (modelsAdd->parsed()) {
      return lorafa::cli::runModelsAdd(modelsOptions, std::cout, std::cerr);
    } else if (modelsRemove->parsed()) {
      return lorafa::cli::runModelsRemove(modelsOptions, std::cout, std::cerr);
    } else if (modelsPull->parsed()) {
      return lorafa::cli::runModelsPull(modelsOptions, std::cout, std::cerr, isatty(STDOUT_FILENO) != 0);
    } else if (runsList->parsed()) {
      return lorafa::cli::runRunsList(storePath, std::cout);
    } else if (runsShow->parsed()) {
      return lorafa::cli::runRunsShow(storePath, runId, std::cout, std::cerr);
    } else if (runsDelete->parsed()) {
      return lorafa::cli::runRunsDelete(storePath, runId, std::cout, std::cerr);
    } else if (runsRename->parsed()) {
      return lorafa::cli::runRunsRename(storePath, runId, runName, std::cout, std::cerr);
    }
  } catch (const std::exception& error) {
    std::cerr << "lorafa: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
