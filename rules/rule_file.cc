#include "rules/rule_file.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "query/parser.h"

namespace meridian::rules {
namespace {

bool IsLabelName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string Pos(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  if (m.line < 0) return "";
  return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

std::string Quote(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o.push_back('\\');
    o.push_back(c);
  }
  return o + "\"";
}

// yaml.UnmarshalStrict's complaint about a key the type does not have.
absl::Status CheckKeys(const YAML::Node& map, std::initializer_list<std::string_view> known,
                       std::string_view type) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string k = it->first.Scalar();
    bool found = false;
    for (auto kn : known) found |= k == kn;
    if (!found) {
      return absl::InvalidArgumentError("yaml: unmarshal errors:\n  line " +
                                        std::to_string(it->first.Mark().line + 1) + ": field " + k +
                                        " not found in type " + std::string(type));
    }
  }
  return absl::OkStatus();
}

absl::Status Duration(const YAML::Node& n, int64_t* out) {
  if (!n.IsScalar()) return absl::InvalidArgumentError(Pos(n) + "expected a duration");
  auto d = promql::ParseDuration(n.Scalar());
  if (!d.ok()) {
    return absl::InvalidArgumentError(Pos(n) + "not a valid duration string: " + Quote(n.Scalar()));
  }
  *out = *d;
  return absl::OkStatus();
}

absl::Status StringMap(const YAML::Node& n, std::vector<Label>* out) {
  if (n.IsNull()) return absl::OkStatus();
  if (!n.IsMap()) return absl::InvalidArgumentError(Pos(n) + "expected a map of strings");
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->second.IsScalar() && !it->second.IsNull()) {
      return absl::InvalidArgumentError(Pos(it->second) + "expected a string value");
    }
    out->push_back({it->first.Scalar(), it->second.IsNull() ? "" : it->second.Scalar()});
  }
  return absl::OkStatus();
}

absl::Status ParseRule(const YAML::Node& n, RuleSpec* r, YAML::Node* name_node) {
  if (!n.IsMap()) return absl::InvalidArgumentError(Pos(n) + "a rule must be a map");
  MERIDIAN_RETURN_IF_ERROR(
      CheckKeys(n, {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"},
                "rulefmt.RuleNode"));
  auto scalar = [&](const char* key, std::string* out) -> absl::Status {
    YAML::Node v = n[key];
    if (!v) return absl::OkStatus();
    if (v.IsNull()) return absl::OkStatus();
    if (!v.IsScalar())
      return absl::InvalidArgumentError(Pos(v) + "field " + key + " must be a string");
    *out = v.Scalar();
    return absl::OkStatus();
  };
  MERIDIAN_RETURN_IF_ERROR(scalar("record", &r->record));
  MERIDIAN_RETURN_IF_ERROR(scalar("alert", &r->alert));
  MERIDIAN_RETURN_IF_ERROR(scalar("expr", &r->expr));
  *name_node = !r->alert.empty() ? n["alert"] : n["record"];
  if (n["for"] && !n["for"].IsNull()) MERIDIAN_RETURN_IF_ERROR(Duration(n["for"], &r->for_ms));
  if (n["keep_firing_for"] && !n["keep_firing_for"].IsNull()) {
    MERIDIAN_RETURN_IF_ERROR(Duration(n["keep_firing_for"], &r->keep_firing_for_ms));
  }
  if (n["labels"]) MERIDIAN_RETURN_IF_ERROR(StringMap(n["labels"], &r->labels));
  if (n["annotations"]) MERIDIAN_RETURN_IF_ERROR(StringMap(n["annotations"], &r->annotations));
  return absl::OkStatus();
}

// rulefmt's RuleNode.Validate: the problems of one rule.
std::vector<std::string> Validate(const RuleSpec& r) {
  std::vector<std::string> errs;
  if (!r.record.empty() && !r.alert.empty()) {
    errs.push_back("only one of 'record' and 'alert' must be set");
  }
  if (r.record.empty() && r.alert.empty()) errs.push_back("one of 'record' or 'alert' must be set");
  if (r.expr.empty()) {
    errs.push_back("field 'expr' must be set in rule");
  } else if (auto e = promql::ParseExpr(r.expr); !e.ok()) {
    errs.push_back("could not parse expression: " + std::string(e.status().message()));
  }
  if (!r.record.empty()) {
    if (!r.annotations.empty()) errs.push_back("invalid field 'annotations' in recording rule");
    if (r.for_ms != 0) errs.push_back("invalid field 'for' in recording rule");
    if (r.keep_firing_for_ms != 0) {
      errs.push_back("invalid field 'keep_firing_for' in recording rule");
    }
    if (!IsMetricName(r.record)) errs.push_back("invalid recording rule name: " + r.record);
  }
  for (const Label& l : r.labels) {
    if (!IsLabelName(l.name) || l.name == kMetricName) {
      errs.push_back("invalid label name: " + l.name);
    }
  }
  for (const Label& a : r.annotations) {
    if (!IsLabelName(a.name)) errs.push_back("invalid annotation name: " + a.name);
  }
  return errs;
}

}  // namespace

absl::StatusOr<std::vector<GroupSpec>> ParseRuleFile(std::string_view content) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(content));
  } catch (const YAML::Exception& e) {
    std::string msg = e.msg;
    if (e.mark.line >= 0) msg = "yaml: line " + std::to_string(e.mark.line + 1) + ": " + msg;
    return absl::InvalidArgumentError(msg);
  }
  std::vector<GroupSpec> groups;
  if (root.IsNull()) return groups;
  try {
    if (!root.IsMap())
      return absl::InvalidArgumentError("yaml: the file must be a map with 'groups'");
    MERIDIAN_RETURN_IF_ERROR(CheckKeys(root, {"groups"}, "rulefmt.RuleGroups"));
    YAML::Node gs = root["groups"];
    if (!gs || gs.IsNull()) return groups;
    if (!gs.IsSequence()) return absl::InvalidArgumentError(Pos(gs) + "'groups' must be a list");
    std::vector<std::string> errs;
    std::set<std::string> names;
    for (const YAML::Node& gn : gs) {
      if (!gn.IsMap()) return absl::InvalidArgumentError(Pos(gn) + "a group must be a map");
      MERIDIAN_RETURN_IF_ERROR(
          CheckKeys(gn, {"name", "interval", "limit", "rules"}, "rulefmt.RuleGroup"));
      GroupSpec g;
      if (gn["name"] && gn["name"].IsScalar()) g.name = gn["name"].Scalar();
      if (gn["interval"] && !gn["interval"].IsNull()) {
        MERIDIAN_RETURN_IF_ERROR(Duration(gn["interval"], &g.interval_ms));
      }
      if (gn["limit"] && !gn["limit"].IsNull()) {
        try {
          g.limit = gn["limit"].as<int64_t>();
        } catch (const YAML::Exception&) {
          return absl::InvalidArgumentError(Pos(gn["limit"]) + "limit must be an integer");
        }
      }
      if (g.name.empty()) errs.push_back(Pos(gn) + "Groupname must not be empty");
      if (!names.insert(g.name).second) {
        errs.push_back(Pos(gn) + "groupname: " + Quote(g.name) + " is repeated in the same file");
      }
      YAML::Node rs = gn["rules"];
      if (rs && !rs.IsNull()) {
        if (!rs.IsSequence()) return absl::InvalidArgumentError(Pos(rs) + "'rules' must be a list");
        int i = 0;
        for (const YAML::Node& rn : rs) {
          ++i;
          RuleSpec r;
          YAML::Node name_node;
          MERIDIAN_RETURN_IF_ERROR(ParseRule(rn, &r, &name_node));
          for (const std::string& e : Validate(r)) {
            std::string where = name_node ? Pos(name_node) : Pos(rn);
            if (e.rfind("could not parse expression", 0) == 0) where = Pos(rn["expr"]);
            // rulefmt names both nodes for this one: record's, then alert's.
            if (!r.record.empty() && !r.alert.empty() && e.rfind("only one", 0) == 0) {
              where = Pos(rn["record"]) + where;
            }
            errs.push_back(where + "group " + Quote(g.name) + ", rule " + std::to_string(i) + ", " +
                           Quote(r.name()) + ": " + e);
          }
          g.rules.push_back(std::move(r));
        }
      }
      groups.push_back(std::move(g));
    }
    if (!errs.empty()) {
      std::string msg;
      for (const auto& e : errs) msg += (msg.empty() ? "" : "\n") + e;
      return absl::InvalidArgumentError(msg);
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError("yaml: " + e.msg);
  }
  return groups;
}

absl::StatusOr<std::vector<GroupSpec>> LoadRuleFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read the rule file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseRuleFile(ss.str());
}

}  // namespace meridian::rules
