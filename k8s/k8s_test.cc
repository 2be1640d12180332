#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>

#include "k8s/external_metrics.h"
#include "k8s/hpa.h"
#include "k8s/label_selector.h"
#include "k8s/quantity.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian::k8s {
namespace {

std::string Matchers(const std::string& sel) {
  auto r = ParseLabelSelector(sel);
  if (!r.ok()) return "ERROR: " + std::string(r.status().message());
  return ToPromQLMatchers(*r);
}

TEST(LabelSelectorTest, EveryForm) {
  EXPECT_EQ(Matchers(""), "");
  EXPECT_EQ(Matchers("region=us-west-2"), "region=\"us-west-2\"");
  EXPECT_EQ(Matchers("region==us-west-2"), "region=\"us-west-2\"");
  EXPECT_EQ(Matchers("tier!=batch"), "tier!=\"batch\"");
  EXPECT_EQ(Matchers("zone in (b, a.x)"), "zone=~\"a\\\\.x|b\"");
  EXPECT_EQ(Matchers("zone notin (a,b)"), "zone!~\"a|b\"");
  EXPECT_EQ(Matchers("gpu"), "gpu!=\"\"");
  EXPECT_EQ(Matchers("!spot"), "spot=\"\"");
  EXPECT_EQ(Matchers("a=1, b!=2 ,c in (x),!d,e"), "a=\"1\", b!=\"2\", c=~\"x\", d=\"\", e!=\"\"");
  EXPECT_EQ(Matchers("a="), "a=\"\"");
}

TEST(LabelSelectorTest, Refusals) {
  for (const char* bad : {"a in ()", "a in (x", "app.kubernetes.io/name=x", "a>1", "a<1", "a=b=c",
                          "a=(", "=x", "a,,b", "a=x y", "!a=b", "a in (x y)", "a=-bad"}) {
    EXPECT_FALSE(ParseLabelSelector(bad).ok()) << bad;
  }
  EXPECT_NE(Matchers("app.kubernetes.io/name=x").find("not a Prometheus label name"),
            std::string::npos);
}

TEST(QuantityTest, Format) {
  EXPECT_EQ(*FormatQuantity(1.5), "1500m");
  EXPECT_EQ(*FormatQuantity(2), "2");
  EXPECT_EQ(*FormatQuantity(0), "0");
  EXPECT_EQ(*FormatQuantity(-0.25), "-250m");
  EXPECT_EQ(*FormatQuantity(0.0004), "0");
  EXPECT_EQ(*FormatQuantity(0.0006), "1m");
  EXPECT_EQ(*FormatQuantity(123456.789), "123456789m");
  EXPECT_EQ(*FormatQuantity(1e17), "100000000000000000");
  EXPECT_FALSE(FormatQuantity(std::nan("")).ok());
  EXPECT_FALSE(FormatQuantity(HUGE_VAL).ok());
}

TEST(QuantityTest, Parse) {
  EXPECT_DOUBLE_EQ(*ParseQuantity("1500m"), 1.5);
  EXPECT_DOUBLE_EQ(*ParseQuantity("10"), 10);
  EXPECT_DOUBLE_EQ(*ParseQuantity("2k"), 2000);
  EXPECT_DOUBLE_EQ(*ParseQuantity("1Ki"), 1024);
  EXPECT_DOUBLE_EQ(*ParseQuantity("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseQuantity("1e3"), 1000);
  for (const char* bad : {"", "m", "1x", "1..2", "abc"})
    EXPECT_FALSE(ParseQuantity(bad).ok()) << bad;
}

// Hand-computed against replica_calculator.go.
TEST(HpaTest, AverageValue) {
  HpaInput in;
  in.type = TargetType::kAverageValue;
  in.target_milli = 10'000;  // 10 per replica
  in.current_replicas = 4;
  in.min_replicas = 1;
  in.max_replicas = 20;
  in.item_milli = {30'000, 25'000};  // total 55: ratio 55/(10*4) = 1.375
  HpaDecision d = ComputeExternalReplicas(in);
  EXPECT_DOUBLE_EQ(d.ratio, 1.375);
  EXPECT_FALSE(d.within_tolerance);
  EXPECT_EQ(d.desired_replicas, 6);  // ceil(55/10)
  EXPECT_EQ(d.current_value_milli, 13'750);
  // 42/(10*4) = 1.05: within 10%.
  in.item_milli = {42'000};
  d = ComputeExternalReplicas(in);
  EXPECT_TRUE(d.within_tolerance);
  EXPECT_EQ(d.desired_replicas, 4);
  // Exactly at the tolerance edge: 44/(40) = 1.1 -> |1-1.1| <= 0.1 (in floating point
  // 0.10000000000000009 > 0.1)
  in.item_milli = {36'000};  // 0.9: |1-0.9| = 0.09999999999999998 <= 0.1
  d = ComputeExternalReplicas(in);
  EXPECT_TRUE(d.within_tolerance);
  EXPECT_EQ(d.desired_replicas, 4);
  // Scale down, clamped by min.
  in.item_milli = {1'000};
  in.min_replicas = 2;
  d = ComputeExternalReplicas(in);
  EXPECT_EQ(d.proposed_replicas, 1);
  EXPECT_EQ(d.desired_replicas, 2);
  EXPECT_EQ(d.limited, "TooFewReplicas");
  // Scale up, clamped by max.
  in.item_milli = {500'000};
  d = ComputeExternalReplicas(in);
  EXPECT_EQ(d.proposed_replicas, 50);
  EXPECT_EQ(d.desired_replicas, 20);
  EXPECT_EQ(d.limited, "TooManyReplicas");
}

TEST(HpaTest, Value) {
  HpaInput in;
  in.type = TargetType::kValue;
  in.target_milli = 100'000;  // 100 total
  in.current_replicas = 6;
  in.min_replicas = 1;
  in.max_replicas = 10;
  in.item_milli = {150'000};  // ratio 1.5 -> ceil(1.5 * 6) = 9
  HpaDecision d = ComputeExternalReplicas(in);
  EXPECT_DOUBLE_EQ(d.ratio, 1.5);
  EXPECT_EQ(d.desired_replicas, 9);
  in.ready_pods = 4;  // ceil(1.5 * 4) = 6
  EXPECT_EQ(ComputeExternalReplicas(in).desired_replicas, 6);
  in.ready_pods = -1;
  in.item_milli = {95'000};  // 0.95: within tolerance
  d = ComputeExternalReplicas(in);
  EXPECT_TRUE(d.within_tolerance);
  EXPECT_EQ(d.desired_replicas, 6);
  in.item_milli = {50'000};  // 0.5 -> ceil(3) = 3
  EXPECT_EQ(ComputeExternalReplicas(in).desired_replicas, 3);
  in.current_replicas = 0;  // scale from zero: ceil(ratio)
  in.min_replicas = 0;
  in.item_milli = {250'000};
  EXPECT_EQ(ComputeExternalReplicas(in).desired_replicas, 3);
}

TEST(ConfigTest, ParseAndRefuse) {
  auto c = ExternalMetricsConfig::Parse(R"(
namespaces:
  quasim-platform: gpu-platform
max_staleness: 90s
metrics:
  gpu_queue_depth:
    query: 'sum by (region) (gpu_queue_depth{<<.LabelMatchers>>})'
    max_staleness: 30s
  gpu_jobs:
    series: 'namespace:gpu_jobs:sum'
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->namespace_tenants.at("quasim-platform"), "gpu-platform");
  EXPECT_EQ(c->max_staleness_ms, 90'000);
  EXPECT_EQ(c->metrics.at("gpu_queue_depth").max_staleness_ms, 30'000);
  EXPECT_EQ(c->metrics.at("gpu_jobs").series, "namespace:gpu_jobs:sum");
  // The list form (deploy/kubefed/10-config.yaml's spelling).
  auto l = ExternalMetricsConfig::Parse(R"(
namespace_tenants:
  gpu-platform: gpu-platform
external_metrics:
  - name: gpu_queue_depth
    record: namespace:gpu_queue_depth:sum
    max_staleness: 2m
  - name: gpu_queue_depth_by_queue
    query: sum(gpu_queue_depth{<<.LabelMatchers>>})
)");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->namespace_tenants.at("gpu-platform"), "gpu-platform");
  EXPECT_EQ(l->metrics.at("gpu_queue_depth").series, "namespace:gpu_queue_depth:sum");
  EXPECT_EQ(l->metrics.at("gpu_queue_depth_by_queue").query,
            "sum(gpu_queue_depth{<<.LabelMatchers>>})");
  EXPECT_FALSE(ExternalMetricsConfig::Parse("external_metrics:\n  - query: x\n").ok());
  EXPECT_FALSE(ExternalMetricsConfig::Parse("metrics:\n  x:\n    query: 'sum(('\n").ok());
  EXPECT_FALSE(ExternalMetricsConfig::Parse("bogus: 1\n").ok());
  EXPECT_FALSE(ExternalMetricsConfig::Parse("metrics:\n  x:\n    query: a\n    series: b\n").ok());
  EXPECT_FALSE(ExternalMetricsConfig::Parse("namespaces:\n  Bad_NS: t\n").ok());
}

// Evaluate() over a real storage: values, staleness, stale markers, 404s.
class EvaluateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = false;
    storage_ = *Storage::Open(o);
    engine_ = std::make_unique<promql::Engine>(promql::EngineOptions{});
    now_ = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  }
  void Put(const std::string& tenant, std::vector<std::pair<std::string, std::string>> labels,
           std::vector<Sample> samples) {
    std::vector<LabelView> views;
    for (auto& [n, v] : labels) views.push_back({n, v});
    AppendBatch b;
    b.series.push_back({views, samples});
    AppendResult r;
    ASSERT_TRUE(storage_->Append(tenant, b, &r).ok());
  }
  ExternalMetricsApi Api(const std::string& yaml) {
    auto c = ExternalMetricsConfig::Parse(yaml);
    EXPECT_TRUE(c.ok()) << c.status();
    return ExternalMetricsApi(
        *c, [this](const std::string& t) { return storage_->ForTenant(t); }, engine_.get());
  }
  storage_testing::TempDir dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<promql::Engine> engine_;
  int64_t now_ = 0;
};

TEST_F(EvaluateTest, SumsTheNamespacesSeries) {
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"region", "a"}}, {{now_ - 10'000, 1.25}});
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"region", "b"}}, {{now_ - 10'000, 0.25}});
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns2"}, {"region", "a"}}, {{now_ - 10'000, 100}});
  auto api = Api("namespaces: {ns1: gpu, ns2: gpu}\n");
  auto a = api.Evaluate(nullptr, "ns1", "q", "", now_);
  ASSERT_EQ(a.http_status, 200) << a.message;
  ASSERT_EQ(a.items.size(), 1u);
  EXPECT_DOUBLE_EQ(a.items[0].value, 1.5);
  EXPECT_EQ(a.query, "sum(q{namespace=\"ns1\"})");
  a = api.Evaluate(nullptr, "ns1", "q", "region in (b)", now_);
  ASSERT_EQ(a.http_status, 200) << a.message;
  EXPECT_DOUBLE_EQ(a.items[0].value, 0.25);
  // Not mapped: 403; bad selector: 400; no such metric: 404.
  EXPECT_EQ(api.Evaluate(nullptr, "ns3", "q", "", now_).http_status, 403);
  EXPECT_EQ(api.Evaluate(nullptr, "ns1", "q", "a>1", now_).http_status, 400);
  auto nf = api.Evaluate(nullptr, "ns1", "nothing", "", now_);
  EXPECT_EQ(nf.http_status, 404);
  EXPECT_EQ(nf.reason, "NotFound");
  // A selector matching nothing: 404, never 0.
  EXPECT_EQ(api.Evaluate(nullptr, "ns1", "q", "region=zzz", now_).http_status, 404);
}

TEST_F(EvaluateTest, StaleDataIsRefusedNotZero) {
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"region", "a"}}, {{now_ - 10'000, 5}});
  // This series' pipeline broke 3 minutes ago.
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"region", "b"}}, {{now_ - 180'000, 7}});
  auto api = Api("namespaces: {ns1: gpu}\n");
  auto a = api.Evaluate(nullptr, "ns1", "q", "", now_);
  EXPECT_EQ(a.http_status, 503);
  EXPECT_EQ(a.reason, "ServiceUnavailable");
  EXPECT_NE(a.message.find("external metric \"q\""), std::string::npos) << a.message;
  EXPECT_NE(a.message.find("3m0s old"), std::string::npos) << a.message;
  EXPECT_NE(a.message.find("region=\"b\""), std::string::npos) << a.message;
  // The fresh series alone is fine.
  EXPECT_EQ(api.Evaluate(nullptr, "ns1", "q", "region=a", now_).http_status, 200);
  // A larger max_staleness accepts it.
  auto lax = Api("namespaces: {ns1: gpu}\nmax_staleness: 5m\n");
  auto ok = lax.Evaluate(nullptr, "ns1", "q", "", now_);
  EXPECT_EQ(ok.http_status, 200) << ok.message;
  EXPECT_DOUBLE_EQ(ok.items[0].value, 12);
  EXPECT_NE(api.MetricsText().find("outcome=\"stale\"} 1"), std::string::npos);
}

TEST_F(EvaluateTest, StaleMarkerEndsASeriesWithoutMakingDataStale) {
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"pod", "a"}}, {{now_ - 10'000, 5}});
  // Pod b went away 3 minutes ago: its series ends with a stale marker.
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"pod", "b"}},
      {{now_ - 200'000, 7}, {now_ - 180'000, StaleNaN()}});
  auto api = Api("namespaces: {ns1: gpu}\n");
  auto a = api.Evaluate(nullptr, "ns1", "q", "", now_);
  ASSERT_EQ(a.http_status, 200) << a.message;
  EXPECT_DOUBLE_EQ(a.items[0].value, 5);
  // Only ended series: not stale, but nothing to answer with.
  auto gone = api.Evaluate(nullptr, "ns1", "q", "pod=b", now_);
  EXPECT_EQ(gone.http_status, 404);
  EXPECT_NE(gone.message.find("ended"), std::string::npos) << gone.message;
}

TEST_F(EvaluateTest, TemplatesAndRecordingRuleSeries) {
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"region", "a"}}, {{now_ - 5'000, 2}});
  Put("gpu", {{"__name__", "q"}, {"namespace", "ns1"}, {"region", "b"}}, {{now_ - 5'000, 3}});
  Put("gpu", {{"__name__", "namespace:q:sum"}, {"namespace", "ns1"}}, {{now_ - 5'000, 5}});
  auto api = Api(R"(
namespaces: {ns1: gpu}
metrics:
  per_region:
    query: 'sum by (region) (q{<<.LabelMatchers>>}) * 2'
  precomputed:
    series: 'namespace:q:sum'
)");
  auto a = api.Evaluate(nullptr, "ns1", "per_region", "", now_);
  ASSERT_EQ(a.http_status, 200) << a.message;
  ASSERT_EQ(a.items.size(), 2u);
  EXPECT_EQ(a.items[0].labels.Get("region"), "a");
  EXPECT_DOUBLE_EQ(a.items[0].value, 4);
  EXPECT_DOUBLE_EQ(a.items[1].value, 6);
  auto p = api.Evaluate(nullptr, "ns1", "precomputed", "", now_);
  ASSERT_EQ(p.http_status, 200) << p.message;
  EXPECT_EQ(p.query, "namespace:q:sum{namespace=\"ns1\"}");
  EXPECT_DOUBLE_EQ(p.items[0].value, 5);
}

}  // namespace
}  // namespace meridian::k8s
