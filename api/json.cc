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

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (unsigned char c : s) {
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
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
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
