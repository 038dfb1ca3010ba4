// Writes what the `lorafa train` CLI tests run on into the folder given: a tiny random GPT-2
// whose vocabulary covers the GPT-2 tokenizer, and one run config per method plus a bad one; a
// tiny T5 and its sequence-to-sequence config.
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
  // A tiny T5 over the BERT tokenizer ([PAD] 0 pads and starts the decoder, [SEP] 102 ends
  // every target) for sequence-to-sequence training on source-target pairs.
  const auto bert = lorafa::Tokenizer::load(fixtures + "/tokenizers/bert");
  const std::string t5 = R"({"model_type": "t5", "vocab_size": )" + std::to_string(bert->vocabSize()) +
                         R"(, "d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2, "num_heads": 4,
    "feed_forward_proj": "relu", "tie_word_embeddings": false, "decoder_start_token_id": 0, "pad_token_id": 0,
    "eos_token_id": 102})";
  auto t5Model = lorafa::createModel(lorafa::ModelConfig::fromJson(t5, "<tiny t5>"), torch::dtype(torch::kFloat));
  lorafa::initializeRandom(*t5Model, 5);
  {
    torch::NoGradGuard noGrad;
    t5Model->named_parameters()["lm_head.weight"].mul_(10.0); // as for GPT-2's embedding above
  }
  lorafa::saveModelCheckpoint(*t5Model, (out / "t5").string());
  std::ofstream(out / "t5.yaml") << "name: cli-t5\nmodel: t5\ntokenizer: " << fixtures << "/tokenizers/bert\n"
                                 << "output_dir: out-t5\nmethod: lora-fa\n"
                                 << "dataset:\n  path: " << fixtures << "/data/en_fr_pairs.tsv\n  format: source-target\n"
                                 << "  source_column: english\n  target_column: french\n  validation_fraction: 0.25\n"
                                 << "adapter:\n  rank: 4\n  alpha: 32\n  targets: [q, v, wi, wo]\n"
                                 << "optim:\n  lr: 3.0e-2\n  schedule: constant\n"
                                 << "train:\n  max_steps: 4\n  batch_size: 16\n  max_seq_len: 32\n  eval_every: 2\n"
                                 << "  device: cpu\neval:\n  generate_max_examples: 3\n  max_new_tokens: 8\n";
  std::ofstream(out / "bad.yaml") << "model: model\noutput_dir: out-bad\ndataset:\n  path: missing.jsonl\n"
                                  << "adapter:\n  rank: 0\n  colour: blue\n";
  std::ofstream(out / "bad-targets.yaml") << "model: model\ntokenizer: " << fixtures << "/tokenizers/gpt2\n"
                                          << "output_dir: out-bad\ndataset:\n  path: " << fixtures
                                          << "/data/alpaca.jsonl\nadapter:\n  targets: q_proj\ntrain:\n  device: cpu\n";
  return 0;
}
