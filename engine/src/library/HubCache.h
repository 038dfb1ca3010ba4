#pragma once

#include <optional>
#include <string>

namespace lorafa::hubcache {

// The hub cache layout of huggingface_hub, shared with transformers:
//   <cache>/models--ORG--NAME/refs/<revision>           the commit a branch or tag names
//   <cache>/models--ORG--NAME/blobs/<etag>              file contents, named by the Hub's etag
//   <cache>/models--ORG--NAME/blobs/<etag>.incomplete   a download in progress (resumable)
//   <cache>/models--ORG--NAME/snapshots/<commit>/<file> relative symlinks into blobs/

/// "models--ORG--NAME" for "ORG/NAME".
std::string repoFolderName(const std::string& repoId);
/// "ORG/NAME" for "models--ORG--NAME" (huggingface_hub's reading: the first "--" after the type
/// ends it, later ones are slashes); nullopt for folders of other repository types or names.
std::optional<std::string> repoIdFromFolderName(const std::string& folderName);
/// An ETag header as a file name: without a W/ prefix and the quotes.
std::string normalizeEtag(const std::string& etag);
/// True for 64 lowercase hexadecimal digits: the etag of an LFS file is its sha256.
bool isSha256Hex(const std::string& text);
/// The first line of `path` without surrounding white space; nullopt when it cannot be read.
std::optional<std::string> readRef(const std::string& path);
/// Writes `text` to `path` atomically (creating the folder).
void writeTextFileAtomically(const std::string& path, const std::string& text);
/// Points `snapshotFile` at `blobFile` with a relative symlink, replacing what was there in one
/// rename (a reader sees the old link or the new one).
void linkSnapshotFile(const std::string& blobFile, const std::string& snapshotFile);

} // namespace lorafa::hubcache
