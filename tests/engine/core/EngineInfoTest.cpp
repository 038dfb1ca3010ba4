#include "lorafa/EngineInfo.h"
#include "lorafa/Version.h"

#include <torch/version.h>

#include <gtest/gtest.h>

using namespace lorafa;

TEST(EngineInfo, ReportsVersionsAndADevice) {
  const EngineInfo info = queryEngineInfo();
  EXPECT_EQ(info.version, versionString());
  EXPECT_EQ(info.libtorchVersion, TORCH_VERSION);
  EXPECT_GE(info.cpuThreads, 1);
  if (info.cudaAvailable) {
    EXPECT_TRUE(info.cudaBuilt);
    EXPECT_GE(info.cudaDeviceCount, 1);
    EXPECT_EQ(info.defaultDevice, "cuda:0");
  } else {
    EXPECT_EQ(info.cudaDeviceCount, 0);
    EXPECT_EQ(info.defaultDevice, "cpu");
  }
}

TEST(EngineInfo, FormatNamesVersionLibTorchAndDevice) {
  EngineInfo info;
  info.version = "9.8.7";
  info.libtorchVersion = "2.5.1";
  info.cudaBuilt = true;
  info.cudaAvailable = true;
  info.cudaDeviceCount = 2;
  info.cpuThreads = 16;
  info.defaultDevice = "cuda:0";
  info.gpus.push_back({0, "Test GPU", 2LL * 1024 * 1024 * 1024});
  const std::string text = formatEngineInfo(info);
  EXPECT_NE(text.find("LoRA-FA Studio 9.8.7"), std::string::npos) << text;
  EXPECT_NE(text.find("LibTorch 2.5.1 (CUDA build)"), std::string::npos) << text;
  EXPECT_NE(text.find("Device: cuda:0 (2 CUDA devices)"), std::string::npos) << text;
  EXPECT_NE(text.find("GPU 0: Test GPU, 2.00 GiB"), std::string::npos) << text;
}

TEST(EngineInfo, ConfigureComputeThreadsUsesWhatItIsGiven) {
  EXPECT_EQ(configureComputeThreads(1), 1);
  EXPECT_EQ(queryEngineInfo().cpuThreads, 1);
  const int all = configureComputeThreads(0);
  EXPECT_GE(all, 1);
  EXPECT_EQ(queryEngineInfo().cpuThreads, all);
}
