// Two regional meridians (us-west-2, eu-west-1) fed an hour of data each, and
// one meridian holding all of it: the setup shared by the global view tests
// (global_view_test.cc, pushdown_test.cc), which add their global meridians.
#ifndef MERIDIAN_TESTS_INTEGRATION_REGIONS_H_
#define MERIDIAN_TESTS_INTEGRATION_REGIONS_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/harness.h"

namespace meridian::testing {

struct RegionDataOptions {
  // Every series carries region=R itself (else the global's external label
  // supplies it, and the meridian holding all the data gets it written).
  bool region_label = true;
  // Adds ha_total written by an HA pair (replica A and B; B misses the last
  // 10 min, 200 ms off A's timestamps).
  bool ha_pair = false;
};

// One region's hour: counters with a reset, gauges, a classic histogram, up;
// every 15 s, 500 ms off the grid. No ties between series (topk/bottomk pick
// among equals by input order).
inline prometheus::WriteRequest RegionData(const std::string& region, int64_t from, int64_t to,
                                           int seed, RegionDataOptions o) {
  prometheus::WriteRequest req;
  for (const char* job : {"api", "gpu"}) {
    const double job_off = job[0] == 'a' ? 0.5 : 0.25;
    for (int inst = 0; inst < 3; ++inst) {
      std::vector<std::pair<int64_t, double>> ctr, gauge, up, ha_a, ha_b;
      std::vector<std::vector<std::pair<int64_t, double>>> buckets(3);
      double total = 0;
      int i = 0;
      for (int64_t t = from + 500; t <= to; t += 15000, ++i) {
        total += 1 + (i * 7 + inst + seed) % 5;
        if (i == 90 && inst == 2) total = 1;  // reset
        ctr.push_back({t, total});
        gauge.push_back({t, 40 + job_off + 30 * std::sin(i / 9.0 + inst + seed)});
        up.push_back({t, 1});
        ha_a.push_back({t, 3.0 * i + inst});
        if (t < to - 600'000) ha_b.push_back({t + 200, 3.0 * i + inst});
        for (int b = 0; b < 3; ++b) buckets[b].push_back({t, std::floor(total * (b + 1) / 3)});
      }
      const std::string in = std::to_string(inst);
      auto labels = [&](const char* name, std::vector<std::pair<std::string, std::string>> more) {
        std::vector<std::pair<std::string, std::string>> ls = {
            {"__name__", name}, {"job", job}, {"instance", in}};
        if (o.region_label) ls.push_back({"region", region});
        for (auto& l : more) ls.push_back(std::move(l));
        return ls;
      };
      AddSeries(&req, labels("requests_total", {}), ctr);
      AddSeries(&req, labels("gpu_temp", {}), gauge);
      AddSeries(&req, labels("up", {}), up);
      if (o.ha_pair) {
        AddSeries(&req, labels("ha_total", {{"replica", "A"}}), ha_a);
        AddSeries(&req, labels("ha_total", {{"replica", "B"}}), ha_b);
      }
      const char* les[] = {"0.1", "1", "+Inf"};
      for (int b = 0; b < 3; ++b)
        AddSeries(&req, labels("lat_bucket", {{"le", les[b]}}), buckets[b]);
    }
  }
  return req;
}

// The same data with region=R on every series (labels kept sorted).
inline prometheus::WriteRequest WithRegion(prometheus::WriteRequest req,
                                           const std::string& region) {
  for (auto& ts : *req.mutable_timeseries()) {
    auto* l = ts.add_labels();
    l->set_name("region");
    l->set_value(region);
    std::sort(ts.mutable_labels()->begin(), ts.mutable_labels()->end(),
              [](const auto& a, const auto& b) { return a.name() < b.name(); });
  }
  return req;
}

inline void Write(Meridian& m, const prometheus::WriteRequest& req,
                  const httplib::Headers& h = {}) {
  auto c = m.Client();
  auto r = PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf", h);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
}

// --remote-read's value for region meridian `m` (3 s timeout, region=R).
inline std::string RemoteFlag(const std::string& name, Meridian& m, const std::string& region,
                              bool pushdown = false) {
  return name + "=http://" + m.url() + "/api/v1/read;timeout=3s;external-labels=region:" + region +
         (pushdown ? ";pushdown=true" : "");
}

// us_ and eu_ (the regions) and all_ (everything, started with all_args) hold
// the hour [from_, to_] ending a minute before now_ (a whole minute).
class TwoRegionsTest : public ::testing::Test {
 protected:
  void StartRegions(RegionDataOptions o, std::vector<std::string> all_args = {}) {
    now_ = NowMs() / 60000 * 60000;
    from_ = now_ - 3600'000;
    to_ = now_ - 60'000;
    us_ = std::make_unique<Meridian>();
    eu_ = std::make_unique<Meridian>();
    all_ = std::make_unique<Meridian>("", std::move(all_args));
    ASSERT_TRUE(us_->WaitReady() && eu_->WaitReady() && all_->WaitReady());
    auto us_data = RegionData("us-west-2", from_, to_, 0, o);
    auto eu_data = RegionData("eu-west-1", from_, to_, 3, o);
    ASSERT_NO_FATAL_FAILURE(Write(*us_, us_data));
    ASSERT_NO_FATAL_FAILURE(Write(*eu_, eu_data));
    ASSERT_NO_FATAL_FAILURE(
        Write(*all_, o.region_label ? us_data : WithRegion(us_data, "us-west-2")));
    ASSERT_NO_FATAL_FAILURE(
        Write(*all_, o.region_label ? eu_data : WithRegion(eu_data, "eu-west-1")));
  }

  nlohmann::json Get(Meridian& m, const std::string& path, int* status = nullptr) {
    auto c = m.Client();
    return GetJson(*c, path, status);
  }

  int64_t now_ = 0, from_ = 0, to_ = 0;
  std::unique_ptr<Meridian> us_, eu_, all_;
};

}  // namespace meridian::testing

#endif  // MERIDIAN_TESTS_INTEGRATION_REGIONS_H_
