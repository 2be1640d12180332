// Go's float64 text formats, as Prometheus prints and parses numbers. The one
// copy in meridian: the HTTP API, the PromQL printer and evaluator and the
// PromQL test harness call these, never printf/strtod/to_chars directly.
//
// Formatting is strconv.FormatFloat(v, fmt, -1, 64): the shortest decimal
// digits that parse back to v (std::to_chars and Go's Ryū agree on those),
// laid out as Go lays them out:
//   'f'  no exponent, zero-padded:  2^64 -> "18446744073709552000",
//        5e-324 -> "0.000…0005" (std::to_chars(fixed) would print 2^64 as
//        its exact binary value 18446744073709551616 instead);
//   'e'  d.ddde±dd, at least two exponent digits: "1e-07", "1.5e+21";
//   'g'  'e' when the exponent is < -4 or >= 6 (strconv's rule for the
//        shortest precision), else 'f': "1e+06", "999999", "0.0001", "1e-05".
//        fmt's %v and %g of a float64 print the same.
// NaN prints "NaN", infinities "+Inf" and "-Inf"; -0 prints "-0" ('f'/'g')
// and "-0e+00" ('e').
//
// Where Prometheus uses which:
//   - API sample values (util/jsonutil MarshalFloat): 'e' when
//     0 < |v| < 1e-6 or |v| >= 1e21, else 'f' (see server/json.cc);
//   - count_values' label (promql/engine.go aggregationCountValues:
//     strconv.FormatFloat(s.F, 'f', -1, 64));
//   - a NumberLiteral's String() (promql/parser/printer.go, Prometheus 3:
//     strconv.FormatFloat(node.Val, 'f', -1, 64); 2.x printed fmt.Sprint, i.e. 'g');
//   - annotation texts and OpenMetrics-style floats (%g).
//
// Parsing is strconv.ParseFloat(s, 64) (Go's strconv/atof.go): an optional
// sign, then decimal digits with an optional '.' and e/E exponent, or a hex
// mantissa after 0x/0X with a required p/P exponent ("0x1p-2"; "0x10" is a
// syntax error); underscores only between digits or after the base prefix
// ("1_000", not "1__0", "_1" or "1_"); "inf" and "infinity" with an optional
// sign and "nan" without one, in any case. Nothing else: no spaces, no
// "nan(…)". Well-formed values beyond the largest double are a range error
// (and ±Inf); values below the smallest subnormal round to ±0 without error.
// Pure functions, thread-safe, locale-independent.
#ifndef MERIDIAN_MODEL_GOFLOAT_H_
#define MERIDIAN_MODEL_GOFLOAT_H_

#include <string>
#include <string_view>

namespace meridian::model {

// Appends strconv.FormatFloat(v, fmt, prec, 64); fmt is 'f', 'e' or 'g'
// (any other value is treated as 'g'). prec -1 gives the shortest digits;
// prec >= 0 (for 'f' and 'e'; 'g' ignores it) gives exactly prec digits after
// the point (at most 100), rounded half to even from the exact binary value
// as Go rounds:
// ('f', 6) is fmt's %f, ('f', 3) the "@ 1.500" of printed selectors.
void AppendGoFloat(std::string* out, double v, char fmt, int prec = -1);
std::string FormatGoFloat(double v, char fmt, int prec = -1);

// The error of strconv.ParseFloat: nil, ErrSyntax or ErrRange.
enum class GoParse { kOk, kSyntax, kRange };

// strconv.ParseFloat(s, 64). On kOk *out is the nearest double (NaN for
// "nan"); on kRange *out is ±Inf, as Go returns it; on kSyntax *out is 0.
GoParse ParseGoFloat(std::string_view s, double* out);

// Shorthand: true when ParseGoFloat(s, out) is kOk.
inline bool ParseGoFloatOk(std::string_view s, double* out) {
  return ParseGoFloat(s, out) == GoParse::kOk;
}

}  // namespace meridian::model

#endif  // MERIDIAN_MODEL_GOFLOAT_H_
