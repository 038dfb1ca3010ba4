#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace lorafa {

/// One HTTP reply: the status and headers of the last response (after redirects), header names
/// in lower case.
struct HttpReply {
  long status = 0;
  std::map<std::string, std::string> headers;
  std::string body; ///< the body in memory (API calls), or an error body (downloads, bounded)
  std::string header(const std::string& lowerCaseName) const;
};

/// How a download transfer ended.
struct HttpTransfer {
  HttpReply reply;
  bool ok = false;            ///< the whole body arrived
  bool aborted = false;       ///< the progress callback asked to stop
  bool restarted = false;     ///< a Range was asked for, the server sent the whole file (200)
  std::string error;          ///< the transport error (connection dropped, timeout...), else empty
  std::int64_t bytesWritten = 0;
};

/// A small libcurl client for the Hub: an access token as `Authorization: Bearer` (which libcurl
/// does not forward when a redirect leaves the host), no compression (sizes are the files'),
/// connect timeout and stall detection. One per thread.
class HubHttp {
public:
  explicit HubHttp(std::string token);
  ~HubHttp();
  HubHttp(const HubHttp&) = delete;
  HubHttp& operator=(const HubHttp&) = delete;

  /// GET following redirects, body in memory. Throws HubError(Network) when no reply came.
  HttpReply get(const std::string& url);
  /// HEAD without following redirects (the Hub's redirect carries the blob's headers).
  HttpReply head(const std::string& url);
  /// GET following redirects into `file` from byte `offset` (a Range request when above 0; a 200
  /// reply to it truncates the file and starts over). `onData(bytesWrittenSoFar)` runs as data
  /// arrives and at least once a second; returning false aborts the transfer.
  HttpTransfer download(const std::string& url, std::int64_t offset, std::FILE* file,
                        const std::function<bool(std::int64_t)>& onData);

private:
  struct Handle;
  std::unique_ptr<Handle> m_handle;
  std::string m_token;
};

/// `text` percent-encoded for a URL path; '/' kept when `keepSlash`.
std::string urlEncode(const std::string& text, bool keepSlash);

} // namespace lorafa
