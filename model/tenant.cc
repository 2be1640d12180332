#include "model/tenant.h"

namespace meridian {
namespace {

// "value" for a message: at most 64 bytes, non-printable bytes as \xNN.
std::string Quoted(std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (size_t i = 0; i < v.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (v.size() > kMax) out += "...";
  out += "\"";
  return out;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> AgreedTenant(const std::vector<TenantClaim>& claims) {
  if (claims.empty()) return std::optional<std::string>();
  const TenantClaim& first = claims.front();
  for (const TenantClaim& c : claims) {
    if (c.value != first.value) {
      return absl::InvalidArgumentError("conflicting tenants: " + first.source + " " +
                                        Quoted(first.value) + " and " + c.source + " " +
                                        Quoted(c.value));
    }
  }
  return std::optional<std::string>(first.value);
}

}  // namespace meridian
