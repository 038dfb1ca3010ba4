#include "library/HubHttp.h"

#include "lorafa/HubDownload.h"
#include "lorafa/Version.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include <unistd.h>

namespace lorafa {

namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

/// Headers of the last response only: a new status line (after a redirect) starts over.
std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  const std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    reply->headers.clear();
  } else if (const auto colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    const auto first = value.find_first_not_of(" \t");
    const auto last = value.find_last_not_of(" \t\r\n");
    reply->headers[name] = first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
  }
  return size * count;
}

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct DownloadState {
  CURL* curl = nullptr;
  std::FILE* file = nullptr;
  std::int64_t offset = 0;
  bool decided = false; ///< the status of the final response was looked at
  bool toFile = false;
  bool restarted = false;
  bool writeFailed = false;
  std::int64_t written = 0;
  std::string errorBody;
  const std::function<bool(std::int64_t)>* onData = nullptr;
};

std::size_t onDownloadBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<DownloadState*>(user);
  const std::size_t bytes = size * count;
  if (!state->decided) {
    long status = 0;
    curl_easy_getinfo(state->curl, CURLINFO_RESPONSE_CODE, &status);
    state->decided = true;
    state->toFile = status == 200 || status == 206;
    if (status == 200 && state->offset > 0) {
      // The server ignored the Range: the whole file comes again.
      state->restarted = true;
      if (std::fflush(state->file) != 0 || ::ftruncate(::fileno(state->file), 0) != 0 ||
          std::fseek(state->file, 0, SEEK_SET) != 0) {
        state->writeFailed = true;
        return 0;
      }
    }
  }
  if (!state->toFile) {
    if (state->errorBody.size() < kMaxErrorBody) state->errorBody.append(data, std::min(bytes, kMaxErrorBody));
    return bytes;
  }
  if (std::fwrite(data, 1, bytes, state->file) != bytes) {
    state->writeFailed = true;
    return 0;
  }
  state->written += static_cast<std::int64_t>(bytes);
  return bytes;
}

int onTransferInfo(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* state = static_cast<DownloadState*>(user);
  return (*state->onData)(state->written) ? 0 : 1;
}

} // namespace

struct HubHttp::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

std::string HttpReply::header(const std::string& lowerCaseName) const {
  const auto it = headers.find(lowerCaseName);
  return it == headers.end() ? std::string() : it->second;
}

HubHttp::HubHttp(std::string token) : m_handle(std::make_unique<Handle>()), m_token(std::move(token)) {
  initCurlOnce();
  m_handle->curl = curl_easy_init();
  if (m_handle->curl == nullptr) throw HubError(HubError::Kind::Network, "libcurl could not start a transfer");
}

HubHttp::~HubHttp() = default;

namespace {

/// The options every request shares; returns the header list the handle points to.
Slist prepare(CURL* curl, const std::string& url, const std::string& token, HttpReply& reply, char* errorText) {
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorText);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  // A connection that delivers nothing for a minute is dropped (and resumed by the caller).
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  const std::string agent = std::string("lorafa/") + versionString();
  curl_easy_setopt(curl, CURLOPT_USERAGENT, agent.c_str());
  curl_slist* list = curl_slist_append(nullptr, "Accept-Encoding: identity");
  if (!token.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  return Slist(list);
}

[[noreturn]] void throwNetwork(const std::string& url, CURLcode code, const char* errorText) {
  throw HubError(HubError::Kind::Network, "cannot reach " + url + ": " +
                                              (errorText[0] != '\0' ? std::string(errorText) : curl_easy_strerror(code)) +
                                              " (check the network connection, a proxy, or HF_ENDPOINT)");
}

} // namespace

HttpReply HubHttp::get(const std::string& url) {
  HttpReply reply;
  char errorText[CURL_ERROR_SIZE] = {};
  const Slist headers = prepare(m_handle->curl, url, m_token, reply, errorText);
  curl_easy_setopt(m_handle->curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(m_handle->curl, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(m_handle->curl, CURLOPT_WRITEDATA, &reply.body);
  const CURLcode code = curl_easy_perform(m_handle->curl);
  if (code != CURLE_OK) throwNetwork(url, code, errorText);
  curl_easy_getinfo(m_handle->curl, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

HttpReply HubHttp::head(const std::string& url) {
  HttpReply reply;
  char errorText[CURL_ERROR_SIZE] = {};
  const Slist headers = prepare(m_handle->curl, url, m_token, reply, errorText);
  curl_easy_setopt(m_handle->curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(m_handle->curl, CURLOPT_FOLLOWLOCATION, 0L);
  const CURLcode code = curl_easy_perform(m_handle->curl);
  if (code != CURLE_OK) throwNetwork(url, code, errorText);
  curl_easy_getinfo(m_handle->curl, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

HttpTransfer HubHttp::download(const std::string& url, std::int64_t offset, std::FILE* file,
                               const std::function<bool(std::int64_t)>& onData) {
  HttpTransfer transfer;
  char errorText[CURL_ERROR_SIZE] = {};
  const Slist headers = prepare(m_handle->curl, url, m_token, transfer.reply, errorText);
  DownloadState state;
  state.curl = m_handle->curl;
  state.file = file;
  state.offset = offset;
  state.onData = &onData;
  curl_easy_setopt(m_handle->curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(m_handle->curl, CURLOPT_WRITEFUNCTION, onDownloadBody);
  curl_easy_setopt(m_handle->curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(m_handle->curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(m_handle->curl, CURLOPT_XFERINFOFUNCTION, onTransferInfo);
  curl_easy_setopt(m_handle->curl, CURLOPT_XFERINFODATA, &state);
  // A plain Range header, not CURLOPT_RESUME_FROM: a server that ignores it and sends the
  // whole file (200) is handled above instead of failing.
  const std::string range = std::to_string(offset) + "-";
  if (offset > 0) curl_easy_setopt(m_handle->curl, CURLOPT_RANGE, range.c_str());
  const CURLcode code = curl_easy_perform(m_handle->curl);
  curl_easy_getinfo(m_handle->curl, CURLINFO_RESPONSE_CODE, &transfer.reply.status);
  transfer.bytesWritten = state.written;
  transfer.restarted = state.restarted;
  if (!state.toFile) transfer.reply.body = state.errorBody;
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    transfer.aborted = true;
  } else if (state.writeFailed) {
    transfer.error = "writing the downloaded data failed";
  } else if (code != CURLE_OK) {
    transfer.error = errorText[0] != '\0' ? std::string(errorText) : curl_easy_strerror(code);
  } else {
    transfer.ok = true;
  }
  return transfer;
}

std::string urlEncode(const std::string& text, bool keepSlash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

} // namespace lorafa
