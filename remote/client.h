// The client side of Prometheus remote-read: reads another server's
// /api/v1/read (a regional meridian or a plain Prometheus) for a global view.
// Asks for STREAMED_XOR_CHUNKS first and SAMPLES second, and decodes
// whichever the server answers; series-only reads (ReadHints.func "series",
// used for the label APIs) ask for SAMPLES.
//
// Thread-safety: a RemoteReadClient is immutable and may be shared; each call
// makes its own connection (an HttpCall), which another thread may Abort().
#ifndef MERIDIAN_REMOTE_CLIENT_H_
#define MERIDIAN_REMOTE_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/labels.h"
#include "model/queryable.h"
#include "model/status.h"

namespace httplib {
class Client;
}  // namespace httplib

// proto/remote.pb.h stays out of this header: its package `prometheus` would
// clash with prometheus-cpp's namespace in server/.
namespace prometheus {
class ReadRequest;
}  // namespace prometheus

namespace meridian::remote {

// One remote-read endpoint, as configured (--remote-read NAME=URL;...).
struct RemoteEndpoint {
  std::string name;
  std::string url;  // http(s)://host:port/path, e.g. http://us-west-2:9097/api/v1/read
  // Labels every series of this remote carries (its region, its replica):
  // attached to series that lack them, and a selector they cannot match
  // skips the remote.
  Labels external_labels;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // The tenant is sent in this header; `tenant` fixes it, else the caller's.
  std::string tenant_header = "THANOS-TENANT";
  std::string tenant;
  // As Prometheus's remote_read: authorization (Bearer), basic_auth, tls_config.
  std::string bearer_token;
  std::string basic_auth_username;
  std::string basic_auth_password;
  std::string tls_ca_file;
  bool tls_insecure_skip_verify = false;
  // The remote's Prometheus HTTP API (for its watermark, remote/watermark.h);
  // empty: the URL without /api/v1/read.
  std::string api_url;
  // A meridian whose query API (api_url) evaluates pushed-down aggregations
  // (remote/pushdown.h); false: remote-read only (a plain Prometheus).
  bool pushdown = false;
};

// A series read from a remote: labels (with the external labels attached)
// and its samples in the queried range, sorted, unique timestamps.
struct RemoteSeries {
  Labels labels;
  std::vector<Sample> samples;
};

// One in-flight request's connection; Abort() from any thread makes the
// blocked Read return. With `reuse`, the connection comes from (and goes back
// to, unless aborted) a process-wide pool of idle keep-alive connections per
// server and client settings: a global meridian's calls to its regions skip
// the TCP (and TLS) set-up and the region's accept; an idle connection is
// dropped after 30 s (a server closes idle ones later: meridian after 6m).
class HttpCall {
 public:
  explicit HttpCall(const RemoteEndpoint& e, bool reuse = false);
  ~HttpCall();
  void Abort();
  httplib::Client* client() { return client_.get(); }
  const std::string& path() const { return path_; }
  const absl::Status& setup() const { return setup_; }

 private:
  std::unique_ptr<httplib::Client> client_;
  std::string path_;
  absl::Status setup_;
  std::string pool_key_;  // empty: not pooled
  std::atomic<bool> aborted_{false};
};

class RemoteReadClient {
 public:
  explicit RemoteReadClient(RemoteEndpoint e) : e_(std::move(e)) {}
  const RemoteEndpoint& endpoint() const { return e_; }

  // Sends `req` (its accepted_response_types are set here) on `call` with
  // the tenant header; one series list per query, sorted by labels.
  // Errors name the HTTP status and the start of the remote's message.
  absl::StatusOr<std::vector<std::vector<RemoteSeries>>> Read(
      HttpCall* call, const prometheus::ReadRequest& request, std::string_view caller_tenant,
      bool series_only) const;

  // Would any series of this remote match all `matchers`, judging by its
  // external labels alone?
  bool MayMatch(const std::vector<Matcher>& matchers) const;

 private:
  RemoteEndpoint e_;
};

// Decodes a SAMPLES (snappy ReadResponse) or streamed body into series per
// query, keeping samples within each query's [start, end]. Exposed for tests.
absl::StatusOr<std::vector<std::vector<RemoteSeries>>> DecodeReadResponse(
    const prometheus::ReadRequest& req, std::string_view content_type, std::string_view body);

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_CLIENT_H_
