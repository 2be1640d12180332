// ParseQueryAnswer (remote/pushdown.h) against a reference reading of the
// same answers through a general JSON parser (nlohmann, which it replaced):
// the same series, points, warnings and infos, or the same error.
#include "remote/pushdown.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

namespace meridian::remote {
namespace {

// The former parser, kept as the reference.
absl::StatusOr<Sample> RefPoint(const nlohmann::json& p) {
  if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_string()) {
    return absl::DataLossError("query API: malformed point");
  }
  const double t = p[0].get<double>();
  const std::string v = p[1].get<std::string>();
  Sample s;
  s.t_ms = static_cast<int64_t>(t * 1000 + (t < 0 ? -0.5 : 0.5));
  if (v == "NaN") {
    s.v = std::numeric_limits<double>::quiet_NaN();
  } else if (v == "+Inf") {
    s.v = std::numeric_limits<double>::infinity();
  } else if (v == "-Inf") {
    s.v = -std::numeric_limits<double>::infinity();
  } else {
    char* end = nullptr;
    s.v = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0') return absl::DataLossError("query API: bad value");
  }
  return s;
}

absl::StatusOr<PushdownAnswer> Reference(std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError("query API: not JSON");
  if (j.value("status", "") != "success") {
    std::string err = j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                    : "no error text";
    return absl::UnavailableError("query API: " + err);
  }
  const auto& data = j["data"];
  if (!data.is_object() || !data.contains("result") || !data["result"].is_array()) {
    return absl::DataLossError("query API: no data.result");
  }
  const std::string type = data.value("resultType", "");
  PushdownAnswer out;
  for (const auto& s : data["result"]) {
    if (!s.is_object() || !s.contains("metric") || !s["metric"].is_object()) {
      return absl::DataLossError("query API: malformed series");
    }
    std::vector<Label> ls;
    for (auto it = s["metric"].begin(); it != s["metric"].end(); ++it) {
      if (!it.value().is_string()) return absl::DataLossError("query API: malformed label");
      ls.push_back(Label{it.key(), it.value().get<std::string>()});
    }
    std::vector<Sample> points;
    if (type == "matrix" && s.contains("values") && s["values"].is_array()) {
      for (const auto& p : s["values"]) {
        MERIDIAN_ASSIGN_OR_RETURN(Sample x, RefPoint(p));
        points.push_back(x);
      }
    } else if (type == "vector" && s.contains("value")) {
      MERIDIAN_ASSIGN_OR_RETURN(Sample x, RefPoint(s["value"]));
      points.push_back(x);
    } else {
      return absl::DataLossError("query API: unexpected result type " + type);
    }
    out.series.emplace_back(Labels::FromUnsorted(std::move(ls)), std::move(points));
  }
  for (const char* key : {"warnings", "infos"}) {
    if (!j.contains(key) || !j[key].is_array()) continue;
    for (const auto& w : j[key]) {
      if (!w.is_string()) continue;
      (std::string(key) == "warnings" ? out.warnings : out.infos).push_back(w.get<std::string>());
    }
  }
  return out;
}

std::string Show(const absl::StatusOr<PushdownAnswer>& a) {
  if (!a.ok()) return a.status().ToString();
  std::string o;
  for (const auto& [ls, pts] : a->series) {
    o += ls.ToString() + ":";
    for (const Sample& p : pts) {
      uint64_t bits;
      std::memcpy(&bits, &p.v, sizeof bits);
      o += " " + std::to_string(p.t_ms) + "=" + (std::isnan(p.v) ? "NaN" : std::to_string(bits));
    }
    o += "\n";
  }
  for (const auto& w : a->warnings) o += "W " + w + "\n";
  for (const auto& i : a->infos) o += "I " + i + "\n";
  return o;
}

TEST(QueryAnswerTest, ReadsWhatAGeneralJsonParserReads) {
  const std::vector<std::string> bodies = {
      // A matrix as meridian and Prometheus write it, with warnings and infos.
      R"({"status":"success","data":{"resultType":"matrix","result":[)"
      R"({"metric":{"pod":"a-1","region":"eu"},"values":[[1700000000,"1.5"],[1700000015.5,"NaN"],)"
      R"([1700000030.123,"+Inf"],[1700000045,"-Inf"],[-1.5,"1e+21"],[2,"-2.5e-07"]]},)"
      R"({"metric":{},"values":[]}]},"warnings":["w1",7,"w2"],"infos":["i1"]})",
      // A vector; keys in another order, whitespace, unknown keys of every kind.
      " {\"data\" : {\"result\" : [ {\"value\" : [ 5 , \"3\" ] , \"metric\" : {\"a\":\"b\"},"
      " \"x\":{\"y\":[1,true,false,null,{\"z\":\"q\"}]}} ], \"resultType\" : \"vector\","
      " \"stats\":{\"n\":-1.5e3}} , \"status\" : \"success\", \"extra\": null }\n",
      // Escapes in label values.
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":)"
      R"({"p":"\"q\\\/\b\f\n\r\t\u00e9\u20ac\ud83d\ude00"},"value":[1,"2"]}]}})",
      // Errors.
      R"({"status":"error","errorType":"bad_data","error":"parse error at char 3"})",
      R"({"status":"error","error":5})",
      R"({"status":"success"})",
      R"({"status":"success","data":{"resultType":"matrix","result":{}}})",
      R"({"status":"success","data":{"resultType":"matrix","result":[{"values":[]}]}})",
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":1},"values":[]}]}})",
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}})",
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}})",
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["1","2"]]}]}})",
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"value":[1,"2"]}]}})",
      R"({"status":"success","data":{"resultType":"scalar","result":[{"metric":{},"value":[1,"2"]}]}})",
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]}]}} x)",
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]}]})",
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"\x"},"value":[1,"2"]}]}})",
      "[1,2]",
      "",
      "{\"status\":\"succ\x01ess\"}",
  };
  for (const std::string& b : bodies) {
    EXPECT_EQ(Show(ParseQueryAnswer(b)), Show(Reference(b))) << b;
  }
}

TEST(QueryAnswerTest, ReadsLargeGeneratedAnswersAsTheReference) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::string b = R"({"status":"success","data":{"resultType":"matrix","result":[)";
    for (int s = 0; s < 50; ++s) {
      if (s) b += ",";
      b += R"({"metric":{"pod":"p-)" + std::to_string(rng() % 1000) + R"(","le":"0.)" +
           std::to_string(rng() % 100) + R"("},"values":[)";
      for (int i = 0; i < 240; ++i) {
        if (i) b += ",";
        char buf[64];
        std::snprintf(
            buf, sizeof buf, "[%.3f,\"%.17g\"]", 1.7e9 + i * 15 + (rng() % 1000) / 1e3,
            std::ldexp(static_cast<double>(rng() % 1000000), static_cast<int>(rng() % 80) - 40));
        b += buf;
      }
      b += "]}";
    }
    b += "]}}";
    auto got = ParseQueryAnswer(b);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->series.size(), 50u);
    EXPECT_EQ(Show(got), Show(Reference(b)));
  }
}

}  // namespace
}  // namespace meridian::remote
