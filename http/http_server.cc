// The connection layer's event loop: the listening socket, accepting, reading
// request heads (and small bodies), handing complete requests to the worker
// pools, canned refusals and timeouts. Running a request is http_serve.cc's;
// TLS reads, writes and handshakes are http_tls_conn.cc's.
#include "http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "http/http_server_internal.h"
#include "model/sync.h"

namespace meridian::http {

using http_internal::ErrorResponse;
using http_internal::HeadStatus;
using http_internal::RequestHead;

namespace {

std::string AddrString(const sockaddr_storage& sa, int* port) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  socklen_t len = sa.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&sa), len, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    *port = 0;
    return "";
  }
  *port = std::atoi(serv);
  std::string h = host;
  // IPv4-mapped peers of a dual-stack socket are shown as IPv4.
  if (h.rfind("::ffff:", 0) == 0 && h.find('.') != std::string::npos) h = h.substr(7);
  return h;
}

// Head block ends within buf (a line feed followed by an optional CR and a line feed)?
bool HeadEnded(Conn& c) {
  size_t from = c.scanned > 0 ? c.scanned - 1 : 0;
  for (size_t i = from; i < c.buf.size(); ++i) {
    if (c.buf[i] != '\n') continue;
    if (i + 1 < c.buf.size() && c.buf[i + 1] == '\n') return true;
    if (i + 2 < c.buf.size() && c.buf[i + 1] == '\r' && c.buf[i + 2] == '\n') return true;
  }
  c.scanned = c.buf.size() > 2 ? c.buf.size() - 2 : 0;
  return false;
}

bool IsFastPath(const RequestHead& h) {
  if (h.method != "GET" && h.method != "HEAD") return false;
  std::string_view t = h.target;
  t = t.substr(0, t.find_first_of("?#"));
  return t == "/-/healthy" || t == "/-/ready";
}

}  // namespace

HttpServer::HttpServer(Router* router, HttpServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->router = router;
  impl_->opt = std::move(options);
  impl_->HookRouter();
}

HttpServer::~HttpServer() {
  Stop();
  for (int fd : {impl_->listen_fd, impl_->epoll_fd, impl_->event_fd, impl_->reserve_fd}) {
    if (fd >= 0) close(fd);
  }
}

absl::Status HttpServer::Bind() {
  const HttpServerOptions& o = impl_->opt;
  std::string host = o.host;
  if (host.empty()) host = "0.0.0.0";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(o.port);
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::InvalidArgumentError("cannot resolve listen host \"" + host +
                                      "\": " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      last_error = std::strerror(errno);
      close(fd);
      continue;
    }
    impl_->listen_fd = fd;
    break;
  }
  freeaddrinfo(res);
  if (impl_->listen_fd < 0) {
    return absl::UnavailableError("cannot listen on " + host + ":" + port + ": " + last_error);
  }
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&sa), &len);
  AddrString(sa, &bound_port_);
  impl_->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl_->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  impl_->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (impl_->epoll_fd < 0 || impl_->event_fd < 0) {
    return absl::InternalError(std::string("epoll: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = impl_->listen_fd;
  epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, impl_->listen_fd, &ev);
  ev.data.fd = impl_->event_fd;
  epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, impl_->event_fd, &ev);
  return absl::OkStatus();
}

void HttpServer::Run() {
  {
    MutexLock lock(&impl_->mu);
    if (impl_->stopping || impl_->listen_fd < 0) {
      impl_->run_state = Impl::RunState::kDone;
      impl_->cv.SignalAll();
      return;
    }
    impl_->run_state = Impl::RunState::kRunning;
  }
  impl_->workers = std::make_unique<WorkerPool>(std::max(1, impl_->opt.worker_threads),
                                                std::max(0, impl_->opt.max_queued));
  impl_->health = std::make_unique<WorkerPool>(std::max(1, impl_->opt.health_threads), 64);
  impl_->Loop();
  {
    MutexLock lock(&impl_->mu);
    impl_->run_state = Impl::RunState::kDone;
  }
  impl_->cv.SignalAll();
}

void HttpServer::Stop() {
  {
    MutexLock lock(&impl_->mu);
    impl_->stopping = true;
    if (impl_->run_state == Impl::RunState::kNew) return;
  }
  impl_->Wake();
  MutexLock lock(&impl_->mu);
  while (impl_->run_state != Impl::RunState::kDone) impl_->cv.Wait(&impl_->mu);
}

HttpServerStats HttpServer::Stats() const {
  HttpServerStats s;
  s.connections = impl_->open_conns.load();
  s.accepted = impl_->accepted.load();
  s.requests = impl_->requests.load();
  s.rejected_overload = impl_->rejected_overload.load();
  s.rejected_connections = impl_->rejected_connections.load();
  s.read_timeouts = impl_->read_timeouts.load();
  s.too_large = impl_->too_large.load();
  s.tls_handshakes = impl_->tls_handshakes.load();
  s.tls_handshake_failures = impl_->tls_handshake_failures.load();
  s.tls_plain_http = impl_->tls_plain_http.load();
  // The pools exist while Run() serves; Stats() is for /metrics, served then.
  if (impl_->workers) impl_->workers->Counts(&s.workers_busy, &s.queued);
  return s;
}

void HttpServer::Impl::Wake() {
  uint64_t one = 1;
  ssize_t n = write(event_fd, &one, sizeof(one));
  (void)n;
}

void HttpServer::Impl::Arm(Conn* c, uint32_t events, bool add) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c->fd;
  epoll_ctl(epoll_fd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
}

void HttpServer::Impl::Close(int fd) {
  close(fd);
  open_conns.fetch_sub(1);
}

void HttpServer::Impl::CloseConn(std::unique_ptr<Conn> c) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
  Close(c->fd);
}

// Stops sending, and reads what the client still sends for a moment before
// closing, so that it sees our answer rather than a reset.
void HttpServer::Impl::Drain(Conn* c) {
  if (c->ssl && SSL_is_init_finished(c->ssl)) {
    ERR_clear_error();
    SSL_shutdown(c->ssl);  // close_notify, without waiting for the client's
    ERR_clear_error();
  }
  shutdown(c->fd, SHUT_WR);
  c->state = ConnState::kDraining;
  c->deadline = Clock::now() + std::chrono::seconds(2);
  c->buf.clear();
  c->buf.shrink_to_fit();
}

// Answers a request without a worker (503, 408, 413/414/431, 400). When the
// whole request (request_bytes of buf) has arrived and the answer keeps the
// connection, the request is dropped and the connection stays usable.
void HttpServer::Impl::Reject(Conn* c, const std::string& response, size_t request_bytes) {
  SendAll(c, response, std::chrono::milliseconds(200));
  bool keep = request_bytes > 0 && request_bytes <= c->buf.size() &&
              response.find("\r\nConnection: close\r\n") == std::string::npos;
  if (!keep) {
    Drain(c);
    return;
  }
  c->buf.erase(0, request_bytes);
  c->scanned = 0;
  c->state = c->buf.empty() ? ConnState::kIdle : ConnState::kReading;
  c->request_start = Clock::now();
  c->deadline =
      c->buf.empty() ? Clock::now() + opt.idle_timeout : c->request_start + opt.read_timeout;
}

void HttpServer::Impl::Loop() {
  std::vector<epoll_event> events(256);
  auto last_sweep = Clock::now();
  bool listening = true;
  for (;;) {
    bool stop;
    {
      MutexLock lock(&mu);
      stop = stopping;
    }
    if (stop && listening) {
      {
        // A worker reading a request body sees its end now rather than
        // waiting for the read timeout; answers can still be written.
        MutexLock lock(&mu);
        for (const auto& [fd, unused] : busy_fds) shutdown(fd, SHUT_RD);
      }
      epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
      close(listen_fd);
      listen_fd = -1;
      listening = false;
      for (auto& [fd, c] : conns) {
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
        Close(fd);
      }
      conns.clear();
    }
    TakeReturned();
    if (stop && dispatched.load() == 0) break;
    int n = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 250);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listen_fd) {
        Accept();
      } else if (fd == event_fd) {
        uint64_t v;
        ssize_t r = read(event_fd, &v, sizeof(v));
        (void)r;
      } else {
        auto it = conns.find(fd);
        if (it != conns.end()) OnReadable(it->second.get());
      }
    }
    if (Clock::now() - last_sweep > std::chrono::milliseconds(250)) {
      Sweep();
      last_sweep = Clock::now();
    }
  }
  // Whatever was still queued ran (and came back) before dispatched hit 0.
  workers->Shutdown();
  health->Shutdown();
  TakeReturned();
}

void HttpServer::Impl::Accept() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd =
        accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && reserve_fd >= 0) {
        // Out of descriptors: accept with the reserve and refuse at once,
        // rather than leave the listen socket readable forever.
        close(reserve_fd);
        reserve_fd = -1;
        int fd2 = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd2 >= 0) {
          rejected_connections.fetch_add(1);
          if (!opt.tls)
            SendAllFd(fd2,
                      ErrorResponse(503, "unavailable", "too many open connections", true,
                                    "Retry-After: 1\r\n"),
                      std::chrono::milliseconds(50));
          close(fd2);
        }
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      return;  // EAGAIN, or an error we cannot act on
    }
    accepted.fetch_add(1);
    open_conns.fetch_add(1);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->peer_addr = AddrString(peer, &c->peer_port);
    sockaddr_storage local{};
    len = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    c->local_addr = AddrString(local, &c->local_port);
    c->state = ConnState::kIdle;
    c->deadline = Clock::now() + opt.idle_timeout;
    if (opt.tls) {
      c->ssl = opt.tls->NewConnection();
      if (c->ssl == nullptr || SSL_set_fd(c->ssl, fd) != 1) {
        ERR_clear_error();
        tls_handshake_failures.fetch_add(1);
        Close(fd);
        continue;
      }
      SSL_set_accept_state(c->ssl);
      c->state = ConnState::kHandshake;
      c->deadline = Clock::now() + opt.read_timeout;
    }
    Conn* raw = c.get();
    conns.emplace(fd, std::move(c));
    Arm(raw, EPOLLIN | EPOLLRDHUP, true);
    if (open_conns.load() > opt.max_connections) {
      rejected_connections.fetch_add(1);
      if (!opt.tls)
        SendAllFd(fd,
                  ErrorResponse(
                      503, "unavailable",
                      "too many open connections (max " + std::to_string(opt.max_connections) + ")",
                      true, "Retry-After: 1\r\n"),
                  std::chrono::milliseconds(50));
      Drain(raw);
    }
  }
}

void HttpServer::Impl::OnReadable(Conn* c) {
  if (c->state == ConnState::kHandshake && !Handshake(c)) return;
  char tmp[65536];
  for (;;) {
    ssize_t n = c->state == ConnState::kDraining ? recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT)
                                                 : ConnRecv(c, tmp, sizeof(tmp));
    if (n > 0) {
      if (c->state == ConnState::kDraining) continue;
      if (c->state == ConnState::kIdle) {
        c->state = ConnState::kReading;
        c->request_start = Clock::now();
        c->deadline = c->request_start + opt.read_timeout;
      }
      c->buf.append(tmp, static_cast<size_t>(n));
      // Enough to decide; the rest stays in the socket until Advance asks.
      if (c->buf.size() > opt.max_header_bytes + opt.prebuffer_body_bytes + 8192) break;
      // (TLS returns one record per read: read on until there is no more.)
      if (c->ssl == nullptr && static_cast<size_t>(n) < sizeof(tmp)) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    // EOF or error. A half-closed client may still wait for the answer to a
    // complete request it sent: serve that, then close.
    int fd = c->fd;
    if (n == 0 && c->state == ConnState::kReading) {
      Advance(c);
      if (conns.find(fd) == conns.end()) return;  // handed to a worker
    }
    auto it = conns.find(fd);
    CloseConn(std::move(it->second));
    conns.erase(it);
    return;
  }
  if (c->state == ConnState::kDraining) return;
  Advance(c);
}

bool HttpServer::Impl::Advance(Conn* c) {
  // Empty lines before a request line are ignored (RFC 9112 2.2).
  size_t skip = 0;
  while (skip < c->buf.size() && (c->buf[skip] == '\r' || c->buf[skip] == '\n')) ++skip;
  if (skip) {
    c->buf.erase(0, skip);
    c->scanned = 0;
  }
  if (c->buf.empty()) {
    c->state = ConnState::kIdle;
    c->deadline = Clock::now() + opt.idle_timeout;
    return true;
  }
  const size_t limit = opt.max_header_bytes + 4096;
  if (!HeadEnded(*c) && c->buf.size() <= limit) return true;
  RequestHead head;
  std::string error;
  HeadStatus hs = http_internal::ParseHead(c->buf, opt.max_header_bytes, &head, &error);
  switch (hs) {
    case HeadStatus::kIncomplete:
      return true;
    case HeadStatus::kLineTooLong:
      too_large.fetch_add(1);
      Reject(c,
             ErrorResponse(414, "bad_data",
                           "request line too long: over the limit of " +
                               std::to_string(opt.max_header_bytes) + " bytes",
                           true),
             0);
      return false;
    case HeadStatus::kHeadersTooLarge:
      too_large.fetch_add(1);
      Reject(c,
             ErrorResponse(431, "bad_data",
                           "request header fields too large: over the limit of " +
                               std::to_string(opt.max_header_bytes) + " bytes",
                           true),
             0);
      return false;
    case HeadStatus::kBad:
      Reject(c, ErrorResponse(400, "bad_data", error, true), 0);
      return false;
    case HeadStatus::kComplete:
      break;
  }
  const size_t body =
      head.content_length > 0 && !head.chunked ? static_cast<size_t>(head.content_length) : 0;
  // Small bodies are read here, so a slow sender holds no worker.
  if (body > 0 && body <= opt.prebuffer_body_bytes && !head.expect_continue &&
      c->buf.size() < head.head_len + body) {
    return true;
  }
  const size_t whole = head.chunked ? 0 : head.head_len + body;  // 0: unknown
  if (head.form && !head.chunked && body > opt.max_form_bytes) {
    too_large.fetch_add(1);
    Reject(c,
           ErrorResponse(413, "bad_data",
                         "request body too large: form over the limit of " +
                             std::to_string(opt.max_form_bytes) + " bytes",
                         c->buf.size() < whole),
           whole);
    return false;
  }
  if (opt.max_body_bytes > 0 && !head.form && !head.chunked && body > opt.max_body_bytes) {
    // Refused before a worker would wait (up to the read timeout) for a body
    // it will not take.
    too_large.fetch_add(1);
    std::string text = "request body too large: over the limit of " +
                       std::to_string(opt.max_body_bytes) + " bytes (max-body-bytes)\n";
    Reject(c,
           "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Length: " +
               std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n" + text,
           0);
    return false;
  }
  bool fast = IsFastPath(head);
  c->head = std::move(head);
  int fd = c->fd;
  auto it = conns.find(fd);
  std::unique_ptr<Conn> owned = std::move(it->second);
  conns.erase(it);
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
  dispatched.fetch_add(1);
  {
    MutexLock lock(&mu);
    busy_fds.emplace(fd, true);
  }
  Conn* raw = owned.get();
  auto task = std::make_shared<std::unique_ptr<Conn>>(std::move(owned));
  bool queued = (fast ? health : workers)->TryEnqueue([this, task] { Serve(std::move(*task)); });
  if (queued) {
    requests.fetch_add(1);
    return false;
  }
  // Saturated: the canned 503 from here, no worker needed.
  dispatched.fetch_sub(1);
  {
    MutexLock lock(&mu);
    busy_fds.erase(fd);
  }
  owned = std::move(*task);
  conns.emplace(fd, std::move(owned));
  Arm(raw, EPOLLIN | EPOLLRDHUP, true);
  rejected_overload.fetch_add(1);
  bool complete = whole > 0 && raw->buf.size() >= whole;
  Reject(raw,
         ErrorResponse(503, "unavailable",
                       "server overloaded: every HTTP worker is busy and the queue is full; "
                       "retry later",
                       !complete, "Retry-After: 1\r\n"),
         complete ? whole : 0);
  if (raw->state != ConnState::kDraining && !raw->buf.empty()) return Advance(raw);
  return false;
}

void HttpServer::Impl::Sweep() {
  auto now = Clock::now();
  std::vector<int> expired;
  for (auto& [fd, c] : conns) {
    if (now >= c->deadline) expired.push_back(fd);
  }
  for (int fd : expired) {
    auto it = conns.find(fd);
    Conn* c = it->second.get();
    if (c->state == ConnState::kHandshake) tls_handshake_failures.fetch_add(1);
    if (c->state == ConnState::kReading) {
      read_timeouts.fetch_add(1);
      SendAll(c,
              ErrorResponse(408, "timeout",
                            "request not received within " +
                                std::to_string(opt.read_timeout.count() / 1000) + "s",
                            true),
              std::chrono::milliseconds(50));
      Drain(c);
      continue;
    }
    CloseConn(std::move(it->second));
    conns.erase(it);
  }
}

void HttpServer::Impl::TakeReturned() {
  std::vector<std::pair<std::unique_ptr<Conn>, bool>> back;
  bool stop;
  {
    MutexLock lock(&mu);
    back.swap(returned);
    stop = stopping;
  }
  for (auto& [c, keep] : back) {
    dispatched.fetch_sub(1);
    if (stop) {
      Close(c->fd);
      continue;
    }
    Conn* raw = c.get();
    if (!keep) {
      // Closing with unread input would reset the connection and could
      // destroy the answer before the client reads it.
      int fd = raw->fd;
      conns.emplace(fd, std::move(c));
      Arm(raw, EPOLLIN | EPOLLRDHUP, true);
      Drain(raw);
      continue;
    }
    raw->scanned = 0;
    raw->state = raw->buf.empty() ? ConnState::kIdle : ConnState::kReading;
    raw->request_start = Clock::now();
    raw->deadline = raw->buf.empty() ? raw->request_start + opt.idle_timeout
                                     : raw->request_start + opt.read_timeout;
    if (raw->buf.capacity() > 65536) raw->buf.shrink_to_fit();
    int fd = raw->fd;
    conns.emplace(fd, std::move(c));
    Arm(raw, EPOLLIN | EPOLLRDHUP, true);
    if (!raw->buf.empty()) {
      Advance(raw);  // a pipelined request
    } else if (raw->ssl && SSL_pending(raw->ssl) > 0) {
      OnReadable(raw);  // decrypted input the socket no longer signals
    }
  }
}

}  // namespace meridian::http
