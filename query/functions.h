// The PromQL function table: name, argument types, variadic arity, return
// type and whether the function is experimental, as in Prometheus 3's
// promql/parser/functions.go. The table is static and immutable; pointers
// returned here stay valid for the life of the program. Thread-safe.
//
//   const FunctionInfo* f = LookupFunction("rate");
//   if (f == nullptr) -> unknown function.
#ifndef MERIDIAN_QUERY_FUNCTIONS_H_
#define MERIDIAN_QUERY_FUNCTIONS_H_

#include <span>
#include <string_view>

#include "query/ast.h"

namespace meridian::promql {

// Returns the signature of function `name`, or nullptr when there is none.
const FunctionInfo* LookupFunction(std::string_view name);

// All functions, sorted by name.
std::span<const FunctionInfo> AllFunctions();

}  // namespace meridian::promql

#endif  // MERIDIAN_QUERY_FUNCTIONS_H_
