// Pieces of k8s/external_metrics.cc that k8s/autoscale_preview.cc shares.
// Not for use outside k8s/.
#ifndef MERIDIAN_K8S_EXTERNAL_METRICS_INTERNAL_H_
#define MERIDIAN_K8S_EXTERNAL_METRICS_INTERNAL_H_

#include <httplib.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace meridian::k8s::internal {

using json = nlohmann::ordered_json;

// Unix milliseconds now.
int64_t NowMs();
// A Kubernetes Status object (kind Status, status Failure).
json StatusObject(int code, const std::string& reason, const std::string& message);
// Answers `status` with `j` as application/json.
void SendJson(httplib::Response& res, int status, const json& j);

}  // namespace meridian::k8s::internal

#endif  // MERIDIAN_K8S_EXTERNAL_METRICS_INTERNAL_H_
