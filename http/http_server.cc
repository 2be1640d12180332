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
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "model/sync.h"

namespace meridian::http {

using Clock = std::chrono::steady_clock;

using http_internal::ErrorResponse;
using http_internal::HeadStatus;
using http_internal::RequestHead;

namespace {

// What the post-routing hook saw of the response being written.
struct ResponseNote {
  int status = 0;
  bool close = false;
};
thread_local ResponseNote* t_note = nullptr;
// The socket of the request this worker thread is running, or -1.
thread_local int t_conn_fd = -1;
// Its client certificate (TLS connections), or nullptr.
thread_local const PeerCertificate* t_peer = nullptr;

// A fixed pool of threads with a bounded wait queue.
class WorkerPool {
 public:
  WorkerPool(int threads, int max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~WorkerPool() { Shutdown(); }

  // False when every worker is busy and max_queued tasks already wait.
  bool TryEnqueue(std::function<void()> fn) {
    {
      MutexLock lock(&mu_);
      if (shutdown_) return false;
      if (queue_.size() >= static_cast<size_t>(idle_) + static_cast<size_t>(max_queued_)) {
        return false;
      }
      queue_.push_back(std::move(fn));
    }
    cv_.Signal();
    return true;
  }

  // Runs what is queued, then joins.
  void Shutdown() {
    {
      MutexLock lock(&mu_);
      shutdown_ = true;
    }
    cv_.SignalAll();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void Counts(int64_t* busy, int64_t* queued) {
    MutexLock lock(&mu_);
    *busy = static_cast<int64_t>(threads_.size()) - idle_;
    *queued = static_cast<int64_t>(queue_.size());
  }

 private:
  void Loop() {
    MutexLock lock(&mu_);
    ++idle_;
    for (;;) {
      while (!shutdown_ && queue_.empty()) cv_.Wait(&mu_);
      if (queue_.empty()) break;  // shutdown_ and nothing left
      std::function<void()> fn = std::move(queue_.front());
      queue_.pop_front();
      --idle_;
      mu_.Unlock();
      fn();
      fn = nullptr;
      mu_.Lock();
      ++idle_;
    }
    --idle_;
  }

  const int max_queued_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

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
  RequestHead head;         // valid while a request is dispatched
  SSL* ssl = nullptr;       // TLS connections
  bool sniffed = false;     // TLS: first byte looked at (plain HTTP or a handshake)
  bool want_write = false;  // TLS handshake waits for the socket to take more
  PeerCertificate peer;     // TLS: the client's certificate, after the handshake
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (ssl) SSL_free(ssl);
  }
};

// One non-blocking read from a connection, TLS or plain: bytes read, 0 at
// the end of the stream, -1 with errno (EAGAIN: nothing there yet).
ssize_t ConnRecv(Conn* c, char* buf, size_t n) {
  if (c->ssl == nullptr) return recv(c->fd, buf, n, MSG_DONTWAIT);
  ERR_clear_error();
  errno = 0;
  int r = SSL_read(c->ssl, buf, static_cast<int>(std::min<size_t>(n, INT_MAX)));
  if (r > 0) return r;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  if (e == SSL_ERROR_SYSCALL && errno == EINTR) return -1;
  ERR_clear_error();
  errno = ECONNRESET;
  return -1;
}

// One non-blocking write: bytes written or -1 with errno (EAGAIN: full).
ssize_t ConnSend(Conn* c, const char* buf, size_t n) {
  if (c->ssl == nullptr) return send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (!SSL_is_init_finished(c->ssl)) {
    errno = EPIPE;  // no answer before the handshake
    return -1;
  }
  ERR_clear_error();
  errno = 0;
  int r = SSL_write(c->ssl, buf, static_cast<int>(std::min<size_t>(n, INT_MAX)));
  if (r > 0) return r;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_SYSCALL && errno == EINTR) return -1;
  ERR_clear_error();
  errno = EPIPE;
  return -1;
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

// The Stream httplib reads the request from and writes the response to:
// first the (possibly rewritten) head, then the body bytes already buffered,
// then the socket, with the request's read deadline.
class ConnStream : public httplib::Stream {
 public:
  ConnStream(Conn* c, std::string replay, size_t body_pos, Clock::time_point read_deadline,
             std::chrono::milliseconds write_timeout)
      : c_(c),
        replay_(std::move(replay)),
        pos_(body_pos),
        read_deadline_(read_deadline),
        write_timeout_(write_timeout) {}

  bool is_readable() const override { return true; }
  bool is_writable() const override {
    pollfd p{c_->fd, POLLOUT, 0};
    return poll(&p, 1, static_cast<int>(write_timeout_.count())) > 0 && !(p.revents & POLLERR);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (replay_pos_ < replay_.size()) {
      size_t n = std::min(size, replay_.size() - replay_pos_);
      std::memcpy(ptr, replay_.data() + replay_pos_, n);
      replay_pos_ += n;
      return static_cast<ssize_t>(n);
    }
    if (pos_ >= c_->buf.size()) {
      consumed_before_ += c_->buf.size();
      c_->buf.clear();
      pos_ = 0;
      ssize_t r = Fill();
      if (r <= 0) return r;
    }
    size_t n = std::min(size, c_->buf.size() - pos_);
    std::memcpy(ptr, c_->buf.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  // Writes are collected and sent together (a small response in one packet:
  // httplib writes the head and the body separately) when 64 KiB have
  // gathered, before waiting for input, and by Flush() after the request.
  ssize_t write(const char* ptr, size_t size) override {
    if (write_failed_) return -1;
    out_.append(ptr, size);
    if (out_.size() >= 65536 && !Flush()) return -1;
    return static_cast<ssize_t>(size);
  }

  bool Flush() {
    if (write_failed_) return false;
    if (out_.empty()) return true;
    bool ok = SendNow(out_.data(), out_.size());
    out_.clear();
    if (out_.capacity() > 262144) out_.shrink_to_fit();
    return ok;
  }

  bool SendNow(const char* ptr, size_t size) {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ConnSend(c_, ptr + done, size - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{c_->fd, POLLOUT, 0};
        int r = poll(&p, 1, static_cast<int>(write_timeout_.count()));
        if (r > 0 && !(p.revents & (POLLERR | POLLHUP))) continue;
        if (r < 0 && errno == EINTR) continue;
      }
      write_failed_ = true;
      return false;
    }
    return true;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_->peer_addr;
    port = c_->peer_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_->local_addr;
    port = c_->local_port;
  }
  socket_t socket() const override { return c_->fd; }

  // Bytes delivered after the head: everything consumed from buf and socket.
  size_t body_delivered(size_t body_pos) const { return consumed_before_ + pos_ - body_pos; }
  // Where unconsumed input starts in c_->buf.
  size_t pos() const { return pos_; }
  void skip(size_t n) { pos_ += n; }
  bool write_failed() const { return write_failed_; }

 private:
  // Appends what the socket has to c_->buf, waiting until the read deadline.
  ssize_t Fill() {
    if (!out_.empty() && !Flush()) return -1;  // e.g. "100 Continue" before the body
    char tmp[65536];
    for (;;) {
      ssize_t n = ConnRecv(c_, tmp, sizeof(tmp));
      if (n > 0) {
        c_->buf.append(tmp, static_cast<size_t>(n));
        return n;
      }
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(read_deadline_ - Clock::now());
      if (left.count() <= 0) return -1;
      pollfd p{c_->fd, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (r < 0 && errno != EINTR) return -1;
    }
  }

  Conn* c_;
  std::string replay_;
  size_t replay_pos_ = 0;
  size_t pos_;
  size_t consumed_before_ = 0;
  Clock::time_point read_deadline_;
  std::chrono::milliseconds write_timeout_;
  bool write_failed_ = false;
  std::string out_;  // written, not yet sent
};

bool SendAllFd(int fd, std::string_view data, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(left.count()));
      continue;
    }
    return false;
  }
  return true;
}

// The same on a connection (TLS or plain).
bool SendAll(Conn* c, std::string_view data, std::chrono::milliseconds timeout) {
  if (c->ssl == nullptr) return SendAllFd(c->fd, data, timeout);
  auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = ConnSend(c, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{c->fd, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(left.count()));
      continue;
    }
    return false;
  }
  return true;
}

bool IsFastPath(const RequestHead& h) {
  if (h.method != "GET" && h.method != "HEAD") return false;
  std::string_view t = h.target;
  t = t.substr(0, t.find_first_of("?#"));
  return t == "/-/healthy" || t == "/-/ready";
}

bool ExpectsContent(const std::string& m) {
  return m == "POST" || m == "PUT" || m == "PATCH" || m == "PRI" || m == "DELETE";
}

}  // namespace

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
};

HttpServer::HttpServer(Router* router, HttpServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->router = router;
  impl_->opt = std::move(options);
  // httplib adds `Keep-Alive: timeout=5, max=5`; there is no such cap here
  // (Go's server sends no Keep-Alive header either).
  router->set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.headers.erase("Keep-Alive");
    if (t_note) {
      t_note->status = res.status;
      t_note->close = res.get_header_value("Connection") == "close";
    }
  });
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

int HttpServer::CurrentConnectionFd() { return t_conn_fd; }
const PeerCertificate* HttpServer::CurrentPeerCertificate() { return t_peer; }

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

bool HttpServer::Impl::Handshake(Conn* c) {
  auto close_conn = [this, c] {
    auto it = conns.find(c->fd);
    CloseConn(std::move(it->second));
    conns.erase(it);
  };
  if (!c->sniffed) {
    // Plain HTTP on a TLS port gets Go's plain-text answer (a TLS record
    // starts with 0x16, a request with a method's capital letter).
    unsigned char first = 0;
    ssize_t n = recv(c->fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
    if (n <= 0) {
      close_conn();
      return false;
    }
    c->sniffed = true;
    if (first >= 'A' && first <= 'Z') {
      tls_plain_http.fetch_add(1);
      SSL_free(c->ssl);
      c->ssl = nullptr;
      SendAllFd(c->fd,
                "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
                std::chrono::milliseconds(50));
      Drain(c);
      return false;
    }
  }
  ERR_clear_error();
  int r = SSL_accept(c->ssl);
  if (r == 1) {
    tls_handshakes.fetch_add(1);
    c->peer = opt.tls->Inspect(c->ssl);
    c->state = ConnState::kIdle;
    c->deadline = Clock::now() + opt.idle_timeout;
    if (c->want_write) Arm(c, EPOLLIN | EPOLLRDHUP, false);
    c->want_write = false;
    return true;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    bool ww = e == SSL_ERROR_WANT_WRITE;
    if (ww != c->want_write)
      Arm(c, EPOLLIN | EPOLLRDHUP | (ww ? static_cast<uint32_t>(EPOLLOUT) : 0u), false);
    c->want_write = ww;
    return false;
  }
  ERR_clear_error();
  tls_handshake_failures.fetch_add(1);
  close_conn();
  return false;
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

void HttpServer::Impl::Serve(std::unique_ptr<Conn> c) {
  bool keep = ServeOne(c.get());
  {
    MutexLock lock(&mu);
    busy_fds.erase(c->fd);
    returned.emplace_back(std::move(c), keep);
  }
  Wake();
}

// Runs one request through httplib. Returns whether the connection can carry
// another request.
bool HttpServer::Impl::ServeOne(Conn* c) {
  using http_internal::kHttplibFormMax;
  using http_internal::kHttplibLineMax;
  const RequestHead& h = c->head;
  const auto read_deadline = c->request_start + opt.read_timeout;
  bool stop;
  {
    MutexLock lock(&mu);
    stop = stopping;
  }

  // What httplib must not see (its 8 KiB limits) and setup_request restores.
  std::optional<std::string> long_target;
  std::vector<std::pair<std::string, std::string>> long_headers;
  std::optional<std::string> form_body;

  const size_t body =
      h.content_length > 0 && !h.chunked ? static_cast<size_t>(h.content_length) : 0;
  const bool rewrite_form = h.form && !h.chunked && body > kHttplibFormMax;
  std::string replay;
  replay.reserve(std::min<size_t>(h.head_len, 64 * 1024) + 64);
  if (h.line_len + 1 > kHttplibLineMax) {  // the replay ends lines in CRLF
    std::string target = h.target;
    if (size_t hash = target.find('#'); hash != std::string::npos) target.erase(hash);
    size_t q = target.find('?');
    std::string path = target.substr(0, q);
    if (path.size() + h.method.size() + h.version.size() + 4 > kHttplibLineMax) {
      too_large.fetch_add(1);
      SendAll(c, ErrorResponse(414, "bad_data", "request path too long: over 8 KiB", true),
              opt.write_timeout);
      return false;
    }
    replay += h.method + " " + path + " " + h.version + "\r\n";
    long_target = target;
  } else {
    replay += h.method + " " + h.target + " " + h.version + "\r\n";
  }
  bool has_length = h.content_length >= 0 || h.chunked;
  for (std::string_view line : h.lines) {
    if (line.size() + 2 > kHttplibLineMax) {
      std::string name, value;
      if (http_internal::ParseHeaderLine(line, &name, &value)) {
        long_headers.emplace_back(std::move(name), std::move(value));
      }
      continue;
    }
    if (rewrite_form) {
      size_t colon = line.find(':');
      std::string_view name = http_internal::TrimView(line.substr(0, std::min(colon, line.size())));
      if (http_internal::IEquals(name, "Content-Length")) {
        replay += "Content-Length: 0\r\n";
        continue;
      }
      if (http_internal::IEquals(name, "Expect")) continue;
    }
    replay.append(line);
    replay += "\r\n";
  }
  // No Content-Length and no Transfer-Encoding: the body is empty (httplib
  // would read until the client closes).
  if (!has_length && ExpectsContent(h.method)) replay += "Content-Length: 0\r\n";
  replay += "\r\n";

  // (h.lines point into c->buf: the replay is built before the buffer grows.)
  size_t body_pos = h.head_len;
  if (rewrite_form) {
    // Read the whole form now; httplib gets the parameters, not the body.
    if (c->buf.size() < h.head_len + body && h.expect_continue) {
      if (!SendAll(c, "HTTP/1.1 100 Continue\r\n\r\n", opt.write_timeout)) return false;
    }
    while (c->buf.size() < h.head_len + body) {
      char tmp[65536];
      ssize_t n = ConnRecv(c, tmp, std::min(sizeof(tmp), h.head_len + body - c->buf.size()));
      if (n > 0) {
        c->buf.append(tmp, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(read_deadline - Clock::now());
      if (left.count() <= 0) {
        read_timeouts.fetch_add(1);
        SendAll(c, ErrorResponse(408, "timeout", "request body not received in time", true),
                std::chrono::milliseconds(200));
        return false;
      }
      pollfd p{c->fd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    }
    form_body = c->buf.substr(h.head_len, body);
    body_pos = h.head_len + body;
  }

  ConnStream strm(c, std::move(replay), body_pos, read_deadline, opt.write_timeout);
  ResponseNote note;
  t_note = &note;
  t_conn_fd = c->fd;
  t_peer = c->ssl ? &c->peer : nullptr;
  bool connection_closed = false;
  bool ok = router->process_request(strm, stop, connection_closed, [&](httplib::Request& req) {
    if (long_target) {
      req.target = *long_target;
      size_t q = long_target->find('?');
      if (q != std::string::npos) {
        http_internal::ParseQueryText(std::string_view(*long_target).substr(q + 1), &req.params);
      }
    }
    for (auto& [n, v] : long_headers) req.headers.emplace(n, v);
    if (form_body) http_internal::ParseQueryText(*form_body, &req.params);
  });
  t_note = nullptr;
  t_conn_fd = -1;
  t_peer = nullptr;
  if (!strm.Flush()) ok = false;
  if (!ok || connection_closed || note.close || stop || strm.write_failed()) return false;

  // Whatever httplib left of the body (a handler that did not read it) is
  // skipped when it is here, else the connection cannot be reused.
  size_t pos = strm.pos();
  if (h.chunked) {
    if (note.status >= 400) return false;
  } else if (!rewrite_form && body > 0) {
    size_t delivered = strm.body_delivered(body_pos);
    if (delivered < body) {
      size_t rest = body - delivered;
      if (c->buf.size() - pos < rest) return false;
      pos += rest;
    }
  }
  c->buf.erase(0, pos);
  return true;
}

}  // namespace meridian::http
