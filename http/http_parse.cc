// Request-head parsing and the parts of httplib 0.11.4's request parsing the
// connection layer must reproduce (see http_server.h).
#include <algorithm>
#include <cctype>
#include <set>

#include "http/http_server.h"

namespace meridian::http {

namespace http_internal {

std::string_view TrimView(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

namespace {

bool IsSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool Hex(std::string_view s, size_t i, size_t n, int* val) {
  if (i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    int d = HexDigit(s[i + k]);
    if (d < 0) return false;
    v = v * 16 + d;
  }
  *val = v;
  return true;
}

void AppendUtf8(int code, std::string* out) {
  if (code < 0x80) {
    out->push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out->push_back(static_cast<char>(0xC0 | ((code >> 6) & 0x1F)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code >= 0xD800 && code < 0xE000) {
    // surrogates: httplib drops them
  } else {
    out->push_back(static_cast<char>(0xE0 | ((code >> 12) & 0xF)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

// httplib's decode_url.
std::string DecodeUrl(std::string_view s, bool plus_to_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int v = 0;
    if (s[i] == '%' && i + 1 < s.size()) {
      if (s[i + 1] == 'u') {
        if (Hex(s, i + 2, 4, &v)) {
          AppendUtf8(v, &out);
          i += 5;
        } else {
          out.push_back(s[i]);
        }
      } else if (Hex(s, i + 1, 2, &v)) {
        out.push_back(static_cast<char>(v));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    } else if (plus_to_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// httplib's split: parts trimmed of spaces/tabs, empty parts skipped.
template <typename Fn>
void Split(std::string_view s, char d, Fn fn) {
  size_t beg = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == d) {
      std::string_view part = TrimView(s.substr(beg, i - beg));
      if (!part.empty()) fn(part);
      beg = i + 1;
    }
  }
}

}  // namespace

// httplib's parse_header for one line (without CRLF): name as is, value
// trimmed and percent-decoded; no colon or an empty value: no header.
bool ParseHeaderLine(std::string_view line, std::string* name, std::string* value) {
  while (!line.empty() && IsSpaceOrTab(line.back())) line.remove_suffix(1);
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view v = line.substr(colon + 1);
  while (!v.empty() && IsSpaceOrTab(v.front())) v.remove_prefix(1);
  if (v.empty()) return false;
  *name = std::string(line.substr(0, colon));
  *value = DecodeUrl(v, false);
  return true;
}

namespace {

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out.push_back(c);
    }
  }
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

HeadStatus ParseHead(std::string_view data, size_t max_header_bytes, RequestHead* head,
                     std::string* error) {
  // Go's server allows MaxHeaderBytes plus 4096 bytes of slack.
  const size_t limit = max_header_bytes + 4096;
  *head = RequestHead{};
  // Lines end in LF (CRLF or bare LF, as Go accepts); the head ends at the
  // first empty line.
  size_t pos = 0;
  bool first = true;
  for (;;) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) {
      if (data.size() > limit) {
        return first ? HeadStatus::kLineTooLong : HeadStatus::kHeadersTooLarge;
      }
      return HeadStatus::kIncomplete;
    }
    std::string_view line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t next = nl + 1;
    if (first) {
      if (next > limit) return HeadStatus::kLineTooLong;
      head->line_len = next;
      // method SP target SP version, as httplib splits it.
      std::vector<std::string_view> parts;
      Split(line, ' ', [&](std::string_view p) { parts.push_back(p); });
      if (parts.size() != 3) {
        *error = "malformed request line";
        return HeadStatus::kBad;
      }
      head->method = std::string(parts[0]);
      head->target = std::string(parts[1]);
      head->version = std::string(parts[2]);
      if (head->version != "HTTP/1.1" && head->version != "HTTP/1.0") {
        *error = "unsupported HTTP version";
        return HeadStatus::kBad;
      }
      first = false;
    } else if (line.empty()) {
      head->head_len = next;
      if (next > limit) return HeadStatus::kHeadersTooLarge;
      break;
    } else {
      if (next > limit) return HeadStatus::kHeadersTooLarge;
      head->lines.push_back(line);
    }
    pos = next;
  }
  for (std::string_view l : head->lines) {
    size_t colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = TrimView(l.substr(0, colon));
    std::string_view value = TrimView(l.substr(colon + 1));
    if (IEquals(name, "Content-Length")) {
      int64_t n = 0;
      if (value.empty() || value.size() > 18) {
        *error = "invalid Content-Length";
        return HeadStatus::kBad;
      }
      for (char c : value) {
        if (c < '0' || c > '9') {
          *error = "invalid Content-Length";
          return HeadStatus::kBad;
        }
        n = n * 10 + (c - '0');
      }
      if (head->content_length >= 0 && head->content_length != n) {
        *error = "conflicting Content-Length headers";
        return HeadStatus::kBad;
      }
      head->content_length = n;
    } else if (IEquals(name, "Transfer-Encoding")) {
      if (!IEquals(value, "chunked")) {
        *error = "unsupported Transfer-Encoding";
        return HeadStatus::kBad;
      }
      head->chunked = true;
    } else if (IEquals(name, "Expect")) {
      head->expect_continue = value == "100-continue";
    } else if (IEquals(name, "Content-Type")) {
      head->form = value.rfind("application/x-www-form-urlencoded", 0) == 0;
    }
  }
  return HeadStatus::kComplete;
}

void ParseQueryText(std::string_view s, std::multimap<std::string, std::string>* params) {
  std::set<std::string_view> seen;
  Split(s, '&', [&](std::string_view kv) {
    if (!seen.insert(kv).second) return;
    std::string_view key, val;
    bool have_key = false;
    Split(kv, '=', [&](std::string_view p) {
      if (!have_key) {
        key = p;
        have_key = true;
      } else {
        val = p;
      }
    });
    if (!key.empty()) params->emplace(DecodeUrl(key, true), DecodeUrl(val, true));
  });
}

std::string ErrorResponse(int status, std::string_view error_type, std::string_view message,
                          bool close, std::string_view extra_headers) {
  std::string body = "{\"status\":\"error\",\"errorType\":\"" + JsonEscape(error_type) +
                     "\",\"error\":\"" + JsonEscape(message) + "\"}";
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
  r += "Content-Type: application/json\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) r += "Connection: close\r\n";
  r += extra_headers;
  r += "\r\n";
  r += body;
  return r;
}

}  // namespace http_internal

}  // namespace meridian::http
