#include "api/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace meridian::api {
namespace {

std::string Float(double v) {
  std::string s;
  AppendPromFloat(&s, v);
  return s;
}

std::string Ts(int64_t t) {
  std::string s;
  AppendPromTimestamp(&s, t);
  return s;
}

TEST(PromFloatTest, MatchesGoFormatting) {
  // Expected strings are what Prometheus's jsonutil.MarshalFloat produces.
  EXPECT_EQ(Float(1), "1");
  EXPECT_EQ(Float(0), "0");
  EXPECT_EQ(Float(-0.0), "-0");
  EXPECT_EQ(Float(1.5), "1.5");
  EXPECT_EQ(Float(0.1), "0.1");
  EXPECT_EQ(Float(1e-6), "0.000001");
  EXPECT_EQ(Float(1e-7), "1e-07");
  EXPECT_EQ(Float(2.5e-7), "2.5e-07");
  EXPECT_EQ(Float(1e20), "100000000000000000000");
  EXPECT_EQ(Float(1e21), "1e+21");
  EXPECT_EQ(Float(123456789012345678.0), "123456789012345680");
  EXPECT_EQ(Float(18446744073709551616.0), "18446744073709552000");  // 2^64, as Go prints it
  EXPECT_EQ(Float(-123.456), "-123.456");
  EXPECT_EQ(Float(0.000123), "0.000123");
  EXPECT_EQ(Float(1e-7 * -1), "-1e-07");
  EXPECT_EQ(Float(100), "100");
  EXPECT_EQ(Float(12.5), "12.5");
  EXPECT_EQ(Float(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(Float(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Float(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(Float(1.7976931348623157e308), "1.7976931348623157e+308");
}

TEST(PromTimestampTest, MatchesPrometheus) {
  EXPECT_EQ(Ts(0), "0");
  EXPECT_EQ(Ts(1000), "1");
  EXPECT_EQ(Ts(1500), "1.500");
  EXPECT_EQ(Ts(1), "0.001");
  EXPECT_EQ(Ts(1435781451781), "1435781451.781");
  EXPECT_EQ(Ts(-1500), "-1.500");
  EXPECT_EQ(Ts(4000), "4");
}

TEST(JsonWriterTest, NestsWithCommas) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("status").String("success");
  w.Key("data").BeginArray();
  w.PromPoint(1000, 2).PromPoint(2000, 3);
  w.BeginObject().Key("a").Int(1).EndObject();
  w.EndArray();
  w.EndObject();
  EXPECT_EQ(out, R"({"status":"success","data":[[1,"2"],[2,"3"],{"a":1}]})");
}

TEST(JsonWriterTest, EscapesStringsAndLabels) {
  std::string out;
  JsonWriter w(&out);
  w.LabelSet(Labels::FromUnsorted({{"__name__", "up"}, {"path", "a\"b\\c\n\x01"}}));
  EXPECT_EQ(out, R"({"__name__":"up","path":"a\"b\\c\n\u0001"})");
}

// What Prometheus 2.42 answers for label_replace(vector(1), "x", V, "", "")
// with these V (its encoder: jsoniter with ConfigCompatibleWithStandardLibrary,
// i.e. Go's encoding/json with HTML escaping), byte for byte.
TEST(JsonWriterTest, EscapesStringsAsPrometheusEncoderDoes) {
  auto json = [](std::string_view s) {
    std::string out;
    AppendJsonString(&out, s);
    return out;
  };
  EXPECT_EQ(json("<a&b> \"q\" \\ \b\f\t\u2028\u2029 \x01 \x7f \xc3\xa9 \xff"),
            R"("\u003ca\u0026b\u003e \"q\" \\ \u0008\u000c\t\u2028\u2029 \u0001 )"
            "\x7f \xc3\xa9 "
            R"(\ufffd")");
  // Bytes that are not well-formed UTF-8, one \ufffd each (Go's DecodeRune):
  // a truncated sequence, a lone lead byte, a surrogate.
  EXPECT_EQ(json("\xe2\x80 a\xc3 \xf0\x9f\x98\x80 \n\r \xed\xa0\x80"),
            R"("\ufffd\ufffd a\ufffd )"
            "\xf0\x9f\x98\x80"
            R"( \n\r \ufffd\ufffd\ufffd")");
  // Stray continuation bytes, an overlong form, past U+10FFFF.
  EXPECT_EQ(json("\x80\xbf \xc0\xaf \xf4\x90\x80\x80"),
            R"("\ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd\ufffd")");
  // Label names too (an error text of Prometheus: ...label_replace(): x\u003cy).
  std::string out;
  JsonWriter(&out).LabelSet(Labels::FromUnsorted({{"a", "x<y"}}));
  EXPECT_EQ(out, R"({"a":"x\u003cy"})");
  EXPECT_EQ(json(""), R"("")");
  EXPECT_EQ(json("plain ascii, 100%"), R"("plain ascii, 100%")");
}

}  // namespace
}  // namespace meridian::api
