// JsonWriter: a small append-only JSON writer producing exactly the encodings
// the Prometheus HTTP API uses (util/jsonutil in Prometheus):
//   - sample values as strings: Go strconv.FormatFloat(v, 'f', -1, 64), with
//     'e' form when |v| < 1e-6 or |v| >= 1e21; "NaN", "+Inf", "-Inf";
//   - timestamps as numbers of seconds with up to three decimals: 1435781451.781.
// The caller is responsible for well-formed nesting. Not thread-safe.
#ifndef MERIDIAN_API_JSON_H_
#define MERIDIAN_API_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "model/labels.h"

namespace meridian::api {

// Appends the Prometheus string form of a sample value (without quotes).
void AppendPromFloat(std::string* out, double v);
// Appends a millisecond timestamp as seconds, as Prometheus does: the integer
// part, then "." and the fraction when non-zero: 1000 -> "1", 1 -> "0.001".
void AppendPromTimestamp(std::string* out, int64_t t_ms);

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  // Writes "key": (with a separating comma when needed).
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& Bool(bool b);
  JsonWriter& Null();
  // A sample value as a JSON string: "1.5", "NaN".
  JsonWriter& PromValue(double v);
  // A timestamp as a JSON number of seconds.
  JsonWriter& PromTimestamp(int64_t t_ms);
  // [ts, "value"]
  JsonWriter& PromPoint(int64_t t_ms, double v);
  // {"name":"value",...}
  JsonWriter& LabelSet(const Labels& labels);
  // Raw, already-encoded JSON as the next value.
  JsonWriter& RawValue(std::string_view json);

 private:
  JsonWriter& Open(char c) {
    Sep();
    out_->push_back(c);
    first_ = true;
    return *this;
  }
  JsonWriter& Close(char c) {
    out_->push_back(c);
    first_ = false;
    return *this;
  }
  void Sep();
  std::string* out_;
  bool first_ = true;
  bool after_key_ = false;
};

// Appends `s` as a quoted JSON string.
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace meridian::api

#endif  // MERIDIAN_API_JSON_H_
