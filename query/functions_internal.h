// Internal to the query module: the evaluator's function table and the
// handlers it names, as Prometheus's FunctionCalls (promql/functions.go).
// The table and the instant-vector handlers are in functions_impl.cc, the
// label and sort handlers in functions_label.cc, the range-vector handlers in
// functions_range.cc, the classic-histogram handlers in histogram.cc.
// Not a public interface.
#ifndef MERIDIAN_QUERY_FUNCTIONS_INTERNAL_H_
#define MERIDIAN_QUERY_FUNCTIONS_INTERNAL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "query/ast.h"
#include "query/eval.h"

namespace meridian::promql::eval {

enum class Fn {
  kUnknown,
  // Range-vector functions.
  kRate,
  kIncrease,
  kDelta,
  kIrate,
  kIdelta,
  kDeriv,
  kPredictLinear,
  kChanges,
  kResets,
  kAvgOT,
  kMinOT,
  kMaxOT,
  kSumOT,
  kCountOT,
  kLastOT,
  kFirstOT,
  kPresentOT,
  kStddevOT,
  kStdvarOT,
  kMadOT,
  kQuantileOT,
  kTsMinOT,
  kTsMaxOT,
  kTsFirstOT,
  kTsLastOT,
  kAbsentOT,
  kDoubleExpSmoothing,
  // Element-wise float functions.
  kAbs,
  kCeil,
  kFloor,
  kExp,
  kSqrt,
  kLn,
  kLog2,
  kLog10,
  kSgn,
  kSin,
  kCos,
  kTan,
  kAsin,
  kAcos,
  kAtan,
  kSinh,
  kCosh,
  kTanh,
  kAsinh,
  kAcosh,
  kAtanh,
  kDeg,
  kRad,
  kRound,
  kClamp,
  kClampMin,
  kClampMax,
  // Others.
  kTime,
  kPi,
  kVector,
  kScalar,
  kAbsent,
  kTimestamp,
  kDaysInMonth,
  kDayOfMonth,
  kDayOfWeek,
  kDayOfYear,
  kHour,
  kMinute,
  kMonth,
  kYear,
  kSort,
  kSortDesc,
  kSortByLabel,
  kSortByLabelDesc,
  kHistogramQuantile,
  kHistogramFraction,
  kHistogramQuantiles,
  kLabelReplace,
  kLabelJoin,
  kStep,
  kRange,
  kStart,
  kEnd,
  kMinOf,
  kMaxOf,
  kNativeHistogramOnly,
  kInfo,
};

// One function call being evaluated: what a handler receives. `fn` tells
// apart the functions that share a handler.
struct FunctionCall {
  Evaluator* ev;
  QueryContext* q;
  const Call& call;
  Fn fn;
};

// Evaluates one call of a PromQL function over all steps.
using FunctionHandler = absl::StatusOr<EvalResult> (*)(const FunctionCall& fc);

// An entry of the function table.
struct FunctionDef {
  Fn fn = Fn::kUnknown;
  FunctionHandler handler = nullptr;
};

// The table entry of PromQL function `name`, or nullptr.
const FunctionDef* LookupFunctionDef(std::string_view name);

// The function implementing PromQL function `name`, or kUnknown.
Fn LookupFn(std::string_view name);

// Handlers in functions_range.cc.
absl::StatusOr<EvalResult> FnRangeVector(const FunctionCall& fc);  // rate, *_over_time, ...
absl::StatusOr<EvalResult> FnAbsentOverTime(const FunctionCall& fc);

// Handlers in functions_label.cc.
absl::StatusOr<EvalResult> FnSort(const FunctionCall& fc);         // sort, sort_desc
absl::StatusOr<EvalResult> FnSortByLabel(const FunctionCall& fc);  // sort_by_label[_desc]
absl::StatusOr<EvalResult> FnLabelReplace(const FunctionCall& fc);
absl::StatusOr<EvalResult> FnLabelJoin(const FunctionCall& fc);

// Handlers in histogram.cc.
absl::StatusOr<EvalResult> FnHistogramQuantile(const FunctionCall& fc);  // and _quantiles
absl::StatusOr<EvalResult> FnHistogramFraction(const FunctionCall& fc);

// The value of a string-literal argument ("" for anything else).
std::string StringArg(const Expr& e);

// The labels absent() and absent_over_time() give their output: the
// equality matchers of a selector argument (functions_impl.cc).
Labels AbsentLabels(const Expr& arg);

// Go's math.Max / math.Min (NaN and signed-zero rules).
double GoMax(double x, double y);
double GoMin(double x, double y);

}  // namespace meridian::promql::eval

#endif  // MERIDIAN_QUERY_FUNCTIONS_INTERNAL_H_
