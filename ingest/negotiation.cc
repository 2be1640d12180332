#include "ingest/negotiation.h"

#include "ingest/error_message.h"

namespace meridian::ingest {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<RemoteWriteVersion> NegotiateRemoteWrite(std::string_view content_type,
                                                        std::string_view content_encoding) {
  std::string_view encoding = Trim(content_encoding);
  if (!encoding.empty() && !EqualsIgnoreCase(encoding, "snappy")) {
    return absl::UnimplementedError(
        ErrorMessage("unsupported Content-Encoding \"", encoding, "\": remote write needs snappy"));
  }
  std::string_view type = Trim(content_type);
  if (type.empty()) return RemoteWriteVersion::kV1;

  size_t semi = type.find(';');
  if (!EqualsIgnoreCase(Trim(type.substr(0, semi)), "application/x-protobuf")) {
    return absl::UnimplementedError(ErrorMessage("unsupported Content-Type \"", type,
                                                 "\": remote write needs application/x-protobuf"));
  }
  RemoteWriteVersion version = RemoteWriteVersion::kV1;
  while (semi != std::string_view::npos) {
    std::string_view rest = type.substr(semi + 1);
    semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    type = rest;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    if (!EqualsIgnoreCase(Trim(part.substr(0, eq)), "proto")) continue;
    std::string_view value = Trim(part.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (value == "prometheus.WriteRequest") {
      version = RemoteWriteVersion::kV1;
    } else if (value == "io.prometheus.write.v2.Request") {
      version = RemoteWriteVersion::kV2;
    } else {
      return absl::UnimplementedError(
          ErrorMessage("unsupported remote write protobuf message \"", value,
                       "\": want prometheus.WriteRequest or io.prometheus.write.v2.Request"));
    }
  }
  return version;
}

}  // namespace meridian::ingest
