#include "ui/ui.h"

#include <httplib.h>

#include <string>

#include "ui/assets.h"

namespace meridian::ui {
namespace {

constexpr std::string_view kPages[] = {"/", "/query", "/graph", "/explore", "/status"};
constexpr std::string_view kStaticPrefix = "/ui/static/";

// Only this server: no script, style, image or connection from anywhere else.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

const Asset* Find(std::string_view path) {
  for (const Asset& a : Assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

void Serve(const Asset& a, const httplib::Request& req, httplib::Response& res) {
  res.set_header("ETag", std::string(a.etag));
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  if (req.get_header_value("If-None-Match") == a.etag) {
    res.status = 304;
    return;
  }
  res.set_content(std::string(a.body), std::string(a.content_type));
}

}  // namespace

std::span<const std::string_view> PagePaths() { return kPages; }

void Register(httplib::Server* server) {
  const Asset* index = Find("index.html");
  for (std::string_view page : kPages) {
    server->Get(std::string(page), [index](const httplib::Request& req, httplib::Response& res) {
      Serve(*index, req, res);
      res.set_header("Content-Security-Policy", kCsp);
      res.set_header("X-Frame-Options", "DENY");
    });
  }
  server->Get(std::string(kStaticPrefix) + "(.+)",
              [](const httplib::Request& req, httplib::Response& res) {
                const Asset* a = Find(std::string_view(req.path).substr(kStaticPrefix.size()));
                if (a == nullptr || a->path == "index.html") {
                  res.status = 404;
                  res.set_content("404 page not found\n", "text/plain; charset=utf-8");
                  return;
                }
                Serve(*a, req, res);
              });
}

}  // namespace meridian::ui
