// The connection layer's insides, shared by its parts: http_server.cc (the
// listening socket, the epoll event loop, accepting, reading heads, handing
// complete requests to workers, timeouts), http_serve.cc (running one request
// through httplib on a worker) and http_tls_conn.cc (reads, writes and the
// handshake on TLS or plain connections). Not for use outside http/.
#ifndef MERIDIAN_HTTP_HTTP_SERVER_INTERNAL_H_
#define MERIDIAN_HTTP_HTTP_SERVER_INTERNAL_H_

#include <openssl/ssl.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/http_server.h"
#include "http/worker_pool.h"
#include "model/sync.h"

namespace meridian::http {

using Clock = std::chrono::steady_clock;

enum class ConnState {
  kHandshake,  // TLS: the handshake has not finished
  kIdle,       // waiting for the first byte of a request
  kReading,    // part of a request has arrived
  kDraining,   // answered and closing: discard input until EOF or the deadline
};

struct Conn {
  int fd = -1;
  std::string buf;     // received bytes not yet consumed
  size_t scanned = 0;  // bytes of buf known not to end a head
  ConnState state = ConnState::kIdle;
  Clock::time_point deadline;       // of the current state
  Clock::time_point request_start;  // first byte of the current request
  std::string peer_addr, local_addr;
  int peer_port = 0, local_port = 0;
  http_internal::RequestHead head;  // valid while a request is dispatched
  SSL* ssl = nullptr;               // TLS connections
  bool sniffed = false;             // TLS: first byte looked at (plain HTTP or a handshake)
  bool want_write = false;          // TLS handshake waits for the socket to take more
  PeerCertificate peer;             // TLS: the client's certificate, after the handshake
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (ssl) SSL_free(ssl);
  }
};

// One non-blocking read from a connection, TLS or plain: bytes read, 0 at
// the end of the stream, -1 with errno (EAGAIN: nothing there yet).
ssize_t ConnRecv(Conn* c, char* buf, size_t n);
// One non-blocking write: bytes written or -1 with errno (EAGAIN: full).
ssize_t ConnSend(Conn* c, const char* buf, size_t n);
// Writes all of data to a plain socket (or gives up after timeout).
bool SendAllFd(int fd, std::string_view data, std::chrono::milliseconds timeout);
// The same on a connection (TLS or plain).
bool SendAll(Conn* c, std::string_view data, std::chrono::milliseconds timeout);

struct HttpServer::Impl {
  Router* router;
  HttpServerOptions opt;
  int listen_fd = -1;
  int epoll_fd = -1;
  int event_fd = -1;
  int reserve_fd = -1;  // closed to accept (and refuse) a connection when out of fds
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<WorkerPool> health;

  // Loop-owned connections (not dispatched), by fd.
  std::unordered_map<int, std::unique_ptr<Conn>> conns;

  // Connections handed back by workers: keep (true) or close.
  Mutex mu;
  CondVar cv;
  std::vector<std::pair<std::unique_ptr<Conn>, bool>> returned ABSL_GUARDED_BY(mu);
  std::unordered_map<int, bool> busy_fds ABSL_GUARDED_BY(mu);  // fds of dispatched connections
  bool stopping ABSL_GUARDED_BY(mu) = false;
  enum class RunState { kNew, kRunning, kDone };
  RunState run_state ABSL_GUARDED_BY(mu) = RunState::kNew;

  std::atomic<int64_t> open_conns{0};
  std::atomic<int64_t> dispatched{0};
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> rejected_overload{0};
  std::atomic<int64_t> rejected_connections{0};
  std::atomic<int64_t> read_timeouts{0};
  std::atomic<int64_t> too_large{0};
  std::atomic<int64_t> tls_handshakes{0};
  std::atomic<int64_t> tls_handshake_failures{0};
  std::atomic<int64_t> tls_plain_http{0};

  void Loop();
  void Accept();
  void OnReadable(Conn* c);
  // Advances c's TLS handshake. True when it has finished (c may read
  // requests); false when it waits for the client, or c was closed.
  bool Handshake(Conn* c);
  // Looks at c's buffer; dispatches or answers a complete request. Returns
  // false when c was closed or handed over.
  bool Advance(Conn* c);
  void Arm(Conn* c, uint32_t events, bool add);
  void Close(int fd);
  void CloseConn(std::unique_ptr<Conn> c);
  void Drain(Conn* c);
  void Reject(Conn* c, const std::string& response, size_t request_bytes);
  void Sweep();
  void TakeReturned();
  void Wake();
  void Serve(std::unique_ptr<Conn> c);
  bool ServeOne(Conn* c);
  // Installs the router's post-routing hook (http_serve.cc).
  void HookRouter();
};

}  // namespace meridian::http

#endif  // MERIDIAN_HTTP_HTTP_SERVER_INTERNAL_H_
