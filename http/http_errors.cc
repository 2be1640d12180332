#include "http/http_errors.h"

#include <httplib.h>

#include <cstdio>
#include <exception>

namespace meridian::http {

void InstallJsonExceptionHandler(httplib::Server* server) {
  server->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "meridian: %s %s: internal error: %s\n", req.method.c_str(),
                       req.path.c_str(), e.what());
        } catch (...) {
          std::fprintf(stderr, "meridian: %s %s: internal error (unknown exception)\n",
                       req.method.c_str(), req.path.c_str());
        }
        res.status = 500;
        res.headers.erase("EXCEPTION_WHAT");
        res.set_content(R"({"status":"error","errorType":"internal","error":"internal error"})",
                        "application/json");
      });
}

}  // namespace meridian::http
