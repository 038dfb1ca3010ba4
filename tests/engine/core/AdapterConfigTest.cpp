#include "lorafa/AdapterConfig.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

using namespace lorafa;

TEST(AdapterConfig, ScalingIsAlphaOverRank) {
  AdapterConfig config;
  config.rank = 16;
  config.alpha = 32.0;
  EXPECT_DOUBLE_EQ(config.scaling(), 2.0);
}

TEST(AdapterConfig, RsLoraScalingIsAlphaOverSqrtRank) {
  AdapterConfig config;
  config.rank = 16;
  config.alpha = 32.0;
  config.useRslora = true;
  EXPECT_DOUBLE_EQ(config.scaling(), 8.0);
}

TEST(AdapterConfig, DefaultsFollowPeft) {
  const AdapterConfig config;
  EXPECT_EQ(config.method, TrainMethod::LoraFa);
  EXPECT_EQ(config.rank, 8);
  EXPECT_DOUBLE_EQ(config.alpha, 8.0);
  EXPECT_EQ(config.init, LoraInit::KaimingUniform);
  EXPECT_DOUBLE_EQ(config.dropout, 0.0);
  EXPECT_NO_THROW(config.validate());
}

TEST(AdapterConfig, ValidateNamesTheBadField) {
  AdapterConfig config;
  config.rank = 0;
  try {
    config.validate();
    FAIL() << "rank 0 accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("rank"), std::string::npos) << error.what();
  }
  config.rank = 4;
  config.dropout = 1.0;
  EXPECT_THROW(config.validate(), std::invalid_argument);
  config.dropout = 0.1;
  config.alpha = -1.0;
  EXPECT_THROW(config.validate(), std::invalid_argument);
  config.alpha = NAN;
  EXPECT_THROW(config.validate(), std::invalid_argument);
}

TEST(AdapterConfig, ParsesMethodsAndInits) {
  EXPECT_EQ(parseTrainMethod("LoRA-FA"), TrainMethod::LoraFa);
  EXPECT_EQ(parseTrainMethod("lorafa"), TrainMethod::LoraFa);
  EXPECT_EQ(parseTrainMethod("lora"), TrainMethod::Lora);
  EXPECT_EQ(parseTrainMethod("FULL"), TrainMethod::Full);
  EXPECT_EQ(parseTrainMethod("frozen"), TrainMethod::Frozen);
  EXPECT_FALSE(parseTrainMethod("qlora").has_value());
  for (TrainMethod m : {TrainMethod::LoraFa, TrainMethod::Lora, TrainMethod::Full, TrainMethod::Frozen}) {
    EXPECT_EQ(parseTrainMethod(toString(m)), m);
  }
  for (LoraInit i : {LoraInit::KaimingUniform, LoraInit::Gaussian, LoraInit::Orthogonal}) {
    EXPECT_EQ(parseLoraInit(toString(i)), i);
  }
  EXPECT_FALSE(parseLoraInit("pissa").has_value());
}
