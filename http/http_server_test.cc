#include "http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace meridian::http {
namespace {

using http_internal::HeadStatus;
using http_internal::ParseHead;
using http_internal::ParseQueryText;
using http_internal::RequestHead;

TEST(ParseHeadTest, CompleteHeadWithFraming) {
  RequestHead h;
  std::string err;
  std::string req =
      "POST /api/v1/query?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 12\r\n"
      "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
      "Expect: 100-continue\r\n\r\nquery=up%7B%7D";
  ASSERT_EQ(ParseHead(req, 1 << 20, &h, &err), HeadStatus::kComplete) << err;
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.target, "/api/v1/query?x=1");
  EXPECT_EQ(h.version, "HTTP/1.1");
  EXPECT_EQ(h.content_length, 12);
  EXPECT_TRUE(h.form);
  EXPECT_TRUE(h.expect_continue);
  EXPECT_FALSE(h.chunked);
  EXPECT_EQ(h.head_len, req.find("\r\n\r\n") + 4);
  ASSERT_EQ(h.lines.size(), 4u);
  EXPECT_EQ(h.lines[0], "Host: a");
}

TEST(ParseHeadTest, BareLineFeedsAndNoHeaders) {
  RequestHead h;
  std::string err;
  ASSERT_EQ(ParseHead("GET / HTTP/1.0\n\n", 1024, &h, &err), HeadStatus::kComplete);
  EXPECT_EQ(h.head_len, 16u);
  EXPECT_EQ(h.content_length, -1);
  EXPECT_TRUE(h.lines.empty());
}

TEST(ParseHeadTest, IncompleteAndTooLarge) {
  RequestHead h;
  std::string err;
  EXPECT_EQ(ParseHead("GET / HTTP/1.1\r\nHost: a\r\n", 1024, &h, &err), HeadStatus::kIncomplete);
  EXPECT_EQ(ParseHead("GET /" + std::string(6000, 'a'), 1024, &h, &err), HeadStatus::kLineTooLong);
  EXPECT_EQ(ParseHead("GET /" + std::string(6000, 'a') + " HTTP/1.1\r\n\r\n", 1024, &h, &err),
            HeadStatus::kLineTooLong);
  EXPECT_EQ(ParseHead("GET / HTTP/1.1\r\nX: " + std::string(6000, 'a'), 1024, &h, &err),
            HeadStatus::kHeadersTooLarge);
  // Go's slack: MaxHeaderBytes + 4096.
  EXPECT_EQ(
      ParseHead("GET / HTTP/1.1\r\nX: " + std::string(4000, 'a') + "\r\n\r\n", 1024, &h, &err),
      HeadStatus::kComplete);
}

TEST(ParseHeadTest, BadFraming) {
  RequestHead h;
  std::string err;
  EXPECT_EQ(ParseHead("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 1024, &h, &err),
            HeadStatus::kBad);
  EXPECT_EQ(
      ParseHead("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1024, &h, &err),
      HeadStatus::kBad);
  EXPECT_EQ(ParseHead("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 1024, &h, &err),
            HeadStatus::kBad);
  EXPECT_EQ(ParseHead("GET /\r\n\r\n", 1024, &h, &err), HeadStatus::kBad);
  EXPECT_EQ(ParseHead("GET / HTTP/2.0\r\n\r\n", 1024, &h, &err), HeadStatus::kBad);
  ASSERT_EQ(ParseHead("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", 1024, &h, &err),
            HeadStatus::kComplete);
  EXPECT_TRUE(h.chunked);
}

TEST(ParseQueryTextTest, SameAsHttplib) {
  // httplib 0.11.4 parses the same text into these params (see
  // Server::parse_request_line and detail::parse_query_text).
  std::multimap<std::string, std::string> p;
  ParseQueryText("a=1&a=1&b=2+3&c=%41%u00e9&&d&e=x=y& f = g &match[]=x&match%5B%5D=y", &p);
  EXPECT_EQ(p.count("a"), 1u);
  EXPECT_EQ(p.find("b")->second, "2 3");
  EXPECT_EQ(p.find("c")->second, "A\xc3\xa9");
  EXPECT_EQ(p.find("d")->second, "");
  EXPECT_EQ(p.find("e")->second, "y");
  EXPECT_EQ(p.find("f")->second, "g");
  EXPECT_EQ(p.count("match[]"), 2u);
}

// In-process: the connection layer with a Router of test handlers.
class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    router_.Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content("hello " + req.get_param_value("name"), "text/plain");
    });
    router_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.body, "text/plain");
    });
    auto dump = [](const httplib::Request& req, httplib::Response& res) {
      std::string out;
      for (const auto& [k, v] : req.params) {
        if (k != "pad") out += "[" + k + "]=[" + v + "]\n";
      }
      for (const char* h : {"X-A", "X-Long"}) {
        out += std::string(h) + ":" + std::to_string(req.get_header_value(h).size()) + ":" +
               req.get_header_value(h).substr(0, 20) + "\n";
      }
      res.set_content(out, "text/plain");
    };
    router_.Get("/params", dump);
    router_.Post("/params", dump);
    router_.Post("/ignore", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ignored", "text/plain");
    });
    // The peer port of the socket the handler is told it runs on.
    router_.Get("/whoami", [](const httplib::Request&, httplib::Response& res) {
      int fd = HttpServer::CurrentConnectionFd();
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      int port = -1;
      if (fd >= 0 && getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
        port = ntohs(peer.sin_port);
      }
      res.set_content("peer " + std::to_string(port), "text/plain");
    });
    server_ = std::make_unique<HttpServer>(&router_, o);
    ASSERT_TRUE(server_->Bind().ok());
    thread_ = std::thread([this] { server_->Run(); });
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (thread_.joinable()) thread_.join();
  }
  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(server_->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }
  // Everything the server sends until `n` responses ended or 3 s passed.
  std::string ReadResponses(int fd, int n) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (;;) {
      int done = 0;
      size_t p = 0;
      while (true) {
        size_t e = out.find("\r\n\r\n", p);
        if (e == std::string::npos) break;
        size_t cl = out.find("Content-Length: ", p);
        size_t len = cl < e ? std::stoul(out.substr(cl + 16)) : 0;
        if (out.size() < e + 4 + len) break;
        p = e + 4 + len;
        ++done;
      }
      if (done >= n || std::chrono::steady_clock::now() > deadline) return out;
      pollfd pf{fd, POLLIN, 0};
      if (poll(&pf, 1, 100) > 0) {
        char b[65536];
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r <= 0) return out;
        out.append(b, static_cast<size_t>(r));
      }
    }
  }

  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(HttpServerTest, PipelinedRequestsAndUnreadBodies) {
  Start({});
  int fd = Connect();
  // GET with a body httplib does not read, a POST whose handler ignores the
  // body, an echo, then a query: four answers, in order, on one connection.
  std::string reqs =
      "GET /hello?name=a HTTP/1.1\r\nContent-Length: 5\r\n\r\nxxxxx"
      "POST /ignore HTTP/1.1\r\nContent-Length: 3\r\n\r\nyyy"
      "POST /echo HTTP/1.1\r\nContent-Length: 4\r\n\r\nping"
      "GET /hello?name=b HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, reqs.data(), reqs.size(), 0), static_cast<ssize_t>(reqs.size()));
  std::string out = ReadResponses(fd, 4);
  size_t a = out.find("hello a"), i = out.find("ignored"), e = out.find("ping"),
         b = out.find("hello b");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(i, std::string::npos) << out;
  ASSERT_NE(e, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  EXPECT_LT(a, i);
  EXPECT_LT(i, e);
  EXPECT_LT(e, b);
  EXPECT_EQ(out.find("Keep-Alive"), std::string::npos) << out;
  close(fd);
}

// Handlers learn their connection's socket (DisconnectWatch peeks at it to
// cancel queries whose client went away); other threads get -1.
TEST_F(HttpServerTest, HandlersKnowTheirConnectionsSocket) {
  Start({});
  EXPECT_EQ(HttpServer::CurrentConnectionFd(), -1);
  for (int i = 0; i < 2; ++i) {
    int fd = Connect();
    sockaddr_in self{};
    socklen_t len = sizeof(self);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len), 0);
    std::string req = "GET /whoami HTTP/1.1\r\n\r\n";
    ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    std::string out = ReadResponses(fd, 1);
    EXPECT_NE(out.find("peer " + std::to_string(ntohs(self.sin_port))), std::string::npos) << out;
    close(fd);
  }
}

std::string Body(const std::string& response) {
  size_t e = response.find("\r\n\r\n");
  return e == std::string::npos ? "" : response.substr(e + 4);
}

// Long targets, header lines and forms bypass httplib's 8 KiB limits by a
// rewrite; the handler must see exactly what httplib itself parses from a
// short request.
TEST_F(HttpServerTest, RewrittenRequestsParseLikeHttplib) {
  Start({});
  const std::string q =
      "a=1&a=1&b=2+3&c=%41%u00e9%zz&&d&e=x=y&f=g%09&match[]=x&match%5B%5D=y&sp=%20&u=%uD800x";
  const std::string form = q + "& h = i &";
  const std::string pad = "&pad=" + std::string(20000, 'p');
  auto get = [&](const std::string& target, const std::string& headers) {
    int fd = Connect();
    std::string req = "GET " + target + " HTTP/1.1\r\n" + headers + "\r\n";
    send(fd, req.data(), req.size(), 0);
    std::string out = Body(ReadResponses(fd, 1));
    close(fd);
    return out;
  };
  auto post = [&](const std::string& body) {
    int fd = Connect();
    std::string req =
        "POST /params HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    send(fd, req.data(), req.size(), 0);
    std::string out = Body(ReadResponses(fd, 1));
    close(fd);
    return out;
  };
  std::string short_url = get("/params?" + q, "X-A: %41b\r\n");
  ASSERT_NE(short_url.find("[b]=[2 3]"), std::string::npos) << short_url;
  EXPECT_EQ(get("/params?" + q + pad, "X-A: %41b\r\n"), short_url);
  std::string long_header =
      get("/params?" + q, "X-A: %41b\r\nX-Long: " + std::string(9000, 'L') + "\r\n");
  EXPECT_NE(long_header.find("X-Long:9000:LLLL"), std::string::npos) << long_header;
  std::string short_form = post(form);
  EXPECT_NE(short_form.find("[h]=[i]"), std::string::npos) << short_form;
  EXPECT_EQ(post(form + pad), short_form);
}

TEST_F(HttpServerTest, ChunkedBodiesAndExpectContinue) {
  Start({});
  int fd = Connect();
  std::string req =
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  send(fd, req.data(), req.size(), 0);
  std::string out = ReadResponses(fd, 1);
  EXPECT_NE(out.find("\r\n\r\nabcde"), std::string::npos) << out;
  std::string big(2 << 20, 'z');  // above the pre-buffered size: a worker reads it
  req = "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " +
        std::to_string(big.size()) + "\r\n\r\n";
  send(fd, req.data(), req.size(), 0);
  std::string cont = ReadResponses(fd, 1);
  EXPECT_EQ(cont.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << cont.substr(0, 200);
  size_t sent = 0;
  while (sent < big.size()) {
    ssize_t n = send(fd, big.data() + sent, big.size() - sent, 0);
    ASSERT_GT(n, 0);
    sent += static_cast<size_t>(n);
  }
  out = ReadResponses(fd, 1);
  EXPECT_NE(out.find("Content-Length: " + std::to_string(big.size())), std::string::npos)
      << out.substr(0, 300);
  close(fd);
}

TEST_F(HttpServerTest, StopReturnsWithOpenConnections) {
  Start({});
  int idle = Connect();
  int partial = Connect();
  send(partial, "GET /hel", 8, 0);
  // A worker waits for the rest of a 2 MiB body (the read timeout is 60 s).
  int body = Connect();
  std::string head = "POST /echo HTTP/1.1\r\nContent-Length: 2097152\r\n\r\nabc";
  send(body, head.data(), head.size(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t = std::chrono::steady_clock::now();
  server_->Stop();
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(2));
  char b[16];
  EXPECT_EQ(recv(idle, b, sizeof(b), 0), 0);
  close(idle);
  close(partial);
  close(body);
}

// --- TLS in the connection layer ---------------------------------------------

namespace {
std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name + "." + std::to_string(getpid());
  FILE* f = std::fopen(path.c_str(), "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path;
}
}  // namespace

class HttpsServerTest : public HttpServerTest {
 protected:
  void StartTls() {
    TlsOptions to;
    to.self_signed_if_missing = true;
    to.self_signed_names = {"127.0.0.1"};
    auto t = TlsServerContext::Create(to);
    ASSERT_TRUE(t.ok()) << t.status();
    tls_ = *t;
    ca_ = WriteTemp("ca.crt", tls_->self_signed_pem());
    HttpServerOptions o;
    o.tls = tls_;
    Start(o);
  }
  std::unique_ptr<httplib::SSLClient> Client() {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    c->set_ca_cert_path(ca_.c_str());
    c->enable_server_certificate_verification(true);
    c->set_keep_alive(true);
    return c;
  }
  std::shared_ptr<TlsServerContext> tls_;
  std::string ca_;
};

TEST_F(HttpsServerTest, KeepAliveLargeBodiesAndForms) {
  StartTls();
  auto c = Client();
  for (int i = 0; i < 5; ++i) {
    auto r = c->Get("/hello?name=" + std::to_string(i));
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->body, "hello " + std::to_string(i));
  }
  // Bodies beyond what the event loop buffers stream through TLS.
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4097) big[i] = static_cast<char>('a' + i % 26);
  auto e = c->Post("/echo", big, "application/octet-stream");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->body.size(), big.size());
  EXPECT_TRUE(e->body == big);
  // A form over httplib's 8 KiB limit.
  std::string form = "a=1&pad=" + std::string(20000, 'p') + "&b=2";
  auto f = c->Post("/params", form, "application/x-www-form-urlencoded");
  ASSERT_TRUE(f);
  EXPECT_NE(f->body.find("[a]=[1]\n[b]=[2]"), std::string::npos) << f->body;
  // All on one connection: one handshake.
  EXPECT_EQ(server_->Stats().tls_handshakes, 1);
}

// Several requests in one write: the ones OpenSSL decrypted but the socket
// no longer signals are served too.
TEST_F(HttpsServerTest, PipelinedRequestsOverTls) {
  StartTls();
  int fd = Connect();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  ASSERT_EQ(SSL_connect(ssl), 1);
  std::string reqs;
  for (int i = 0; i < 20; ++i) {
    reqs += "POST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nping" + std::to_string(10 + i);
  }
  ASSERT_EQ(SSL_write(ssl, reqs.data(), static_cast<int>(reqs.size())),
            static_cast<int>(reqs.size()));
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (out.find("ping29") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    char b[16384];
    int n = SSL_read(ssl, b, sizeof(b));
    if (n <= 0) break;
    out.append(b, static_cast<size_t>(n));
  }
  for (int i = 10; i < 30; ++i)
    EXPECT_NE(out.find("ping" + std::to_string(i)), std::string::npos) << i;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
}

TEST_F(HttpsServerTest, PlainHttpGetsGosAnswerAndBadHandshakesAreCounted) {
  StartTls();
  int fd = Connect();
  std::string req = "GET /hello HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string out = ReadResponses(fd, 1);
  EXPECT_EQ(out,
            "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
  close(fd);
  // A handshake record holding a truncated ClientHello: an alert, then the close.
  fd = Connect();
  std::string junk("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", 10);
  send(fd, junk.data(), junk.size(), 0);
  char b[64];
  pollfd p{fd, POLLIN, 0};
  poll(&p, 1, 3000);
  EXPECT_LE(recv(fd, b, sizeof(b), MSG_DONTWAIT), 64);
  close(fd);
  for (int i = 0; i < 50 && server_->Stats().tls_handshake_failures < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->Stats().tls_plain_http, 1);
  EXPECT_EQ(server_->Stats().tls_handshake_failures, 1);
  // Still serving.
  auto r = Client()->Get("/hello?name=z");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello z");
}

}  // namespace
}  // namespace meridian::http
