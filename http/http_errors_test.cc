#include "http/http_errors.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace meridian::http {
namespace {

// A handler that throws gets a generic JSON 500: no EXCEPTION_WHAT header and
// nothing of the exception's text (cpp-httplib's default sends e.what() in a
// header).
TEST(HttpErrors, ExceptionsBecomeAGenericJson500) {
  httplib::Server srv;
  InstallJsonExceptionHandler(&srv);
  srv.Get("/length", [](const httplib::Request&, httplib::Response&) {
    std::vector<int> v;
    v.resize(static_cast<size_t>(-1) / 2);  // std::length_error
  });
  srv.Get("/runtime", [](const httplib::Request&, httplib::Response&) {
    throw std::runtime_error("open /var/lib/meridian/secret.sst failed");
  });
  int port = srv.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { srv.listen_after_bind(); });
  httplib::Client c("127.0.0.1", port);
  for (const char* path : {"/length", "/runtime"}) {
    SCOPED_TRACE(path);
    auto r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_FALSE(r->has_header("EXCEPTION_WHAT")) << r->get_header_value("EXCEPTION_WHAT");
    EXPECT_EQ(r->body, R"({"status":"error","errorType":"internal","error":"internal error"})");
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  }
  srv.stop();
  t.join();
}

}  // namespace
}  // namespace meridian::http
