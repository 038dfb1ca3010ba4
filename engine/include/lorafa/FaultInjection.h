#pragma once

#include <cstdint>
#include <string>

namespace lorafa {

/// Crash drills: named points inside the engine's writes (checkpoint, export, run store) where a
/// test can make the process die with SIGKILL, as a power cut or an OOM kill would.
///
/// The engine never arms a point by itself; the `lorafa` CLI arms one from the environment
/// variable LORAFA_FAULT_KILL_AT=NAME[:N] (see app/cli/main.cpp). Unarmed, a point costs one
/// relaxed atomic load.
///
/// Points: checkpoint.after-weights, checkpoint.before-checksums, checkpoint.before-swap,
/// checkpoint.committed, checkpoint.pruning, export.before-commit, export.after-swap, store.before-commit,
/// atomic-file.before-rename.

/// Kills the process with SIGKILL the `hit`-th time (1-based) faultPoint(point) is reached.
void armFaultKill(const std::string& point, std::int64_t hit = 1);

/// Parses "NAME" or "NAME:N" and arms it; throws std::invalid_argument on a malformed spec.
void armFaultKillFromSpec(const std::string& spec);

/// Marks a point; kills the process there when it is armed and this is the chosen hit.
void faultPoint(const char* point);

} // namespace lorafa
