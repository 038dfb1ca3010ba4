// The exported files field by field against PEFT's documented format (FORMATS.md, PEFT's
// save_pretrained): expected values are written out here from that format, not taken from the
// exporter. The safetensors headers are read raw (8-byte length + JSON), not through our reader.
#include "ExportFixtures.h"
#include "TensorAssertions.h"

#include "io/SafetensorsWriter.h"
#include "lorafa/Export.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

namespace lorafa {
namespace {

using test::TempDir;

nlohmann::json readJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

// The raw header of a safetensors file, with its tensors' byte ranges checked to tile the buffer.
nlohmann::json rawHeader(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  nlohmann::json header = nlohmann::json::parse(text);
  std::map<std::uint64_t, std::uint64_t> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    ranges[it.value()["data_offsets"][0].get<std::uint64_t>()] =
        it.value()["data_offsets"][1].get<std::uint64_t>();
  }
  std::uint64_t next = 0;
  for (const auto& [begin, end] : ranges) {
    EXPECT_EQ(begin, next) << path << ": tensors must tile the buffer";
    next = end;
  }
  return header;
}

std::string exportAdapter(const TempDir& tmp, const std::string& fixture, const std::string& targets,
                          TrainMethod method = TrainMethod::LoraFa) {
  const RunConfig config = test::fixtureRunConfig(test::fixtureModel(fixture), tmp / "run", targets, method);
  test::trainAndCheckpoint(config, ModelConfig::fromFile(config.modelPath + "/config.json"),
                           test::fixtureInputs(fixture), 1);
  ExportOptions options;
  options.targetDir = tmp / "adapter";
  options.runDetails = {{"run_id", "7"}, {"final_eval_loss", "1.25"}, {"run_name", "fox|dog\nsecond line"}};
  return exportRun(config, options).directory;
}

TEST(PeftFormat, LlamaAdapterConfigAndKeysAreWhatPeftWrites) {
  TempDir tmp("lorafa-peft-llama");
  const std::string dir = exportAdapter(tmp, "llama", "q_proj,v_proj");
  const nlohmann::json c = readJson(dir + "/adapter_config.json");
  EXPECT_EQ(c["peft_type"], "LORA");
  EXPECT_EQ(c["task_type"], "CAUSAL_LM");
  EXPECT_EQ(c["r"], 4);
  EXPECT_TRUE(c["r"].is_number_integer());
  EXPECT_EQ(c["lora_alpha"], 8);
  EXPECT_EQ(c["lora_dropout"], 0.0);
  EXPECT_EQ(c["target_modules"], nlohmann::json({"q_proj", "v_proj"}));
  EXPECT_EQ(c["bias"], "none");
  EXPECT_EQ(c["fan_in_fan_out"], false);
  EXPECT_EQ(c["use_rslora"], false);
  EXPECT_EQ(c["use_dora"], false);
  EXPECT_EQ(c["inference_mode"], true);
  EXPECT_EQ(c["init_lora_weights"], true);
  EXPECT_TRUE(c["modules_to_save"].is_null());
  EXPECT_EQ(c["base_model_name_or_path"], test::fixtureModel("llama"));
  EXPECT_EQ(c["rank_pattern"], nlohmann::json::object());
  EXPECT_EQ(c["alpha_pattern"], nlohmann::json::object());

  const nlohmann::json h = rawHeader(dir + "/adapter_model.safetensors");
  std::set<std::string> keys;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() != "__metadata__") keys.insert(it.key());
  }
  std::set<std::string> expected;
  for (int layer : {0, 1}) {
    for (const char* proj : {"q_proj", "v_proj"}) {
      for (const char* ab : {"lora_A", "lora_B"}) {
        expected.insert("base_model.model.model.layers." + std::to_string(layer) + ".self_attn." + proj +
                        "." + ab + ".weight");
      }
    }
  }
  EXPECT_EQ(keys, expected);
  for (const std::string& key : keys)
    EXPECT_EQ(h[key]["dtype"], "F32") << key;
  // A [r, in], B [out, r]: q_proj 32→32, v_proj 32→16 (2 key/value heads of 8).
  EXPECT_EQ(h["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]["shape"],
            nlohmann::json({4, 32}));
  EXPECT_EQ(h["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]["shape"],
            nlohmann::json({32, 4}));
  EXPECT_EQ(h["base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"]["shape"],
            nlohmann::json({4, 32}));
  EXPECT_EQ(h["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"]["shape"],
            nlohmann::json({16, 4}));
  const nlohmann::json& meta = h["__metadata__"];
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta["method"], "lora-fa");
  EXPECT_EQ(meta["run_id"], "7");
  EXPECT_EQ(meta["final_eval_loss"], "1.25");
  EXPECT_TRUE(meta.contains("studio_version"));
  for (auto it = meta.begin(); it != meta.end(); ++it)
    EXPECT_TRUE(it.value().is_string()) << it.key();

  std::ifstream card(dir + "/README.md");
  const std::string text((std::istreambuf_iterator<char>(card)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("---\nbase_model: ", 0), 0u) << text.substr(0, 80);
  EXPECT_NE(text.find("library_name: peft"), std::string::npos);
  EXPECT_NE(text.find("PeftModel.from_pretrained"), std::string::npos);
  // base_model is one quoted YAML scalar; a "|" or line break in a run detail stays in its cell.
  EXPECT_NE(text.find("\nbase_model: \"" + test::fixtureModel("llama") + "\"\n"), std::string::npos)
      << text.substr(0, 200);
  EXPECT_NE(text.find("\n| run_name | fox\\|dog second line |\n"), std::string::npos) << text;
}

TEST(PeftFormat, Gpt2Conv1DIsFanInFanOutWithLinearShapedFactors) {
  TempDir tmp("lorafa-peft-gpt2");
  const std::string dir = exportAdapter(tmp, "gpt2", "c_attn");
  const nlohmann::json c = readJson(dir + "/adapter_config.json");
  EXPECT_EQ(c["fan_in_fan_out"], true);
  EXPECT_EQ(c["task_type"], "CAUSAL_LM");
  EXPECT_EQ(c["target_modules"], nlohmann::json({"c_attn"}));
  const nlohmann::json h = rawHeader(dir + "/adapter_model.safetensors");
  // Conv1D c_attn stores W as [in 24, out 72]; PEFT's lora_A / lora_B are still nn.Linear: [r, in] and [out,
  // r].
  EXPECT_EQ(h["base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"]["shape"],
            nlohmann::json({4, 24}));
  EXPECT_EQ(h["base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"]["shape"],
            nlohmann::json({72, 4}));
}

TEST(PeftFormat, T5IsSeq2SeqAndBertSavesItsClassifier) {
  {
    TempDir tmp("lorafa-peft-t5");
    const std::string dir = exportAdapter(tmp, "t5_v1_1", "q,v");
    const nlohmann::json c = readJson(dir + "/adapter_config.json");
    EXPECT_EQ(c["task_type"], "SEQ_2_SEQ_LM");
    EXPECT_EQ(c["target_modules"], nlohmann::json({"q", "v"}));
    const nlohmann::json h = rawHeader(dir + "/adapter_model.safetensors");
    EXPECT_TRUE(h.contains("base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight"));
    EXPECT_TRUE(h.contains("base_model.model.decoder.block.1.layer.1.EncDecAttention.v.lora_B.weight"));
  }
  {
    TempDir tmp("lorafa-peft-bert");
    const std::string dir = exportAdapter(tmp, "bert_cls", "query,value");
    const nlohmann::json c = readJson(dir + "/adapter_config.json");
    EXPECT_EQ(c["task_type"], "SEQ_CLS");
    EXPECT_EQ(c["modules_to_save"], nlohmann::json({"classifier"}));
    const nlohmann::json h = rawHeader(dir + "/adapter_model.safetensors");
    EXPECT_TRUE(h.contains("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight"));
    // modules_to_save: PEFT drops ".modules_to_save.default" on save.
    ASSERT_TRUE(h.contains("base_model.model.classifier.weight"));
    EXPECT_EQ(h["base_model.model.classifier.weight"]["shape"], nlohmann::json({3, 32}));
    EXPECT_TRUE(h.contains("base_model.model.classifier.bias"));
  }
}

TEST(PeftFormat, TargetModulesAreFullPathsWhenLeafNamesWouldSelectMore) {
  {
    TempDir tmp("lorafa-peft-one-layer");
    const std::string dir = exportAdapter(tmp, "llama", "model.layers.0.self_attn.q_proj");
    const nlohmann::json c = readJson(dir + "/adapter_config.json");
    // "q_proj" would select layer 1's q_proj as well.
    EXPECT_EQ(c["target_modules"], nlohmann::json({"model.layers.0.self_attn.q_proj"}));
  }
  {
    TempDir tmp("lorafa-peft-roberta-dense");
    const std::string dir = exportAdapter(tmp, "roberta_cls", "dense");
    const nlohmann::json c = readJson(dir + "/adapter_config.json");
    // "dense" would also select the classifier's dense layer, which trains whole instead.
    ASSERT_TRUE(c["target_modules"].is_array());
    for (const auto& t : c["target_modules"]) {
      EXPECT_EQ(t.get<std::string>().rfind("roberta.encoder.layer.", 0), 0u) << t;
    }
    EXPECT_EQ(c["target_modules"].size(), 6u); // attention.output, intermediate, output × 2 layers
    EXPECT_EQ(c["modules_to_save"], nlohmann::json({"classifier"}));
  }
}

// init_lora_weights is what PEFT draws before loading the file's A and B: "orthogonal" is
// unknown to PEFT before 0.17 (loading raises), so an orthogonal A is written as PEFT's default
// and the real init is kept in __metadata__.
TEST(PeftFormat, OrthogonalInitLoadsInEveryPeftVersion) {
  TempDir tmp("lorafa-peft-orthogonal");
  RunConfig config = test::fixtureRunConfig(test::fixtureModel("llama"), tmp / "run", "q_proj");
  config.adapter.init = LoraInit::Orthogonal;
  test::trainAndCheckpoint(config, ModelConfig::fromFile(config.modelPath + "/config.json"),
                           test::fixtureInputs("llama"), 1);
  ExportOptions options;
  options.targetDir = tmp / "adapter";
  const ExportResult result = exportRun(config, options);
  EXPECT_LE(result.verification.maxAbsLogitDiff, 1e-6) << result.verification.note;
  const nlohmann::json c = readJson(result.directory + "/adapter_config.json");
  EXPECT_EQ(c["init_lora_weights"], true);
  const nlohmann::json h = rawHeader(result.directory + "/adapter_model.safetensors");
  EXPECT_EQ(h["__metadata__"]["lora_init"], "orthogonal");
}

TEST(MergedFormat, SameNamesDtypesAndConfigAsTheBaseAndShardsWithAnIndex) {
  TempDir tmp("lorafa-merged-format");
  const RunConfig config =
      test::fixtureRunConfig(test::fixtureModel("gpt2_noprefix"), tmp / "run", "c_attn,c_fc");
  const ModelInputs inputs = test::fixtureInputs("gpt2_noprefix");
  auto trained =
      test::trainAndCheckpoint(config, ModelConfig::fromFile(config.modelPath + "/config.json"), inputs, 2);
  const at::Tensor expected = test::logitsOf(*trained, inputs);

  ExportOptions options;
  options.kind = ExportKind::Merged;
  options.targetDir = tmp / "merged";
  const ExportResult single = exportRun(config, options);
  EXPECT_EQ(single.files, (std::vector<std::string>{"config.json", "model.safetensors"}));
  const nlohmann::json base = rawHeader(test::fixtureModel("gpt2_noprefix") + "/model.safetensors");
  const nlohmann::json merged = rawHeader(single.directory + "/model.safetensors");
  std::set<std::string> baseKeys;
  for (auto it = base.begin(); it != base.end(); ++it) {
    if (it.key() == "__metadata__" || it.key().find(".attn.bias") != std::string::npos) continue;
    baseKeys.insert(it.key());
  }
  std::set<std::string> mergedKeys;
  for (auto it = merged.begin(); it != merged.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    mergedKeys.insert(it.key());
    EXPECT_EQ(it.value()["dtype"], base[it.key()]["dtype"]) << it.key();
    EXPECT_EQ(it.value()["shape"], base[it.key()]["shape"]) << it.key(); // Conv1D stays [in, out]
  }
  EXPECT_EQ(mergedKeys, baseKeys);
  EXPECT_EQ(merged["__metadata__"]["format"], "pt");
  EXPECT_EQ(readJson(single.directory + "/config.json"),
            readJson(test::fixtureModel("gpt2_noprefix") + "/config.json"));

  // A tiny shard size forces shards, named and indexed as transformers does.
  options.targetDir = tmp / "sharded";
  options.shardSizeBytes = 16 * 1024;
  const ExportResult sharded = exportRun(config, options);
  const nlohmann::json index = readJson(sharded.directory + "/model.safetensors.index.json");
  std::set<std::string> shardFiles;
  std::uint64_t total = 0;
  std::set<std::string> indexed;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    indexed.insert(it.key());
    shardFiles.insert(it.value().get<std::string>());
  }
  EXPECT_EQ(indexed, baseKeys);
  ASSERT_GT(shardFiles.size(), 1u);
  const std::string n = std::to_string(shardFiles.size());
  for (const std::string& file : shardFiles) {
    EXPECT_EQ(file.size(), std::string("model-00001-of-00003.safetensors").size()) << file;
    EXPECT_EQ(file.substr(file.size() - 21), "-of-0000" + n + ".safetensors") << file;
    const nlohmann::json h = rawHeader(sharded.directory + "/" + file);
    for (auto it = h.begin(); it != h.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      EXPECT_EQ(index["weight_map"][it.key()], file);
      total += it.value()["data_offsets"][1].get<std::uint64_t>() -
               it.value()["data_offsets"][0].get<std::uint64_t>();
    }
  }
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), total);
  EXPECT_FALSE(std::filesystem::exists(sharded.directory + "/model.safetensors"));
  auto plain = loadModel(sharded.directory, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(test::allClose(test::logitsOf(*plain, inputs), expected, 0.0, 1e-5));
}

// A bf16 base stays bf16 in the merged checkpoint; the rounding of W + s·B·A is flagged and
// explained, not hidden. The adapter (fp32) still reproduces the trained model exactly.
TEST(MergedFormat, Bf16BaseStaysBf16AndTheRoundingIsFlagged) {
  TempDir tmp("lorafa-merged-bf16");
  const std::string baseDir = tmp / "base-bf16";
  std::filesystem::create_directories(baseDir);
  std::filesystem::copy_file(test::fixtureModel("llama") + "/config.json", baseDir + "/config.json");
  {
    const auto file = SafetensorsFile::open(test::fixtureModel("llama") + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& info : file->tensors())
      tensors.emplace_back(info.name, file->load(info.name).to(at::kBFloat16));
    writeSafetensors(baseDir + "/model.safetensors", tensors, {{"format", "pt"}});
  }
  const RunConfig config = test::fixtureRunConfig(baseDir, tmp / "run", "all-linear");
  const ModelInputs inputs = test::fixtureInputs("llama");
  auto trained = test::trainAndCheckpoint(config, ModelConfig::fromFile(baseDir + "/config.json"), inputs);
  const at::Tensor expected = test::logitsOf(*trained, inputs);

  ExportOptions options;
  options.kind = ExportKind::Merged;
  options.targetDir = tmp / "merged";
  const ExportResult merged = exportRun(config, options);
  const nlohmann::json h = rawHeader(merged.directory + "/model.safetensors");
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() != "__metadata__") {
      EXPECT_EQ(it.value()["dtype"], "BF16") << it.key();
    }
  }
  auto plain = loadModel(merged.directory, at::TensorOptions().dtype(at::kFloat));
  const double diff = (test::logitsOf(*plain, inputs) - expected).abs().max().item<double>();
  EXPECT_GT(merged.verification.maxAbsLogitDiff, 0.0); // the export's own check (its own prompts) sees it too
  EXPECT_GT(diff, 0.0) << "bf16 rounding of the merged weights should show";
  EXPECT_LT(diff, 0.1);
  if (!merged.verification.withinTolerance) {
    EXPECT_NE(merged.verification.note.find("BF16"), std::string::npos) << merged.verification.note;
  }
  std::cout << "[ measured ] bf16 llama merged: max|Δlogit| " << diff << "; " << merged.verification.note
            << "\n";

  options.kind = ExportKind::Adapter;
  options.targetDir = tmp / "adapter";
  const ExportResult adapter = exportRun(config, options);
  EXPECT_LE(adapter.verification.maxAbsLogitDiff, 1e-6) << adapter.verification.note;
  EXPECT_EQ(
      rawHeader(
          adapter.directory +
          "/adapter_model.safetensors")["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
                                       ["dtype"],
      "F32");
}

} // namespace
} // namespace lorafa
