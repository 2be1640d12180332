// HttpServer: meridian's HTTP/1.1 connection layer. It owns the listening
// socket and every connection; cpp-httplib (Debian's compiled 0.11.4) only
// parses the request head we hand it, routes, runs the handler and writes the
// response, through Router::process_request on a Stream of ours.
//
// Why not httplib's own listen loop: it gives each connection one pool thread
// for its whole life (an idle keep-alive connection or a client sending a
// header byte every 2 s pins a worker), closes every connection after 5
// requests, leaves Nagle on (+40 ms on small keep-alive requests), queues
// without bound, and its limits (8 KiB request line, header line and form
// body, listen backlog 5) are compiled into libcpp-httplib.so.
//
// Model:
//   - one event-loop thread (epoll) accepts, sets TCP_NODELAY, and reads each
//     request's head (and a body up to 1 MiB) until it is complete: idle
//     connections and slow senders cost a file descriptor and a buffer, never
//     a worker. A request must arrive within read_timeout of its first byte
//     (408 otherwise); an idle connection is closed after idle_timeout.
//   - complete requests go to a pool of `worker_threads`; /-/healthy and
//     /-/ready (GET/HEAD) go to a pool of their own, so probes answer while
//     every worker is busy. A request that finds all workers busy and
//     `max_queued` requests already waiting gets a canned 503 + Retry-After
//     written by the event loop; so does a connection beyond max_connections.
//   - keep-alive has no request cap (clients close idle connections first:
//     Go's default transport after 90 s, Prometheus' remote-write after 5 min).
//   - heads up to max_header_bytes (1 MiB, Go's http.DefaultMaxHeaderBytes)
//     are accepted; above, 414 (request line) or 431 (headers) with a JSON
//     error body. url-encoded forms are accepted up to max_form_bytes (10 MiB,
//     Go's ParseForm limit); above, 413. httplib's 8 KiB limits are avoided by
//     handing it a shortened head and restoring the long parts (target,
//     header lines, form parameters) in process_request's setup hook.
//   - a request without Content-Length or Transfer-Encoding has an empty body
//     (RFC 9112 6.3), not "read until the peer closes".
//
// The Router's post-routing handler is taken by HttpServer (it drops
// httplib's `Keep-Alive: max=5` header and notes `Connection: close`).
//
// Thread-safety: Run() blocks in the event loop; Stop() may be called from
// any thread and returns once Run() has finished serving.
#ifndef MERIDIAN_HTTP_HTTP_SERVER_H_
#define MERIDIAN_HTTP_HTTP_SERVER_H_

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/tls.h"
#include "model/status.h"

namespace meridian::http {

// httplib::Server with request processing callable by HttpServer.
class Router : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

struct HttpServerOptions {
  std::string host = "0.0.0.0";  // empty: all addresses
  int port = 9097;               // 0: any free port (see HttpServer::port())
  int worker_threads = 64;
  int max_queued = 1024;  // requests waiting for a worker before 503
  int health_threads = 2;
  int max_connections = 4096;
  std::chrono::milliseconds idle_timeout{6 * 60 * 1000};
  std::chrono::milliseconds read_timeout{60 * 1000};
  std::chrono::milliseconds write_timeout{60 * 1000};  // without progress
  size_t max_header_bytes = 1 << 20;
  size_t max_form_bytes = 10 << 20;
  // A request (not a form) whose Content-Length is above this gets 413 from
  // the event loop at once, without a worker (0: no limit here).
  size_t max_body_bytes = 0;
  // Bodies up to this size are read by the event loop before a worker runs.
  size_t prebuffer_body_bytes = 1 << 20;
  // Serve HTTPS with this context (nullptr: plain HTTP). The handshake runs
  // in the event loop; a client speaking plain HTTP to a TLS listener gets
  // Go's answer, "400 Bad Request: Client sent an HTTP request to an HTTPS
  // server.", in plain text, and the connection is closed.
  std::shared_ptr<TlsServerContext> tls;
};

struct HttpServerStats {
  int64_t connections = 0;  // open now
  int64_t accepted = 0;
  int64_t requests = 0;              // handed to a worker
  int64_t rejected_overload = 0;     // 503: workers busy and queue full
  int64_t rejected_connections = 0;  // 503: over max_connections
  int64_t read_timeouts = 0;         // 408: request not complete within read_timeout
  int64_t too_large = 0;             // 413/414/431 answered by the connection layer
  int64_t workers_busy = 0;
  int64_t queued = 0;
  int64_t tls_handshakes = 0;  // completed
  int64_t tls_handshake_failures = 0;
  int64_t tls_plain_http = 0;  // plain HTTP requests sent to a TLS listener
};

class HttpServer {
 public:
  // `router` must outlive the server; its handlers are registered by the caller.
  HttpServer(Router* router, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Resolves host and binds; InvalidArgument/Unavailable with the reason.
  absl::Status Bind();
  // The bound port (after Bind()).
  int port() const { return bound_port_; }
  // Serves until Stop(). Bind() first.
  void Run();
  void Stop();
  HttpServerStats Stats() const;

  // The socket of the request a handler is running on, called from that
  // handler's thread; -1 elsewhere. It stays open until the handler returns.
  static int CurrentConnectionFd();
  // The client certificate of the request a handler is running on (TLS
  // listeners; nullptr elsewhere or on a plain connection).
  static const PeerCertificate* CurrentPeerCertificate();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  int bound_port_ = 0;
};

// Pieces of the connection layer, exposed for unit tests.
namespace http_internal {

struct RequestHead {
  size_t head_len = 0;  // request line + headers + blank line
  size_t line_len = 0;  // request line with its CRLF
  std::string method, target, version;
  // Header lines (without CRLF), in order.
  std::vector<std::string_view> lines;
  int64_t content_length = -1;  // -1: absent
  bool chunked = false;
  bool expect_continue = false;
  bool form = false;  // Content-Type application/x-www-form-urlencoded
};

// Outcome of looking for a request head at the start of `data`.
enum class HeadStatus { kIncomplete, kComplete, kLineTooLong, kHeadersTooLarge, kBad };

// Parses the head at the start of data (views point into data).
HeadStatus ParseHead(std::string_view data, size_t max_header_bytes, RequestHead* head,
                     std::string* error);

// httplib 0.11.4's parsing of a query string or form body into params
// (`+` is a space, %XX and %uXXXX escapes, identical pairs kept once).
void ParseQueryText(std::string_view s, std::multimap<std::string, std::string>* params);

// httplib 0.11.4's own limits (compiled into libcpp-httplib.so): a request
// line or header line longer than this (with its CRLF) is refused, and so is
// a url-encoded form body longer than this.
constexpr size_t kHttplibLineMax = 8192;
constexpr size_t kHttplibFormMax = 8192;

std::string_view TrimView(std::string_view s);         // spaces and tabs
bool IEquals(std::string_view a, std::string_view b);  // ASCII, case-insensitive

// httplib's parsing of one header line (without CRLF): name as is, value
// trimmed and percent-decoded. False (no header) without a colon or value.
bool ParseHeaderLine(std::string_view line, std::string* name, std::string* value);

// A complete HTTP/1.1 response with a Prometheus-style JSON error body.
std::string ErrorResponse(int status, std::string_view error_type, std::string_view message,
                          bool close, std::string_view extra_headers = {});

}  // namespace http_internal
}  // namespace meridian::http

#endif  // MERIDIAN_HTTP_HTTP_SERVER_H_
