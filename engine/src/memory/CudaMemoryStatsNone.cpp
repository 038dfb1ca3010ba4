// Built when the LibTorch found has no CUDA: there are no CUDA statistics to read.
#include "CudaMemoryStats.h"

namespace lorafa {

std::optional<CudaMemoryStats> queryCudaMemoryStats(int) { return std::nullopt; }
void resetCudaPeakStats(int) {}
bool cudaCompiledIn() { return false; }

} // namespace lorafa
