#include "k8s/label_selector.h"

#include <algorithm>
#include <cctype>

namespace meridian::k8s {
namespace {

enum class Tok {
  kEnd,
  kIdent,
  kNot,
  kEq,
  kDoubleEq,
  kNotEq,
  kIn,
  kNotIn,
  kOpen,
  kClose,
  kComma,
  kGt,
  kLt
};

struct Lexer {
  std::string_view s;
  size_t pos = 0;
  std::string text;

  static bool Special(char c) {
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
  }
  Tok Next() {
    while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos]))) ++pos;
    text.clear();
    if (pos >= s.size()) return Tok::kEnd;
    char c = s[pos];
    if (Special(c)) {
      if (c == '=' && pos + 1 < s.size() && s[pos + 1] == '=') {
        pos += 2;
        return Tok::kDoubleEq;
      }
      if (c == '!' && pos + 1 < s.size() && s[pos + 1] == '=') {
        pos += 2;
        return Tok::kNotEq;
      }
      ++pos;
      switch (c) {
        case '=':
          return Tok::kEq;
        case '!':
          return Tok::kNot;
        case '(':
          return Tok::kOpen;
        case ')':
          return Tok::kClose;
        case ',':
          return Tok::kComma;
        case '>':
          return Tok::kGt;
        default:
          return Tok::kLt;
      }
    }
    size_t start = pos;
    while (pos < s.size() && !Special(s[pos]) &&
           !std::isspace(static_cast<unsigned char>(s[pos]))) {
      ++pos;
    }
    text = std::string(s.substr(start, pos - start));
    if (text == "in") return Tok::kIn;
    if (text == "notin") return Tok::kNotIn;
    return Tok::kIdent;
  }
  Tok Peek() {
    size_t save = pos;
    std::string t = text;
    Tok k = Next();
    pos = save;
    text = t;
    return k;
  }
};

bool IsPromLabelName(std::string_view k) {
  if (k.empty()) return false;
  for (size_t i = 0; i < k.size(); ++i) {
    char c = k[i];
    bool ok = c == '_' || std::isalpha(static_cast<unsigned char>(c)) ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

// Kubernetes' label value syntax: empty, or up to 63 of [A-Za-z0-9_.-]
// beginning and ending with an alphanumeric.
bool IsLabelValue(std::string_view v) {
  if (v.empty()) return true;
  if (v.size() > 63) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(v.front()) || !alnum(v.back())) return false;
  for (char c : v) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

absl::Status Bad(std::string_view selector, const std::string& why) {
  return absl::InvalidArgumentError("unable to parse label selector \"" + std::string(selector) +
                                    "\": " + why);
}

std::string RegexQuote(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string PromQLQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

absl::StatusOr<std::vector<Requirement>> ParseLabelSelector(std::string_view selector) {
  std::vector<Requirement> out;
  Lexer lx{selector};
  if (lx.Peek() == Tok::kEnd) return out;
  for (;;) {
    Requirement r;
    Tok t = lx.Next();
    bool negated = false;
    if (t == Tok::kNot) {
      negated = true;
      t = lx.Next();
    }
    if (t != Tok::kIdent) return Bad(selector, "expected a label key");
    r.key = lx.text;
    if (!IsPromLabelName(r.key)) {
      return Bad(selector,
                 "key \"" + r.key + "\" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    }
    Tok op = lx.Peek();
    if (negated) {
      if (op != Tok::kEnd && op != Tok::kComma) {
        return Bad(selector, "expected ',' or the end after \"!" + r.key + "\"");
      }
      r.op = SelectorOp::kDoesNotExist;
    } else if (op == Tok::kEnd || op == Tok::kComma) {
      r.op = SelectorOp::kExists;
    } else {
      lx.Next();
      switch (op) {
        case Tok::kEq:
        case Tok::kDoubleEq:
        case Tok::kNotEq: {
          r.op = op == Tok::kNotEq ? SelectorOp::kNotEquals : SelectorOp::kEquals;
          Tok v = lx.Peek();
          std::string value;
          if (v == Tok::kIdent || v == Tok::kIn || v == Tok::kNotIn) {
            lx.Next();
            value = lx.text;
          } else if (v != Tok::kEnd && v != Tok::kComma) {
            return Bad(selector, "expected a value after \"" + r.key + "\"");
          }
          if (!IsLabelValue(value)) return Bad(selector, "invalid label value \"" + value + "\"");
          r.values.push_back(value);
          break;
        }
        case Tok::kIn:
        case Tok::kNotIn: {
          r.op = op == Tok::kIn ? SelectorOp::kIn : SelectorOp::kNotIn;
          if (lx.Next() != Tok::kOpen) return Bad(selector, "expected '(' after in/notin");
          if (lx.Peek() == Tok::kClose) {
            return Bad(selector, "for 'in', 'notin' operators, values set can't be empty");
          }
          for (;;) {
            Tok v = lx.Next();
            std::string value;
            if (v == Tok::kIdent || v == Tok::kIn || v == Tok::kNotIn) {
              value = lx.text;
              v = lx.Next();
            }
            if (!IsLabelValue(value)) {
              return Bad(selector, "invalid label value \"" + value + "\"");
            }
            if (v != Tok::kComma && v != Tok::kClose) {
              return Bad(selector, "expected ',' or ')' in the values of \"" + r.key + "\"");
            }
            r.values.push_back(value);
            if (v == Tok::kClose) break;
          }
          std::sort(r.values.begin(), r.values.end());
          r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
          break;
        }
        case Tok::kGt:
        case Tok::kLt:
          return Bad(selector, "'<' and '>' (integer comparisons) have no PromQL label matcher");
        default:
          return Bad(selector, "expected an operator after \"" + r.key + "\"");
      }
    }
    out.push_back(std::move(r));
    Tok sep = lx.Next();
    if (sep == Tok::kEnd) break;
    if (sep != Tok::kComma) return Bad(selector, "expected ',' between requirements");
  }
  return out;
}

std::string ToPromQLMatchers(const std::vector<Requirement>& reqs) {
  std::string out;
  for (const auto& r : reqs) {
    if (!out.empty()) out += ", ";
    switch (r.op) {
      case SelectorOp::kEquals:
        out += r.key + "=" + PromQLQuote(r.values[0]);
        break;
      case SelectorOp::kNotEquals:
        out += r.key + "!=" + PromQLQuote(r.values[0]);
        break;
      case SelectorOp::kExists:
        out += r.key + "!=\"\"";
        break;
      case SelectorOp::kDoesNotExist:
        out += r.key + "=\"\"";
        break;
      case SelectorOp::kIn:
      case SelectorOp::kNotIn: {
        std::string re;
        for (const auto& v : r.values) {
          if (!re.empty()) re += '|';
          re += RegexQuote(v);
        }
        out += r.key + (r.op == SelectorOp::kIn ? "=~" : "!~") + PromQLQuote(re);
        break;
      }
    }
  }
  return out;
}

}  // namespace meridian::k8s
