// Built when the LibTorch found has no CUDA.
#include "CudaInfo.h"

namespace lorafa {

void queryCudaInfo(EngineInfo& info) {
  info.cudaBuilt = false;
  info.cudaAvailable = false;
  info.cudaDeviceCount = 0;
  info.cudaStatus = CudaStatus::NotBuilt;
  info.cudaUnavailableReason = "this LibTorch was built without CUDA";
}

} // namespace lorafa
