// Reads and writes on a connection, TLS or plain, and the TLS handshake run
// by the event loop (with Go's answer to plain HTTP sent to a TLS port).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "http/http_server_internal.h"

namespace meridian::http {

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

}  // namespace meridian::http
