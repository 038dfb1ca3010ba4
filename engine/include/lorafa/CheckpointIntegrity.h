#pragma once

#include "lorafa/FormatError.h"

#include <optional>
#include <string>
#include <vector>

namespace lorafa {

/// A checkpoint folder whose files do not match the SHA-256 checksums it recorded when it was
/// written, or whose checksum list is missing or malformed although the checkpoint declares one.
/// path() is the file at fault; what() also names the checkpoint folder and, for a mismatch, the
/// expected and the found checksum.
class CheckpointCorruptError : public FormatError {
public:
  using FormatError::FormatError;
};

enum class CheckpointIntegrity {
  Verified,  ///< every file matches checksums.sha256
  Unverified ///< written before checkpoints carried checksums: loaded as it is
};

/// The name of the checksum list inside a checkpoint folder: `sha256sum` format, so
/// `cd step-00000042 && sha256sum -c checksums.sha256` checks a checkpoint by hand.
inline constexpr const char* kCheckpointChecksumsFile = "checksums.sha256";

/// Checks every file of the checkpoint folder `directory` against its checksums.sha256 (and that
/// every file a checkpoint needs is listed). Throws CheckpointCorruptError on a mismatch, a
/// missing file or list, or a malformed list; FormatError when the folder is no checkpoint.
CheckpointIntegrity verifyCheckpoint(const std::string& directory);

/// What `resume` continues from: the newest checkpoint of a run's output_dir that verifies.
/// Newer checkpoints that fail verification are skipped, each with a message in `rejected`
/// naming the file and the checksums (a damaged newest checkpoint costs the steps since the one
/// before, never the run). `directory` is empty when no checkpoint is intact.
struct IntactCheckpoint {
  std::optional<std::string> directory;
  CheckpointIntegrity integrity = CheckpointIntegrity::Verified;
  std::vector<std::string> rejected;
};
IntactCheckpoint newestIntactCheckpointIn(const std::string& outputDir);

} // namespace lorafa
