#include "api/ast_json.h"

#include "model/gofloat.h"

namespace meridian::api {
namespace {

using promql::ExprKind;

void Strings(JsonWriter* w, const std::vector<std::string>& v) {
  w->BeginArray();
  for (const auto& s : v) w->String(s);
  w->EndArray();
}

void Matchers(JsonWriter* w, const std::vector<Matcher>& ms) {
  w->BeginArray();
  for (const auto& m : ms) {
    w->BeginObject();
    w->Key("name").String(m.name());
    w->Key("type").String(MatchTypeString(m.type()));
    w->Key("value").String(m.value());
    w->EndObject();
  }
  w->EndArray();
}

void At(JsonWriter* w, promql::AtKind at, int64_t at_ms) {
  w->Key("startOrEnd");
  if (at == promql::AtKind::kStart) {
    w->String("start");
  } else if (at == promql::AtKind::kEnd) {
    w->String("end");
  } else {
    w->Null();
  }
  w->Key("timestamp");
  if (at == promql::AtKind::kTimestamp) {
    w->Int(at_ms);
  } else {
    w->Null();
  }
}

std::string_view CardName(promql::Cardinality c) {
  switch (c) {
    case promql::Cardinality::kOneToOne:
      return "one-to-one";
    case promql::Cardinality::kManyToOne:
      return "many-to-one";
    case promql::Cardinality::kOneToMany:
      return "one-to-many";
    case promql::Cardinality::kManyToMany:
      return "many-to-many";
  }
  return "";
}

// Prometheus's translateAST prints literals with strconv.FormatFloat(v, 'f', -1, 64).
std::string NumberText(double v) { return model::FormatGoFloat(v, 'f'); }

void WriteAggregate(const promql::AggregateExpr& n, JsonWriter* w) {
  w->BeginObject();
  w->Key("expr");
  WriteAstJson(*n.expr, w);
  w->Key("grouping");
  Strings(w, n.grouping);
  w->Key("op").String(promql::AggOpName(n.op));
  w->Key("param");
  if (n.param) {
    WriteAstJson(*n.param, w);
  } else {
    w->Null();
  }
  w->Key("type").String("aggregation");
  w->Key("without").Bool(n.without);
  w->EndObject();
}

void WriteBinary(const promql::BinaryExpr& n, JsonWriter* w) {
  w->BeginObject();
  w->Key("bool").Bool(n.return_bool);
  w->Key("lhs");
  WriteAstJson(*n.lhs, w);
  w->Key("matching");
  if (n.matching) {
    w->BeginObject();
    w->Key("card").String(CardName(n.matching->card));
    w->Key("fillValues").BeginObject().Key("lhs").Null().Key("rhs").Null().EndObject();
    w->Key("include");
    Strings(w, n.matching->include);
    w->Key("labels");
    Strings(w, n.matching->matching_labels);
    w->Key("on").Bool(n.matching->on);
    w->EndObject();
  } else {
    w->Null();
  }
  w->Key("op").String(promql::BinOpName(n.op));
  w->Key("rhs");
  WriteAstJson(*n.rhs, w);
  w->Key("type").String("binaryExpr");
  w->EndObject();
}

void WriteCall(const promql::Call& n, JsonWriter* w) {
  w->BeginObject();
  w->Key("args").BeginArray();
  for (const auto& a : n.args) WriteAstJson(*a, w);
  w->EndArray();
  w->Key("func").BeginObject();
  w->Key("argTypes").BeginArray();
  for (auto t : n.func->arg_types) w->String(promql::ValueTypeApiName(t));
  w->EndArray();
  w->Key("name").String(n.func->name);
  w->Key("returnType").String(promql::ValueTypeApiName(n.func->return_type));
  w->Key("variadic").Int(n.func->variadic);
  w->EndObject();
  w->Key("type").String("call");
  w->EndObject();
}

void WriteMatrixSelector(const promql::MatrixSelector& n, JsonWriter* w) {
  const auto& vs = *n.selector;
  w->BeginObject();
  w->Key("anchored").Bool(false);
  w->Key("matchers");
  Matchers(w, vs.matchers);
  w->Key("name").String(vs.name);
  w->Key("offset").Int(vs.offset_ms);
  w->Key("range").Int(n.range_ms);
  w->Key("smoothed").Bool(false);
  At(w, vs.at, vs.at_ms);
  w->Key("type").String("matrixSelector");
  w->EndObject();
}

void WriteSubquery(const promql::SubqueryExpr& n, JsonWriter* w) {
  w->BeginObject();
  w->Key("alignEvalTime").Bool(false);
  w->Key("expr");
  WriteAstJson(*n.expr, w);
  w->Key("offset").Int(n.offset_ms);
  w->Key("range").Int(n.range_ms);
  // Keys sort as: offset, range, startOrEnd, step, timestamp, type.
  w->Key("startOrEnd");
  if (n.at == promql::AtKind::kStart) {
    w->String("start");
  } else if (n.at == promql::AtKind::kEnd) {
    w->String("end");
  } else {
    w->Null();
  }
  w->Key("step").Int(n.step_ms);
  w->Key("timestamp");
  if (n.at == promql::AtKind::kTimestamp) {
    w->Int(n.at_ms);
  } else {
    w->Null();
  }
  w->Key("type").String("subquery");
  w->EndObject();
}

}  // namespace

void WriteAstJson(const promql::Expr& e, JsonWriter* w) {
  switch (e.kind) {
    case ExprKind::kAggregate:
      return WriteAggregate(static_cast<const promql::AggregateExpr&>(e), w);
    case ExprKind::kBinary:
      return WriteBinary(static_cast<const promql::BinaryExpr&>(e), w);
    case ExprKind::kCall:
      return WriteCall(static_cast<const promql::Call&>(e), w);
    case ExprKind::kMatrixSelector:
      return WriteMatrixSelector(static_cast<const promql::MatrixSelector&>(e), w);
    case ExprKind::kSubquery:
      return WriteSubquery(static_cast<const promql::SubqueryExpr&>(e), w);
    case ExprKind::kNumber: {
      const auto& n = static_cast<const promql::NumberLiteral&>(e);
      w->BeginObject();
      w->Key("type").String("numberLiteral");
      w->Key("val").String(NumberText(n.value));
      w->EndObject();
      return;
    }
    case ExprKind::kParen:
    case ExprKind::kStepInvariant: {
      const promql::Expr& inner = e.kind == ExprKind::kParen
                                      ? *static_cast<const promql::ParenExpr&>(e).expr
                                      : *static_cast<const promql::StepInvariantExpr&>(e).expr;
      if (e.kind == ExprKind::kStepInvariant) {
        WriteAstJson(inner, w);
        return;
      }
      w->BeginObject();
      w->Key("expr");
      WriteAstJson(inner, w);
      w->Key("type").String("parenExpr");
      w->EndObject();
      return;
    }
    case ExprKind::kString: {
      const auto& n = static_cast<const promql::StringLiteral&>(e);
      w->BeginObject();
      w->Key("type").String("stringLiteral");
      w->Key("val").String(n.value);
      w->EndObject();
      return;
    }
    case ExprKind::kUnary: {
      const auto& n = static_cast<const promql::UnaryExpr&>(e);
      w->BeginObject();
      w->Key("expr");
      WriteAstJson(*n.expr, w);
      w->Key("op").String(n.negate ? "-" : "+");
      w->Key("type").String("unaryExpr");
      w->EndObject();
      return;
    }
    case ExprKind::kVectorSelector: {
      const auto& n = static_cast<const promql::VectorSelector&>(e);
      w->BeginObject();
      w->Key("anchored").Bool(false);
      w->Key("matchers");
      Matchers(w, n.matchers);
      w->Key("name").String(n.name);
      w->Key("offset").Int(n.offset_ms);
      w->Key("smoothed").Bool(false);
      At(w, n.at, n.at_ms);
      w->Key("type").String("vectorSelector");
      w->EndObject();
      return;
    }
  }
}

}  // namespace meridian::api
