#include "k8s/quantity.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace meridian::k8s {

absl::StatusOr<std::string> FormatQuantity(double v) {
  if (std::isnan(v) || std::isinf(v)) {
    return absl::InvalidArgumentError("value " + std::string(std::isnan(v) ? "NaN" : "Inf") +
                                      " cannot be a Kubernetes quantity");
  }
  if (std::fabs(v) >= 9.2e15) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.0f", std::round(v));
    return std::string(buf);
  }
  long long milli = std::llround(v * 1000.0);
  if (milli == 0) return std::string("0");
  if (milli % 1000 == 0) return std::to_string(milli / 1000);
  return std::to_string(milli) + "m";
}

absl::StatusOr<double> ParseQuantity(std::string_view s) {
  auto bad = [&] {
    return absl::InvalidArgumentError("invalid quantity \"" + std::string(s) +
                                      "\" (e.g. 10, 1500m, 2k)");
  };
  if (s.empty() || s.size() > 64) return bad();
  size_t i = 0;
  if (s[i] == '+' || s[i] == '-') ++i;
  size_t digits_start = i;
  bool dot = false, digit = false;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
    if (s[i] == '.') {
      if (dot) return bad();
      dot = true;
    } else {
      digit = true;
    }
    ++i;
  }
  if (!digit) return bad();
  std::string num(s.substr(0, i));
  double x = std::strtod(num.c_str(), nullptr);
  (void)digits_start;
  std::string_view suf = s.substr(i);
  double mul = 1;
  if (suf.empty()) {
  } else if (suf == "n") {
    mul = 1e-9;
  } else if (suf == "u") {
    mul = 1e-6;
  } else if (suf == "m") {
    mul = 1e-3;
  } else if (suf == "k") {
    mul = 1e3;
  } else if (suf == "M") {
    mul = 1e6;
  } else if (suf == "G") {
    mul = 1e9;
  } else if (suf == "T") {
    mul = 1e12;
  } else if (suf == "P") {
    mul = 1e15;
  } else if (suf == "E") {
    mul = 1e18;
  } else if (suf == "Ki") {
    mul = 1024.0;
  } else if (suf == "Mi") {
    mul = 1024.0 * 1024;
  } else if (suf == "Gi") {
    mul = 1024.0 * 1024 * 1024;
  } else if (suf == "Ti") {
    mul = std::pow(1024.0, 4);
  } else if (suf == "Pi") {
    mul = std::pow(1024.0, 5);
  } else if (suf == "Ei") {
    mul = std::pow(1024.0, 6);
  } else if ((suf[0] == 'e' || suf[0] == 'E') && suf.size() > 1) {
    std::string e(suf.substr(1));
    char* end = nullptr;
    long ex = std::strtol(e.c_str(), &end, 10);
    if (*end != 0 || ex > 300 || ex < -300) return bad();
    mul = std::pow(10.0, static_cast<double>(ex));
  } else {
    return bad();
  }
  return x * mul;
}

}  // namespace meridian::k8s
