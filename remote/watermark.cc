#include "remote/watermark.h"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace meridian::remote {

std::string ApiBaseUrl(const RemoteEndpoint& e) {
  if (!e.api_url.empty()) {
    std::string u = e.api_url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
  }
  static constexpr std::string_view kRead = "/api/v1/read";
  if (e.url.size() > kRead.size() &&
      e.url.compare(e.url.size() - kRead.size(), kRead.size(), kRead) == 0) {
    return e.url.substr(0, e.url.size() - kRead.size());
  }
  return "";
}

absl::StatusOr<std::optional<int64_t>> FetchWatermark(const RemoteEndpoint& e,
                                                      std::string_view caller_tenant,
                                                      std::chrono::milliseconds max_wait) {
  const std::string base = ApiBaseUrl(e);
  if (base.empty()) {
    return absl::FailedPreconditionError(
        "no API URL to read the watermark from (set api-url, or a remote-read URL ending in "
        "/api/v1/read)");
  }
  RemoteEndpoint api = e;
  api.url = base + "/api/v1/status/tsdb";
  api.timeout = std::min(e.timeout, max_wait);
  HttpCall call(api);
  MERIDIAN_RETURN_IF_ERROR(call.setup());
  httplib::Headers headers = {{"Accept", "application/json"},
                              {"User-Agent", "meridian-remote-read/0.1"}};
  const std::string tenant = e.tenant.empty() ? std::string(caller_tenant) : e.tenant;
  if (!tenant.empty() && !e.tenant_header.empty()) headers.emplace(e.tenant_header, tenant);
  // HttpCall's socket timeouts are a second over the timeout: tighten them.
  auto ms = api.timeout.count();
  call.client()->set_connection_timeout(ms / 1000, (ms % 1000) * 1000);
  call.client()->set_read_timeout(ms / 1000, (ms % 1000) * 1000);
  auto res = call.client()->Get(call.path() + "?limit=1", headers);
  if (!res) return absl::UnavailableError("watermark: " + httplib::to_string(res.error()));
  if (res->status != 200) {
    return absl::UnavailableError("watermark: /api/v1/status/tsdb answered HTTP " +
                                  std::to_string(res->status));
  }
  nlohmann::json j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_object() ||
      !j["data"].contains("headStats") || !j["data"]["headStats"].is_object() ||
      !j["data"]["headStats"].contains("maxTime") ||
      !j["data"]["headStats"]["maxTime"].is_number_integer()) {
    return absl::UnavailableError("watermark: /api/v1/status/tsdb has no headStats.maxTime");
  }
  const int64_t max_time = j["data"]["headStats"]["maxTime"].get<int64_t>();
  if (max_time <= 0) return std::optional<int64_t>();
  return std::optional<int64_t>(max_time);
}

std::string WatermarkCache::TenantSent(const RemoteReadClient& r, std::string_view caller_tenant) {
  return r.endpoint().tenant.empty() ? std::string(caller_tenant) : r.endpoint().tenant;
}

std::optional<int64_t> WatermarkCache::Watermark(const RemoteReadClient& remote,
                                                 std::string_view caller_tenant) {
  auto key = std::make_pair(remote.endpoint().name, TenantSent(remote, caller_tenant));
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && std::chrono::steady_clock::now() - it->second.fetched < ttl_) {
      return it->second.watermark_ms;
    }
  }
  auto r = Refresh(remote, caller_tenant);
  if (!r.ok()) return std::nullopt;
  return *r;
}

absl::StatusOr<std::optional<int64_t>> WatermarkCache::Refresh(const RemoteReadClient& remote,
                                                               std::string_view caller_tenant) {
  auto r = FetchWatermark(remote.endpoint(), caller_tenant, max_wait_);
  auto key = std::make_pair(remote.endpoint().name, TenantSent(remote, caller_tenant));
  MutexLock lock(&mu_);
  Entry& e = entries_[key];
  e.fetched = std::chrono::steady_clock::now();
  if (r.ok()) {
    e.ok = true;
    e.watermark_ms = *r;
  }
  // A failed fetch keeps the last known value (the remote's failure shows
  // in its own warning and `up`); it is retried after the ttl.
  return r;
}

std::vector<WatermarkCache::Known> WatermarkCache::All() const {
  std::vector<Known> out;
  MutexLock lock(&mu_);
  for (const auto& [key, e] : entries_) {
    if (e.watermark_ms) out.push_back({key.first, key.second, *e.watermark_ms});
  }
  return out;
}

}  // namespace meridian::remote
