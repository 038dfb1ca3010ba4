#include "lorafa/ChatTemplate.h"
#include "lorafa/RunConfig.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace lorafa {
namespace {

const char* kMinimalYaml = "model: m\ndataset:\n  path: d.jsonl\noutput_dir: out\n";

ConfigError parseError(const std::string& text, const std::string& path) {
  try {
    parseRunConfig(text, path);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << text;
  return ConfigError(path, {});
}

TEST(RunConfigTest, MinimalYamlGivesDefaults) {
  const RunConfig c = parseRunConfig(kMinimalYaml, "run.yaml");
  EXPECT_EQ(c.modelPath, "m");
  EXPECT_EQ(c.dataset.path, "d.jsonl");
  EXPECT_EQ(c.outputDir, "out");
  EXPECT_EQ(c.adapter.method, TrainMethod::LoraFa);
  EXPECT_EQ(c.adapter.rank, 8);
  EXPECT_EQ(c.optim.schedule, LrSchedule::Linear);
  EXPECT_EQ(c.train.batchSize, 4);
  EXPECT_EQ(c.train.device, "auto");
}

// A Llama 3.2-style template writes the current day: a new run fixes it in its stored config, so
// `lorafa resume` on another day renders the same rows; a date the user gave is kept.
TEST(RunConfigTest, TheTemplateDateIsFixedWhenARunStartsAndStoredWithIt) {
  const RunConfig plain = parseRunConfig(kMinimalYaml, "run.yaml");
  EXPECT_TRUE(plain.dataset.templateDate.empty());
  const RunConfig started = withRunStartValues(plain);
  EXPECT_EQ(started.dataset.templateDate, todayDateString());
  const RunConfig stored = parseRunConfig(toJson(started), "run 3 config.json");
  EXPECT_EQ(stored.dataset.templateDate, started.dataset.templateDate);
  EXPECT_EQ(withRunStartValues(stored).dataset.templateDate, started.dataset.templateDate);
  const RunConfig given =
      parseRunConfig("model: m\ndataset:\n  path: d.jsonl\n  template_date: 01 Jan 2025\noutput_dir: out\n", "run.yaml");
  EXPECT_EQ(withRunStartValues(given).dataset.templateDate, "01 Jan 2025");
}

TEST(RunConfigTest, YamlAndJsonReadTheSameSchema) {
  const std::string yaml = R"(model: m
output_dir: o
method: lora
dataset: {path: d.csv, format: classification, validation_fraction: 0.25, template: chatml}
adapter: {rank: 4, alpha: 16, rslora: true, dropout: 0.1, init: gaussian, targets: [q_proj, v_proj]}
optim: {lr: 1e-3, schedule: cosine, warmup_steps: 5, weight_decay: 0.01, grad_clip: 0, betas: [0.8, 0.9], eps: 1e-6}
train: {epochs: 3, max_steps: 10, batch_size: 2, grad_accumulation: 4, max_seq_len: 64, seed: 7, eval_every: 5,
        save_every: 5, keep_last: 1, early_stopping_patience: 2, precision: fp32, gradient_checkpointing: false, device: "cuda:1"}
)";
  const RunConfig a = parseRunConfig(yaml, "a.yaml");
  const RunConfig b = parseRunConfig(toJson(a), "a.json");
  for (const RunConfig* c : {&a, &b}) {
    EXPECT_EQ(c->adapter.method, TrainMethod::Lora);
    EXPECT_EQ(c->dataset.format, DatasetFormat::Classification);
    EXPECT_EQ(c->dataset.chatTemplate, "chatml");
    EXPECT_DOUBLE_EQ(c->dataset.validationFraction, 0.25);
    EXPECT_EQ(c->adapter.rank, 4);
    EXPECT_TRUE(c->adapter.useRslora);
    EXPECT_EQ(c->adapter.init, LoraInit::Gaussian);
    EXPECT_EQ(c->targets, "q_proj,v_proj");
    EXPECT_DOUBLE_EQ(c->optim.learningRate, 1e-3);
    EXPECT_EQ(c->optim.schedule, LrSchedule::Cosine);
    EXPECT_DOUBLE_EQ(c->optim.beta1, 0.8);
    EXPECT_DOUBLE_EQ(c->optim.gradClip, 0.0);
    EXPECT_EQ(c->train.maxSteps, 10);
    EXPECT_EQ(c->train.gradAccumulation, 4);
    EXPECT_EQ(c->train.seed, 7u);
    EXPECT_EQ(c->train.device, "cuda:1");
  }
  EXPECT_EQ(toJson(a), toJson(b));
}

TEST(RunConfigTest, EveryProblemIsReportedWithFileKeyAndLine) {
  const std::string yaml = "model: m\n"                 // 1
                           "output_dir: o\n"            // 2
                           "dataset:\n"                 // 3
                           "  path: d.jsonl\n"          // 4
                           "  colour: blue\n"           // 5
                           "adapter:\n"                 // 6
                           "  rank: 0\n"                // 7
                           "optim:\n"                   // 8
                           "  lr: fast\n"               // 9
                           "train:\n"                   // 10
                           "  batch_size: [1]\n";       // 11
  const ConfigError e = parseError(yaml, "bad.yaml");
  ASSERT_EQ(e.problems().size(), 4u) << e.what();
  EXPECT_NE(e.problems()[0].find("bad.yaml:5: dataset.colour: unknown key"), std::string::npos) << e.problems()[0];
  EXPECT_NE(e.problems()[1].find("bad.yaml:7: adapter.rank: must be at least 1, found 0"), std::string::npos)
      << e.problems()[1];
  EXPECT_NE(e.problems()[2].find("bad.yaml:9: optim.lr: expected a number, found \"fast\""), std::string::npos)
      << e.problems()[2];
  EXPECT_NE(e.problems()[3].find("bad.yaml:11: train.batch_size: expected a whole number, found a list"),
            std::string::npos)
      << e.problems()[3];
}

TEST(RunConfigTest, JsonTypesAreChecked) {
  const ConfigError e = parseError(
      R"({"model": "m", "output_dir": "o", "dataset": {"path": "d"}, "adapter": {"rank": "8", "rslora": 1},
          "train": {"epochs": 1.5}})",
      "bad.json");
  ASSERT_EQ(e.problems().size(), 3u) << e.what();
  EXPECT_NE(e.problems()[0].find("bad.json: adapter.rank: expected a whole number, found a string"), std::string::npos);
  EXPECT_NE(e.problems()[1].find("adapter.rslora: expected true or false, found a number"), std::string::npos);
  EXPECT_NE(e.problems()[2].find("train.epochs: expected a whole number, found a number"), std::string::npos);
}

TEST(RunConfigTest, MissingRequiredKeysAndBadEnumsAreProblems) {
  const ConfigError e = parseError("method: qlora\ntrain:\n  device: gpu\n  precision: fp8\n", "r.yaml");
  const std::string all = e.what();
  EXPECT_NE(all.find("r.yaml:1: method: expected lora-fa, lora or full, found \"qlora\""), std::string::npos) << all;
  EXPECT_NE(all.find("train.device: expected auto, cpu, cuda or cuda:N"), std::string::npos) << all;
  EXPECT_NE(all.find("train.precision: expected fp32, bf16 or fp16"), std::string::npos) << all;
  EXPECT_NE(all.find("model: is required"), std::string::npos) << all;
  EXPECT_NE(all.find("dataset.path: is required"), std::string::npos) << all;
  EXPECT_NE(all.find("output_dir: is required"), std::string::npos) << all;
}

TEST(RunConfigTest, DuplicateKeysAndSyntaxErrorsAreRejected) {
  const ConfigError dup = parseError(std::string(kMinimalYaml) + "model: again\n", "dup.yaml");
  EXPECT_NE(std::string(dup.what()).find("dup.yaml:5: model: appears twice (first on line 1)"), std::string::npos)
      << dup.what();
  const ConfigError syntax = parseError("model: [unclosed\n", "syn.yaml");
  EXPECT_NE(std::string(syntax.what()).find("syn.yaml:"), std::string::npos) << syntax.what();
  const ConfigError json = parseError(R"({"model": "a", "model": "b"})", "dup.json");
  EXPECT_NE(std::string(json.what()).find("dup.json"), std::string::npos) << json.what();
}

TEST(RunConfigTest, Fp16NeedsCudaAndProjectedBNeedsLoraFa) {
  const ConfigError e = parseError(std::string(kMinimalYaml) +
                                       "method: lora\noptim:\n  projected_b: true\ntrain:\n  precision: fp16\n  device: cpu\n",
                                   "p.yaml");
  EXPECT_EQ(e.problems().size(), 2u) << e.what();
  EXPECT_NE(std::string(e.what()).find("train.precision: fp16 needs a CUDA device"), std::string::npos) << e.what();
  // bf16 runs on the CPU (LibTorch's CPU autocast).
  EXPECT_EQ(parseRunConfig(std::string(kMinimalYaml) + "train:\n  precision: bf16\n  device: cpu\n", "b.yaml").train.precision,
            Precision::Bf16);
  const ConfigError pretrain = parseError(std::string(kMinimalYaml) + "pretrain: true\n", "pre.yaml");
  EXPECT_NE(std::string(pretrain.what()).find("pretrain: needs method: full"), std::string::npos) << pretrain.what();
  EXPECT_TRUE(parseRunConfig(std::string(kMinimalYaml) + "pretrain: true\nmethod: full\n", "pre.yaml").pretrain);
}

TEST(RunConfigTest, UnreadableFileIsAConfigError) {
  EXPECT_THROW(loadRunConfig("/nonexistent/run.yaml"), ConfigError);
}

TEST(RunConfigTest, EveryExampleParsesAndPathsResolveAgainstItsFolder) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(LORAFA_EXAMPLES_DIR)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".yaml" && ext != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    RunConfig c;
    ASSERT_NO_THROW(c = loadRunConfig(entry.path().string()));
    // Relative paths are taken from the file's folder: every example's model lies under resources/.
    const std::filesystem::path resources = std::filesystem::path(LORAFA_EXAMPLES_DIR).parent_path().lexically_normal();
    const std::filesystem::path model(c.modelPath);
    EXPECT_TRUE(model.is_absolute()) << c.modelPath;
    EXPECT_EQ(model.lexically_relative(resources).string().rfind("..", 0), std::string::npos) << c.modelPath;
    if (entry.path().filename().string().rfind("demo-", 0) == 0) {
      // The demo configurations run on what the project bundles: all of it must be there.
      EXPECT_TRUE(std::filesystem::exists(model / "config.json")) << c.modelPath;
      EXPECT_TRUE(std::filesystem::exists(c.dataset.path)) << c.dataset.path;
      EXPECT_TRUE(std::filesystem::exists(c.dataset.evalPath)) << c.dataset.evalPath;
    }
    ++count;
  }
  EXPECT_GE(count, 4);
}

} // namespace
} // namespace lorafa
