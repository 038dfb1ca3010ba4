// Helper process for the crash test: writes metrics as fast as it can into a run and reports
// on stdout each step whose metrics are committed, until it is killed.
#include "lorafa/RunStore.h"

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATABASE\n", argv[0]);
    return 2;
  }
  lorafa::RunStore store(argv[1]);
  const std::int64_t run = store.createRun({"crash test", "lora-fa", "model", "data", "{}", "out", std::nullopt});
  store.startRun(run);
  std::printf("run %lld\n", static_cast<long long>(run));
  std::fflush(stdout);
  for (std::int64_t step = 0;; ++step) {
    store.appendMetrics(run, {{step, "loss", 1.0 / (1.0 + step)}, {step, "learning_rate", 1e-4}});
    store.appendMemory(run, {step, step, 1000 + step, 0, 0});
    if (step % 50 == 49) {
      store.flush();
      std::printf("committed %lld\n", static_cast<long long>(step));
      std::fflush(stdout);
    }
  }
}
