#include "api/json.h"

#include <charconv>
#include <cmath>

#include "model/gofloat.h"

namespace meridian::api {

// util/jsonutil MarshalFloat: strconv.AppendFloat(buf, f, fmt, -1, 64) with
// fmt 'e' when 0 < |f| < 1e-6 or |f| >= 1e21, else 'f'.
void AppendPromFloat(std::string* out, double v) {
  const double a = std::fabs(v);
  model::AppendGoFloat(out, v, a != 0 && (a < 1e-6 || a >= 1e21) ? 'e' : 'f');
}

void AppendPromTimestamp(std::string* out, int64_t t_ms) {
  uint64_t t = static_cast<uint64_t>(t_ms);
  if (t_ms < 0) {
    out->push_back('-');
    t = 0 - t;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), t / 1000);
  out->append(buf, res.ptr);
  uint64_t frac = t % 1000;
  if (frac != 0) {
    out->push_back('.');
    out->push_back(static_cast<char>('0' + frac / 100));
    out->push_back(static_cast<char>('0' + frac / 10 % 10));
    out->push_back(static_cast<char>('0' + frac % 10));
  }
}

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (a lead byte >= 0x80), as
// Go's utf8.DecodeRuneInString accepts it (no overlong forms, no surrogates,
// nothing past U+10FFFF); 0 when it is not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return (at(k) & 0xc0) == 0x80; };
  const size_t left = s.size() - i;
  const unsigned char c = at(0);
  if (c >= 0xc2 && c <= 0xdf) return left >= 2 && cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    if (c == 0xe0 && at(1) < 0xa0) return 0;  // overlong
    if (c == 0xed && at(1) > 0x9f) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xf0 && at(1) < 0x90) return 0;  // overlong
    if (c == 0xf4 && at(1) > 0x8f) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

// As Prometheus's encoder writes strings (jsoniter's
// ConfigCompatibleWithStandardLibrary: Go's encoding/json with EscapeHTML),
// checked against Prometheus 2.42's answers: \" \\ \n \r \t; other control
// characters as \u00XX (\b and \f too); < > & as \u003c \u003e \u0026;
// U+2028 and U+2029 as \u2028 \u2029; each byte that is not part of
// well-formed UTF-8 as \ufffd; everything else (DEL, UTF-8) as is.
void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0, plain = 0;  // s[plain, i) is copied as is
  auto flush = [&] { out->append(s.data() + plain, i - plain); };
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      const bool line_sep = n == 3 && c == 0xe2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                            (static_cast<unsigned char>(s[i + 2]) & 0xfe) == 0xa8;
      if (n != 0 && !line_sep) {
        i += n;
        continue;
      }
      flush();
      if (n == 0) {
        out->append("\\ufffd");
        i += 1;
      } else {
        out->append(static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029");
        i += 3;
      }
      plain = i;
      continue;
    }
    flush();
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:  // other control characters, < > &
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
    }
    ++i;
    plain = i;
  }
  flush();
  out->push_back('"');
}

void JsonWriter::Sep() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_) out_->push_back(',');
  first_ = false;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  Sep();
  AppendJsonString(out_, key);
  out_->push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view s) {
  Sep();
  AppendJsonString(out_, s);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t v) {
  Sep();
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, res.ptr);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool b) {
  Sep();
  out_->append(b ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Sep();
  out_->append("null");
  return *this;
}

JsonWriter& JsonWriter::PromValue(double v) {
  Sep();
  out_->push_back('"');
  AppendPromFloat(out_, v);
  out_->push_back('"');
  return *this;
}

JsonWriter& JsonWriter::PromTimestamp(int64_t t_ms) {
  Sep();
  AppendPromTimestamp(out_, t_ms);
  return *this;
}

JsonWriter& JsonWriter::PromPoint(int64_t t_ms, double v) {
  Sep();
  out_->push_back('[');
  AppendPromTimestamp(out_, t_ms);
  out_->append(",\"");
  AppendPromFloat(out_, v);
  out_->append("\"]");
  return *this;
}

JsonWriter& JsonWriter::LabelSet(const Labels& labels) {
  Sep();
  out_->push_back('{');
  bool first = true;
  for (const auto& l : labels) {
    if (!first) out_->push_back(',');
    first = false;
    AppendJsonString(out_, l.name);
    out_->push_back(':');
    AppendJsonString(out_, l.value);
  }
  out_->push_back('}');
  return *this;
}

JsonWriter& JsonWriter::RawValue(std::string_view json) {
  Sep();
  out_->append(json);
  return *this;
}

}  // namespace meridian::api
