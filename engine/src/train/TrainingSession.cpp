#include "lorafa/TrainingSession.h"

#include "distributed/DistributedContext.h"
#include "lorafa/Distributed.h"

#include "train/Checkpoint.h"
#include "train/Trainer.h"

#include <filesystem>

namespace lorafa {
namespace {

class TrainerSession : public TrainingSession {
public:
  TrainerSession(const RunConfig& config, TrainerObserver* observer, TrainerOptions options)
      : m_trainer(config, observer, options) {}
  void setup() override { m_trainer.setup(); }
  void setRunStore(RunStore* store, std::int64_t runId) override { m_trainer.setRunStore(store, runId); }
  void resumeFrom(const std::string& directory) override { m_trainer.resumeFrom(directory); }
  TrainResult run() override { return m_trainer.run(); }
  EvalMetrics evaluate() override { return m_trainer.evaluate(); }
  std::string generate(const std::string& prompt, std::int64_t maxNewTokens, double temperature,
                       std::uint64_t seed) override {
    return m_trainer.generateText(prompt, maxNewTokens, temperature, seed);
  }
  std::int64_t totalSteps() const override { return m_trainer.totalSteps(); }
  std::int64_t trainRows() const override { return static_cast<std::int64_t>(m_trainer.trainRows().rows.size()); }
  std::int64_t validationRows() const override {
    return static_cast<std::int64_t>(m_trainer.validationRows().rows.size());
  }

private:
  Trainer m_trainer;
};

} // namespace

std::unique_ptr<TrainingSession> TrainingSession::create(const RunConfig& config, TrainerObserver* observer,
                                                         RunStore* store, std::int64_t runId) {
  TrainerOptions options;
  options.store = store;
  options.runId = runId;
  return std::make_unique<TrainerSession>(config, observer, options);
}

std::unique_ptr<TrainingSession> createDistributedSession(const RunConfig& config, TrainerObserver* observer,
                                                          const DistributedConfig& distributed, RunStore* store,
                                                          std::int64_t runId) {
  TrainerOptions options;
  options.store = store;
  options.runId = runId;
  if (distributed.enabled()) options.distributed = std::make_shared<DistributedContext>(distributed);
  return std::make_unique<TrainerSession>(config, observer, options);
}

std::optional<std::string> latestCheckpointIn(const std::string& outputDir) {
  return latestCheckpoint((std::filesystem::path(outputDir) / "checkpoints").string());
}

} // namespace lorafa
