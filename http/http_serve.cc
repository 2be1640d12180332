// Running one request on a worker: the head httplib sees (its 8 KiB limits
// avoided by a shortened head whose long parts are restored afterwards),
// the Stream it reads and writes through, and what of the connection is
// left for its next request.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "http/http_server_internal.h"

namespace meridian::http {

using http_internal::ErrorResponse;
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

bool ExpectsContent(const std::string& m) {
  return m == "POST" || m == "PUT" || m == "PATCH" || m == "PRI" || m == "DELETE";
}

}  // namespace

int HttpServer::CurrentConnectionFd() { return t_conn_fd; }
const PeerCertificate* HttpServer::CurrentPeerCertificate() { return t_peer; }

void HttpServer::Impl::HookRouter() {
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
