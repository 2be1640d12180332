// ParseQueryAnswer (remote/pushdown.h): a region's query API answer read in
// one pass straight into labels and samples. A general JSON DOM (nlohmann)
// spent most of a global meridian's CPU on a pushed-down `sum by (pod)`:
// a node, a string and a free per point, then strtod.
#include <charconv>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/utf8.h"
#include "remote/pushdown.h"

namespace meridian::remote {
namespace {

class AnswerParser {
 public:
  explicit AnswerParser(std::string_view s) : s_(s) {}

  absl::StatusOr<PushdownAnswer> Parse() {
    Ws();
    if (!Object([this](std::string_view key) { return Top(key); })) {
      return absl::DataLossError("query API: not JSON");
    }
    Ws();
    if (pos_ != s_.size()) return absl::DataLossError("query API: not JSON");
    if (status_ != "success") {
      return absl::UnavailableError("query API: " + (error_ ? *error_ : "no error text"));
    }
    if (!has_result_) return absl::DataLossError("query API: no data.result");
    if (!data_error_.ok()) return data_error_;
    PushdownAnswer out;
    out.series.reserve(series_.size());
    for (Series& s : series_) {
      if (result_type_ == "matrix" && s.values) {
        out.series.emplace_back(std::move(s.labels), std::move(*s.values));
      } else if (result_type_ == "vector" && s.value) {
        out.series.emplace_back(std::move(s.labels), std::vector<Sample>{*s.value});
      } else {
        return absl::DataLossError("query API: unexpected result type " + result_type_);
      }
    }
    out.warnings = std::move(warnings_);
    out.infos = std::move(infos_);
    return out;
  }

 private:
  struct Series {
    Labels labels;
    std::optional<std::vector<Sample>> values;  // "values": [[t, "v"], ...]
    std::optional<Sample> value;                // "value": [t, "v"]
  };

  // --- the answer's fields ---
  bool Top(std::string_view key) {
    if (key == "status") return StringOrSkip(&status_);
    if (key == "error") {
      std::string e;
      if (Peek() != '"') return Skip(0);
      if (!String(&e)) return false;
      error_ = std::move(e);
      return true;
    }
    if (key == "data") {
      if (Peek() != '{') return Skip(0);
      return Object([this](std::string_view k) { return Data(k); });
    }
    if (key == "warnings" || key == "infos") {
      auto* list = key == "warnings" ? &warnings_ : &infos_;
      if (Peek() != '[') return Skip(0);
      return Array([this, list] {
        if (Peek() != '"') return Skip(0);
        std::string w;
        if (!String(&w)) return false;
        list->push_back(std::move(w));
        return true;
      });
    }
    return Skip(0);
  }

  bool Data(std::string_view key) {
    if (key == "resultType") return StringOrSkip(&result_type_);
    if (key == "result") {
      if (Peek() != '[') return Skip(0);
      has_result_ = true;
      return Array([this] { return OneSeries(); });
    }
    return Skip(0);
  }

  bool OneSeries() {
    if (Peek() != '{') {
      Fail("query API: malformed series");
      return Skip(0);
    }
    Series s;
    bool has_metric = false;
    bool ok = Object([&](std::string_view key) {
      if (key == "metric") {
        if (Peek() != '{') return Skip(0);
        has_metric = true;
        return Metric(&s.labels);
      }
      if (key == "values") {
        if (Peek() != '[') return Skip(0);
        s.values.emplace();
        return Array([&] {
          Sample p;
          if (!Point(&p)) return false;
          s.values->push_back(p);
          return true;
        });
      }
      if (key == "value") {
        Sample p;
        if (!Point(&p)) return false;
        s.value = p;
        return true;
      }
      return Skip(0);
    });
    if (!ok) return false;
    if (!has_metric) Fail("query API: malformed series");
    series_.push_back(std::move(s));
    return true;
  }

  bool Metric(Labels* out) {
    std::vector<Label> ls;
    bool ok = Object([&](std::string_view key) {
      if (Peek() != '"') {
        Fail("query API: malformed label");
        return Skip(0);
      }
      std::string v;
      if (!String(&v)) return false;
      ls.push_back(Label{std::string(key), std::move(v)});
      return true;
    });
    *out = Labels::FromUnsorted(std::move(ls));
    return ok;
  }

  // [t, "v"]; a point of another shape is a data error (parsing goes on).
  bool Point(Sample* out) {
    const size_t start = pos_;
    if (!Eat('[')) return Skip(0);
    Ws();
    double t = 0;
    bool shape = Number(&t);
    Ws();
    shape = shape && Eat(',');
    Ws();
    std::string v;
    shape = shape && Peek() == '"' && String(&v);
    Ws();
    shape = shape && Eat(']');
    if (!shape) {
      pos_ = start;
      Fail("query API: malformed point");
      return Skip(0);
    }
    out->t_ms = static_cast<int64_t>(t * 1000 + (t < 0 ? -0.5 : 0.5));
    if (v == "NaN") {
      out->v = std::numeric_limits<double>::quiet_NaN();
    } else if (v == "+Inf") {
      out->v = std::numeric_limits<double>::infinity();
    } else if (v == "-Inf") {
      out->v = -std::numeric_limits<double>::infinity();
    } else {
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out->v);
      if (ec != std::errc() || end != v.data() + v.size()) {
        char* e = nullptr;  // strtod's forms from_chars lacks (a leading +, hex)
        out->v = std::strtod(v.c_str(), &e);
        if (v.empty() || e != v.c_str() + v.size()) Fail("query API: bad value");
      }
    }
    return true;
  }

  void Fail(const char* why) {
    if (data_error_.ok()) data_error_ = absl::DataLossError(why);
  }

  // --- JSON ---
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void Ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }

  // { "key": value, ... }, calling member(key) at each value.
  template <typename F>
  bool Object(F&& member) {
    if (!Eat('{')) return false;
    Ws();
    if (Eat('}')) return true;
    std::string key;
    while (true) {
      Ws();
      if (Peek() != '"' || !String(&key)) return false;
      Ws();
      if (!Eat(':')) return false;
      Ws();
      if (!member(std::string_view(key))) return false;
      Ws();
      if (Eat('}')) return true;
      if (!Eat(',')) return false;
    }
  }

  // [ value, ... ], calling element() at each.
  template <typename F>
  bool Array(F&& element) {
    if (!Eat('[')) return false;
    Ws();
    if (Eat(']')) return true;
    while (true) {
      Ws();
      if (!element()) return false;
      Ws();
      if (Eat(']')) return true;
      if (!Eat(',')) return false;
    }
  }

  bool StringOrSkip(std::string* out) {
    if (Peek() != '"') return Skip(0);
    return String(out);
  }

  bool String(std::string* out) {
    if (!Eat('"')) return false;
    out->clear();
    while (true) {
      size_t run = pos_;
      while (run < s_.size() && s_[run] != '"' && s_[run] != '\\' &&
             static_cast<unsigned char>(s_[run]) >= 0x20) {
        ++run;
      }
      out->append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= s_.size()) return false;
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (c != '\\') return false;  // a control character
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair
            uint32_t lo = 0;
            if (!Eat('\\') || !Eat('u') || !Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          AppendUtf8(out, static_cast<int32_t>(cp));
          break;
        }
        default:
          return false;
      }
    }
  }

  bool Hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }

  // A JSON number (its grammar checked, then converted).
  bool Number(double* out) {
    const size_t b = pos_;
    Eat('-');
    if (Eat('0')) {
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    } else {
      return false;
    }
    if (Eat('.')) {
      if (!(Peek() >= '0' && Peek() <= '9')) return false;
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) return false;
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    auto [end, ec] = std::from_chars(s_.data() + b, s_.data() + pos_, *out);
    // Out of range: as nlohmann, a JSON number that overflows is not JSON.
    return ec == std::errc() && end == s_.data() + pos_;
  }

  // Any value, checked and dropped.
  bool Skip(int depth) {
    if (depth > 64) return false;
    switch (Peek()) {
      case '{':
        return Object([this, depth](std::string_view) { return Skip(depth + 1); });
      case '[':
        return Array([this, depth] { return Skip(depth + 1); });
      case '"': {
        std::string ignored;
        return String(&ignored);
      }
      case 't':
        return Word("true");
      case 'f':
        return Word("false");
      case 'n':
        return Word("null");
      default: {
        double ignored;
        return Number(&ignored);
      }
    }
  }

  bool Word(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string status_, result_type_;
  std::optional<std::string> error_;
  bool has_result_ = false;
  absl::Status data_error_;
  std::vector<Series> series_;
  std::vector<std::string> warnings_, infos_;
};

}  // namespace

absl::StatusOr<PushdownAnswer> ParseQueryAnswer(std::string_view body) {
  return AnswerParser(body).Parse();
}

}  // namespace meridian::remote
