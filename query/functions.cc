#include "query/functions.h"

#include <algorithm>
#include <array>

namespace meridian::promql {
namespace {

constexpr ValueType S = ValueType::kScalar;
constexpr ValueType V = ValueType::kVector;
constexpr ValueType M = ValueType::kMatrix;
constexpr ValueType Str = ValueType::kString;

FunctionInfo F(std::string name, std::vector<ValueType> args, ValueType ret, int variadic = 0,
               bool experimental = false) {
  FunctionInfo f;
  f.name = std::move(name);
  f.arg_types = std::move(args);
  f.return_type = ret;
  f.variadic = variadic;
  f.experimental = experimental;
  return f;
}

// Prometheus 3's promql/parser/functions.go. Keep sorted by name.
std::vector<FunctionInfo> BuildTable() {
  constexpr bool kExp = true;
  std::vector<FunctionInfo> t = {
      F("abs", {V}, V),
      F("absent", {V}, V),
      F("absent_over_time", {M}, V),
      F("acos", {V}, V),
      F("acosh", {V}, V),
      F("asin", {V}, V),
      F("asinh", {V}, V),
      F("atan", {V}, V),
      F("atanh", {V}, V),
      F("avg_over_time", {M}, V),
      F("ceil", {V}, V),
      F("changes", {M}, V),
      F("clamp", {V, S, S}, V),
      F("clamp_max", {V, S}, V),
      F("clamp_min", {V, S}, V),
      F("cos", {V}, V),
      F("cosh", {V}, V),
      F("count_over_time", {M}, V),
      F("day_of_month", {V}, V, 1),
      F("day_of_week", {V}, V, 1),
      F("day_of_year", {V}, V, 1),
      F("days_in_month", {V}, V, 1),
      F("deg", {V}, V),
      F("delta", {M}, V),
      F("deriv", {M}, V),
      F("double_exponential_smoothing", {M, S, S}, V, 0, kExp),
      F("end", {}, S, 0, kExp),
      F("exp", {V}, V),
      F("first_over_time", {M}, V, 0, kExp),
      F("floor", {V}, V),
      F("histogram_avg", {V}, V),
      F("histogram_count", {V}, V),
      F("histogram_fraction", {S, S, V}, V),
      F("histogram_quantile", {S, V}, V),
      F("histogram_quantiles", {V, Str, S, S}, V, 9, kExp),
      F("histogram_stddev", {V}, V),
      F("histogram_stdvar", {V}, V),
      F("histogram_sum", {V}, V),
      F("hour", {V}, V, 1),
      F("idelta", {M}, V),
      F("increase", {M}, V),
      F("info", {V, V}, V, 1, kExp),
      F("irate", {M}, V),
      F("label_join", {V, Str, Str, Str}, V, -1),
      F("label_replace", {V, Str, Str, Str, Str}, V),
      F("last_over_time", {M}, V),
      F("ln", {V}, V),
      F("log10", {V}, V),
      F("log2", {V}, V),
      F("mad_over_time", {M}, V, 0, kExp),
      F("max_of", {S, S}, S, 0, kExp),
      F("max_over_time", {M}, V),
      F("min_over_time", {M}, V),
      F("min_of", {S, S}, S, 0, kExp),
      F("minute", {V}, V, 1),
      F("month", {V}, V, 1),
      F("pi", {}, S),
      F("predict_linear", {M, S}, V),
      F("present_over_time", {M}, V),
      F("quantile_over_time", {S, M}, V),
      F("rad", {V}, V),
      F("range", {}, S, 0, kExp),
      F("rate", {M}, V),
      F("resets", {M}, V),
      F("round", {V, S}, V, 1),
      F("scalar", {V}, S),
      F("sgn", {V}, V),
      F("sin", {V}, V),
      F("sinh", {V}, V),
      F("sort", {V}, V),
      F("sort_by_label", {V, Str}, V, -1, kExp),
      F("sort_by_label_desc", {V, Str}, V, -1, kExp),
      F("sort_desc", {V}, V),
      F("sqrt", {V}, V),
      F("start", {}, S, 0, kExp),
      F("step", {}, S, 0, kExp),
      F("stddev_over_time", {M}, V),
      F("stdvar_over_time", {M}, V),
      F("sum_over_time", {M}, V),
      F("tan", {V}, V),
      F("tanh", {V}, V),
      F("time", {}, S),
      F("timestamp", {V}, V),
      F("ts_of_first_over_time", {M}, V, 0, kExp),
      F("ts_of_last_over_time", {M}, V, 0, kExp),
      F("ts_of_max_over_time", {M}, V, 0, kExp),
      F("ts_of_min_over_time", {M}, V, 0, kExp),
      F("vector", {S}, V),
      F("year", {V}, V, 1),
  };
  std::sort(t.begin(), t.end(),
            [](const FunctionInfo& a, const FunctionInfo& b) { return a.name < b.name; });
  return t;
}

const std::vector<FunctionInfo>& Table() {
  static const std::vector<FunctionInfo>* table = new std::vector<FunctionInfo>(BuildTable());
  return *table;
}

}  // namespace

const FunctionInfo* LookupFunction(std::string_view name) {
  const auto& t = Table();
  auto it = std::lower_bound(t.begin(), t.end(), name,
                             [](const FunctionInfo& f, std::string_view n) { return f.name < n; });
  if (it == t.end() || it->name != name) return nullptr;
  return &*it;
}

std::span<const FunctionInfo> AllFunctions() { return Table(); }

}  // namespace meridian::promql
