// meridian's built-in web UI: a query page with a graph (uPlot) and a table,
// a series and cardinality explorer, and a status page. Plain JavaScript over
// the Prometheus HTTP API; every file is compiled into the binary, nothing is
// fetched from elsewhere at run time (the pages' Content-Security-Policy
// allows only the server itself).
//
// Pages (each serves ui/web/index.html; the script reads the path and the
// query string): /, /query and /graph (Prometheus 3's and the classic UI's
// URL formats: g0.expr, g0.tab, g0.range_input, g0.end_input, g0.step_input,
// g0.res_type, g0.res_step, ...), /explore, /status. Files: /ui/static/PATH.
#ifndef MERIDIAN_UI_UI_H_
#define MERIDIAN_UI_UI_H_

#include <span>
#include <string_view>

namespace httplib {
class Server;
}

namespace meridian::ui {

// The paths that serve the UI's page.
std::span<const std::string_view> PagePaths();

// Registers GET routes for the pages and /ui/static/* on `server`.
void Register(httplib::Server* server);

}  // namespace meridian::ui

#endif  // MERIDIAN_UI_UI_H_
