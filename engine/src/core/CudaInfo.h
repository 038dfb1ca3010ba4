#pragma once

#include "lorafa/EngineInfo.h"

namespace lorafa {

/// Fills the CUDA fields of `info`: cudaBuilt, the CUDA, cuDNN and NCCL versions LibTorch was built
/// with, cudaStatus with its reason, cudaAvailable, cudaDeviceCount and (when CUDA is usable) the
/// GPUs with their compute capability. Never throws; without a driver it only reports why.
/// CudaInfo.cpp with a CUDA LibTorch, CudaInfoNone.cpp otherwise (engine/CMakeLists.txt).
void queryCudaInfo(EngineInfo& info);

} // namespace lorafa
