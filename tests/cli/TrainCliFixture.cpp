// Writes what the `lorafa train` CLI tests run on into the folder given: a tiny random GPT-2
// whose vocabulary covers the GPT-2 tokenizer, and one run config per method plus a bad one.
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: train_cli_fixture FIXTURES_DIR OUTPUT_DIR\n";
    return 2;
  }
  const std::string fixtures = argv[1];
  const std::filesystem::path out = argv[2];
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  const auto tokenizer = lorafa::Tokenizer::load(fixtures + "/tokenizers/gpt2");
  const std::string json = R"({"model_type": "gpt2", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                           R"(, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "eos_token_id": 50256})";
  auto model = lorafa::createModel(lorafa::ModelConfig::fromJson(json, "<tiny gpt2>"), torch::dtype(torch::kFloat));
  lorafa::initializeRandom(*model, 3);
  {
    torch::NoGradGuard noGrad;
    model->named_parameters()["transformer.wte.weight"].mul_(10.0); // lets the logits move far enough
  }
  lorafa::saveModelCheckpoint(*model, (out / "model").string());
  for (const std::string method : {"lora-fa", "lora", "full"}) {
    std::ofstream config(out / (method + ".yaml"));
    config << "name: cli-" << method << "\nmodel: model\ntokenizer: " << fixtures << "/tokenizers/gpt2\n"
           << "output_dir: out-" << method << "\nmethod: " << method << "\n"
           << "dataset:\n  path: " << fixtures << "/data/alpaca.jsonl\n  validation_fraction: 0.25\n"
           << "adapter:\n  rank: 4\n  alpha: 32\n  targets: c_attn,c_proj,c_fc\n"
           << "optim:\n  lr: " << (method == "full" ? "3.0e-3" : "3.0e-2") << "\n  schedule: constant\n"
           << "train:\n  max_steps: 6\n  batch_size: 16\n  max_seq_len: 96\n  eval_every: 3\n  device: cpu\n";
  }
  std::ofstream(out / "bad.yaml") << "model: model\noutput_dir: out-bad\ndataset:\n  path: missing.jsonl\n"
                                  << "adapter:\n  rank: 0\n  colour: blue\n";
  std::ofstream(out / "bad-targets.yaml") << "model: model\ntokenizer: " << fixtures << "/tokenizers/gpt2\n"
                                          << "output_dir: out-bad\ndataset:\n  path: " << fixtures
                                          << "/data/alpaca.jsonl\nadapter:\n  targets: q_proj\ntrain:\n  device: cpu\n";
  return 0;
}
