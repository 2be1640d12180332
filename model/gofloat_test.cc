// Table tests of Go's float formats against strings Go prints.
//
// Where the expected strings come from: every 'f' string is the label that
// the real Prometheus 2.42 (Debian's, Go 1.19) gave count_values("v",
// vector(X)) (engine.go: strconv.FormatFloat(v, 'f', -1, 64)); every 'g'
// string is what its /api/v1/format_query printed for the literal X
// (2.42's NumberLiteral.String() is fmt.Sprint, i.e. 'g' shortest); the 'e'
// strings of values that Prometheus's JSON prints in 'e' form (0 < |v| < 1e-6
// or |v| >= 1e21) are from /api/v1/query of vector(X); the other 'e' strings
// follow strconv's documented layout (d.ddde±dd) from the same digits.
// The parse rows are what the same Prometheus accepted or rejected as the
// `time` parameter of /api/v1/query (strconv.ParseFloat first, then RFC 3339).
#include "model/gofloat.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace meridian::model {
namespace {

double FromBits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, sizeof(d));
  return d;
}

struct FormatRow {
  double v;
  const char* f;
  const char* e;
  const char* g;
};

const std::string kMaxF = "17976931348623157" + std::string(292, '0');
const std::string kMinSubnormalF = "0." + std::string(323, '0') + "5";
const std::string kMinNormalF = "0." + std::string(307, '0') + "22250738585072014";

TEST(GoFloatTest, FormatTable) {
  const FormatRow rows[] = {
      {0.0, "0", "0e+00", "0"},
      {-0.0, "-0", "-0e+00", "-0"},
      {1, "1", "1e+00", "1"},
      {-1, "-1", "-1e+00", "-1"},
      {0.1, "0.1", "1e-01", "0.1"},
      {1.5, "1.5", "1.5e+00", "1.5"},
      {100, "100", "1e+02", "100"},
      {123.456, "123.456", "1.23456e+02", "123.456"},
      {1.0 / 3, "0.3333333333333333", "3.333333333333333e-01", "0.3333333333333333"},
      {2.0 / 3, "0.6666666666666666", "6.666666666666666e-01", "0.6666666666666666"},
      // %g switches to 'e' at exponent 6 and below -4.
      {100000, "100000", "1e+05", "100000"},
      {999999, "999999", "9.99999e+05", "999999"},
      {999999.9999999999, "999999.9999999999", "9.999999999999999e+05", "999999.9999999999"},
      {1e6, "1000000", "1e+06", "1e+06"},
      {1234567, "1234567", "1.234567e+06", "1.234567e+06"},
      {123456789, "123456789", "1.23456789e+08", "1.23456789e+08"},
      {0.0001, "0.0001", "1e-04", "0.0001"},
      {0.00012345, "0.00012345", "1.2345e-04", "0.00012345"},
      {1e-5, "0.00001", "1e-05", "1e-05"},
      {0.00001234, "0.00001234", "1.234e-05", "1.234e-05"},
      // The JSON thresholds 1e-6 and 1e21.
      {1e-6, "0.000001", "1e-06", "1e-06"},
      {5e-7, "0.0000005", "5e-07", "5e-07"},
      {1e-7, "0.0000001", "1e-07", "1e-07"},
      {-2.5e-10, "-0.00000000025", "-2.5e-10", "-2.5e-10"},
      {1e15, "1000000000000000", "1e+15", "1e+15"},
      {1e20, "100000000000000000000", "1e+20", "1e+20"},
      {1e21, "1000000000000000000000", "1e+21", "1e+21"},
      {-1e21, "-1000000000000000000000", "-1e+21", "-1e+21"},
      {8.41e21, "8410000000000000000000", "8.41e+21", "8.41e+21"},
      {1e22, "10000000000000000000000", "1e+22", "1e+22"},
      {1e23, "100000000000000000000000", "1e+23", "1e+23"},
      {1e100, nullptr, "1e+100", "1e+100"},  // f: 1 and 100 zeros
      // Integers past 2^53: the shortest digits, then zeros (never the exact
      // binary value, which std::to_chars(fixed) prints).
      {9007199254740992.0, "9007199254740992", "9.007199254740992e+15", "9.007199254740992e+15"},
      {18446744073709551616.0, "18446744073709552000", "1.8446744073709552e+19",
       "1.8446744073709552e+19"},
      {123456789012345678.0, "123456789012345680", "1.2345678901234568e+17",
       "1.2345678901234568e+17"},
      // Extremes.
      {std::numeric_limits<double>::max(), nullptr, "1.7976931348623157e+308",
       "1.7976931348623157e+308"},
      {std::numeric_limits<double>::denorm_min(), nullptr, "5e-324", "5e-324"},
      {std::numeric_limits<double>::min(), nullptr, "2.2250738585072014e-308",
       "2.2250738585072014e-308"},
      {std::numeric_limits<double>::infinity(), "+Inf", "+Inf", "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf", "-Inf", "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN", "NaN", "NaN"},
      {FromBits(0x7ff0000000000002), "NaN", "NaN", "NaN"},  // Prometheus's stale marker
  };
  for (const auto& r : rows) {
    std::string want_f;
    if (r.f != nullptr) {
      want_f = r.f;
    } else if (r.v == 1e100) {
      want_f = "1" + std::string(100, '0');
    } else if (r.v == std::numeric_limits<double>::max()) {
      want_f = kMaxF;
    } else if (r.v == std::numeric_limits<double>::denorm_min()) {
      want_f = kMinSubnormalF;
    } else {
      want_f = kMinNormalF;
    }
    SCOPED_TRACE(r.g);
    EXPECT_EQ(FormatGoFloat(r.v, 'f'), want_f);
    EXPECT_EQ(FormatGoFloat(r.v, 'e'), r.e);
    EXPECT_EQ(FormatGoFloat(r.v, 'g'), r.g);
    // Append adds to what is there.
    std::string s = "x=";
    AppendGoFloat(&s, r.v, 'g');
    EXPECT_EQ(s, std::string("x=") + r.g);
  }
}

// A fixed number of digits (fmt's %f is 'f' with 6, printed @ times 'f' with
// 3). The 'f' 6 strings of 1.0078125 (an exact tie, rounded to even), 2.5,
// 1.0000005, 1e21, 2^64 and +Inf are the real Prometheus 2.42's, from its
// holt_winters "got: %f" error; the rest follow strconv's rules.
TEST(GoFloatTest, FixedPrecision) {
  struct Row {
    double v;
    char fmt;
    int prec;
    const char* want;
  };
  const Row rows[] = {
      {1.0078125, 'f', 6, "1.007812"},
      {2.5, 'f', 6, "2.500000"},
      {1.0000005, 'f', 6, "1.000001"},
      {3, 'f', 6, "3.000000"},
      {1e21, 'f', 6, "1000000000000000000000.000000"},
      {18446744073709551616.0, 'f', 6, "18446744073709551616.000000"},  // exact digits
      {std::numeric_limits<double>::infinity(), 'f', 6, "+Inf"},
      {-std::numeric_limits<double>::infinity(), 'f', 6, "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), 'f', 6, "NaN"},
      {-0.0, 'f', 6, "-0.000000"},
      {1.0 / 3, 'f', 6, "0.333333"},
      {2.5, 'f', 0, "2"},
      {3.5, 'f', 0, "4"},
      {1.5, 'f', 3, "1.500"},
      {-1234.5678, 'f', 3, "-1234.568"},
      {0.0005, 'f', 3, "0.001"},  // 0.0005 is a little above the tie in binary
      {123456, 'e', 3, "1.235e+05"},
      {1, 'e', 0, "1e+00"},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(FormatGoFloat(r.v, r.fmt, r.prec), r.want) << r.v << " " << r.fmt << r.prec;
  }
  // The exact value of the largest double (Prometheus printed it so).
  EXPECT_EQ(
      FormatGoFloat(std::numeric_limits<double>::max(), 'f', 6),
      "17976931348623157081452742373170435679807056752584499659891747680315726078002853876058955"
      "86327668781715404589535143824642343213268894641827684675467035375169860499105765512820762"
      "45490090389328944075868508455133942304583236903222948165808559332123348274797826204144723"
      "168738177180919299881250404026184124858368.000000");
  EXPECT_EQ(FormatGoFloat(-0.0000005, 'f', 6), "-0.000000");
}

// Every formatted finite value parses back to the same bits.
TEST(GoFloatTest, FormatRoundTrips) {
  uint64_t x = 0x9e3779b97f4a7c15;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    const double v = FromBits(x);
    if (!std::isfinite(v)) continue;
    for (char fmt : {'f', 'e', 'g'}) {
      double back;
      const std::string s = FormatGoFloat(v, fmt);
      ASSERT_EQ(ParseGoFloat(s, &back), GoParse::kOk) << s;
      ASSERT_EQ(std::memcmp(&back, &v, sizeof(v)), 0) << fmt << " " << s;
    }
  }
}

struct ParseRow {
  const char* in;
  GoParse want;
  double v;  // when kOk or kRange
};

TEST(GoFloatTest, ParseTable) {
  const double inf = std::numeric_limits<double>::infinity();
  const ParseRow rows[] = {
      {"0", GoParse::kOk, 0},
      {"1", GoParse::kOk, 1},
      {"-1.5", GoParse::kOk, -1.5},
      {"+.5e1", GoParse::kOk, 5},
      {".5", GoParse::kOk, 0.5},
      {"5.", GoParse::kOk, 5},
      {"00012", GoParse::kOk, 12},
      {"1E3", GoParse::kOk, 1000},
      {"1e+3", GoParse::kOk, 1000},
      {"0.1", GoParse::kOk, 0.1},
      {"18446744073709551616", GoParse::kOk, 18446744073709551616.0},
      {"9007199254740993", GoParse::kOk, 9007199254740992.0},  // ties to even
      {"1.7976931348623157e308", GoParse::kOk, std::numeric_limits<double>::max()},
      {"4.9406564584124654e-324", GoParse::kOk, std::numeric_limits<double>::denorm_min()},
      {"3e-324", GoParse::kOk, std::numeric_limits<double>::denorm_min()},
      {"1e-310", GoParse::kOk, 1e-310},
      // Underflow is not an error: Go rounds to zero.
      {"2e-324", GoParse::kOk, 0},
      {"1e-400", GoParse::kOk, 0},
      {"0e999999", GoParse::kOk, 0},
      // Overflow is: ±Inf and ErrRange.
      {"1e400", GoParse::kRange, inf},
      {"-1e400", GoParse::kRange, -inf},
      {"1.7976931348623159e308", GoParse::kRange, inf},
      {"0x1p1024", GoParse::kRange, inf},
      // Hex floats need a p exponent.
      {"0x1p10", GoParse::kOk, 1024},
      {"0X1P-2", GoParse::kOk, 0.25},
      {"-0x1.8p1", GoParse::kOk, -3},
      {"0x.8p1", GoParse::kOk, 1},
      {"0x1.p1", GoParse::kOk, 2},
      {"0x1p-1074", GoParse::kOk, std::numeric_limits<double>::denorm_min()},
      {"0x1p-1080", GoParse::kOk, 0},
      {"0x10", GoParse::kSyntax, 0},
      {"0x", GoParse::kSyntax, 0},
      {"0x1e5", GoParse::kSyntax, 0},
      {"0xp1", GoParse::kSyntax, 0},
      // Underscores between digits only.
      {"1_000", GoParse::kOk, 1000},
      {"0x1_0p0", GoParse::kOk, 16},
      {"0x_1p0", GoParse::kOk, 1},
      {"1e1_0", GoParse::kOk, 1e10},
      {"1_000.000_1", GoParse::kOk, 1000.0001},
      {"1__000", GoParse::kSyntax, 0},
      {"_1000", GoParse::kSyntax, 0},
      {"1000_", GoParse::kSyntax, 0},
      {"1_.5", GoParse::kSyntax, 0},
      {"1._5", GoParse::kSyntax, 0},
      {"1_e5", GoParse::kSyntax, 0},
      // Inf and NaN spellings.
      {"Inf", GoParse::kOk, inf},
      {"+inf", GoParse::kOk, inf},
      {"-Inf", GoParse::kOk, -inf},
      {"infinity", GoParse::kOk, inf},
      {"-INFINITY", GoParse::kOk, -inf},
      {"infin", GoParse::kSyntax, 0},
      {"infinityy", GoParse::kSyntax, 0},
      {"+nan", GoParse::kSyntax, 0},
      {"-NaN", GoParse::kSyntax, 0},
      {"nan(1)", GoParse::kSyntax, 0},
      // What strtod would accept and Go does not.
      {" 1", GoParse::kSyntax, 0},
      {"1 ", GoParse::kSyntax, 0},
      {"\t1", GoParse::kSyntax, 0},
      {"", GoParse::kSyntax, 0},
      {".", GoParse::kSyntax, 0},
      {"+", GoParse::kSyntax, 0},
      {"1e", GoParse::kSyntax, 0},
      {"1e+", GoParse::kSyntax, 0},
      {"1.2.3", GoParse::kSyntax, 0},
      {"1,5", GoParse::kSyntax, 0},
      {"--1", GoParse::kSyntax, 0},
      {"1d", GoParse::kSyntax, 0},
      {"0b101", GoParse::kSyntax, 0},
      {"2006-01-02T15:04:05Z", GoParse::kSyntax, 0},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.in);
    double v = 42;
    EXPECT_EQ(ParseGoFloat(r.in, &v), r.want);
    EXPECT_EQ(v, r.v);
    EXPECT_EQ(std::signbit(v), std::signbit(r.v));
    EXPECT_EQ(ParseGoFloatOk(r.in, &v), r.want == GoParse::kOk);
  }
  double v;
  ASSERT_EQ(ParseGoFloat("NaN", &v), GoParse::kOk);
  EXPECT_TRUE(std::isnan(v));
  ASSERT_EQ(ParseGoFloat("nAn", &v), GoParse::kOk);
  EXPECT_TRUE(std::isnan(v));
  ASSERT_EQ(ParseGoFloat("-0", &v), GoParse::kOk);
  EXPECT_TRUE(v == 0 && std::signbit(v));
  ASSERT_EQ(ParseGoFloat("-1e-400", &v), GoParse::kOk);
  EXPECT_TRUE(v == 0 && std::signbit(v));
  // A long mantissa is rounded correctly, not truncated.
  ASSERT_EQ(ParseGoFloat("0." + std::string(400, '0') + "1e401", &v), GoParse::kOk);
  EXPECT_EQ(v, 1);
  ASSERT_EQ(ParseGoFloat("1" + std::string(400, '0') + "e-400", &v), GoParse::kOk);
  EXPECT_EQ(v, 1);
  ASSERT_EQ(ParseGoFloat("1" + std::string(400, '0'), &v), GoParse::kRange);
}

// 'f' lays out the digits and exponent that 'e' prints (the table above
// checks 'e' against Go): over random doubles of every magnitude, integers,
// and decimals as scraped values look, the 'f' string without sign, point
// and padding zeros is the 'e' mantissa's digits, at the 'e' exponent, and
// parses back to the value.
TEST(GoFloatTest, FHasTheDigitsOfE) {
  std::mt19937_64 rng(8);
  for (int i = 0; i < 300000; ++i) {
    double v;
    switch (i % 4) {
      case 0:
        v = FromBits(rng());
        break;
      case 1:
        v = static_cast<double>(static_cast<int64_t>(rng() >> (rng() % 64)));
        break;
      case 2:
        v = static_cast<double>(rng() % 100000000) / std::pow(10.0, static_cast<int>(rng() % 12));
        break;
      default:
        v = std::ldexp(static_cast<double>(rng() % 1000000), static_cast<int>(rng() % 200) - 100);
    }
    if (std::isnan(v) || std::isinf(v)) continue;
    const std::string f = FormatGoFloat(v, 'f'), e = FormatGoFloat(v, 'e');
    SCOPED_TRACE(e);
    double back;
    ASSERT_EQ(ParseGoFloat(f, &back), GoParse::kOk) << f;
    ASSERT_EQ(back, v) << f;
    ASSERT_EQ(f[0] == '-', std::signbit(v)) << f;
    // 'e': [-]d[.ddd]e±dd
    std::string ed;
    size_t k = e[0] == '-' ? 1 : 0;
    for (; e[k] != 'e'; ++k) {
      if (e[k] != '.') ed.push_back(e[k]);
    }
    const int exp = std::stoi(e.substr(k + 1));
    // 'f': the digits without leading zeros; the exponent from the point.
    std::string fd;
    const size_t point = f.find('.');
    const int int_len =
        static_cast<int>((point == std::string::npos ? f.size() : point) - (f[0] == '-' ? 1 : 0));
    int lead = 0;  // zeros before the first significant digit
    bool seen = false;
    for (size_t j = f[0] == '-' ? 1 : 0; j < f.size(); ++j) {
      if (f[j] == '.') continue;
      if (!seen && f[j] == '0') {
        ++lead;
        continue;
      }
      seen = true;
      fd.push_back(f[j]);
    }
    if (v == 0) {
      ASSERT_EQ(f, std::signbit(v) ? "-0" : "0");
      continue;
    }
    while (fd.size() > ed.size() && fd.back() == '0') fd.pop_back();  // integer padding
    ASSERT_EQ(fd, ed) << f;
    // |v| >= 1: no leading zero, exponent int_len - 1; else "0.0…0d":
    // `lead` zeros (the integer's included), exponent -lead.
    ASSERT_EQ(lead > 0 ? -lead : int_len - 1, exp) << f;
  }
}

}  // namespace
}  // namespace meridian::model
