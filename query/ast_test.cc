#include "query/ast.h"

#include <gtest/gtest.h>

namespace meridian::promql {
namespace {

TEST(ValueTypeTest, Names) {
  EXPECT_EQ(ValueTypeName(ValueType::kMatrix), "range vector");
  EXPECT_EQ(ValueTypeApiName(ValueType::kMatrix), "matrix");
}

}  // namespace
}  // namespace meridian::promql
