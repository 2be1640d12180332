// The process_* metrics every Prometheus client library exports (the names
// and meanings of client_golang's process collector), read from /proc/self,
// and meridian_build_info.
//
//   std::string text = ProcessMetricsText() + BuildInfoText();  // append to /metrics
//
// Thread-safe (reads /proc only). Linux only; on a read failure the affected
// metric is left out rather than reported as 0.
#ifndef MERIDIAN_SERVER_PROCESS_METRICS_H_
#define MERIDIAN_SERVER_PROCESS_METRICS_H_

#include <string>

namespace meridian::server {

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds,
// process_threads in the text exposition format.
std::string ProcessMetricsText();

// meridian_build_info{version, compiler} 1.
std::string BuildInfoText();

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_PROCESS_METRICS_H_
