// Error handling shared by every HTTP route.
#ifndef MERIDIAN_HTTP_HTTP_ERRORS_H_
#define MERIDIAN_HTTP_HTTP_ERRORS_H_

namespace httplib {
class Server;
}  // namespace httplib

namespace meridian::http {

// Makes an exception escaping a handler a generic JSON 500
// ({"status":"error","errorType":"internal","error":"internal error"}),
// logged to stderr. cpp-httplib's default puts the exception's text in an
// EXCEPTION_WHAT response header: no exception text may reach a client.
void InstallJsonExceptionHandler(httplib::Server* server);

}  // namespace meridian::http

#endif  // MERIDIAN_HTTP_HTTP_ERRORS_H_
