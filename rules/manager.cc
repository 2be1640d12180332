#include "rules/manager.h"

#include <glob.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

namespace meridian::rules {
namespace {

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::system_clock::time_point AtNs(int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

absl::StatusOr<std::vector<std::string>> Glob(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  }
  globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) return absl::InvalidArgumentError("bad rule file pattern");
  std::sort(out.begin(), out.end());
  return out;
}

std::string EscapeLabel(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      o.push_back('\\');
      o.push_back(c);
    } else if (c == '\n') {
      o += "\\n";
    } else {
      o.push_back(c);
    }
  }
  return o;
}

std::string FormatDouble(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

struct Manager::Runner {
  std::unique_ptr<Group> group;
  std::thread thread;
  Mutex mu;
  CondVar cv;
  bool stop ABSL_GUARDED_BY(mu) = false;

  // Prometheus's Group.run: wait for the first slot after now, then evaluate
  // at every slot; slots missed while an evaluation ran late are counted and
  // skipped. A group that restores `for` state does so after its second
  // evaluation.
  void Run() {
    const int64_t interval_ns = group->interval_ms() * 1'000'000;
    int64_t ts = group->EvalTimestampNs(WallNs()) + interval_ns;
    int evaluations = 0;
    MutexLock lock(&mu);
    while (!stop) {
      if (WallNs() < ts) {
        cv.WaitUntil(&mu, AtNs(ts));
        continue;
      }
      mu.Unlock();
      group->EvalAt(ts);
      if (++evaluations == 2 && group->needs_restore()) group->RestoreForState(WallNs());
      mu.Lock();
      const int64_t next = ts + interval_ns;
      while (!stop && WallNs() < next) cv.WaitUntil(&mu, AtNs(next));
      if (stop) break;
      int64_t missed = (WallNs() - ts) / interval_ns - 1;
      if (missed > 0) {
        group->counters().missed.fetch_add(static_cast<uint64_t>(missed));
        group->counters().iterations.fetch_add(static_cast<uint64_t>(missed));
      } else {
        missed = 0;
      }
      ts += (missed + 1) * interval_ns;
    }
  }
};

Manager::Manager(Appender* appender, TenantQueryable queryable, const promql::Engine* engine,
                 ManagerOptions options)
    : appender_(appender),
      queryable_(std::move(queryable)),
      engine_(engine),
      options_(std::move(options)) {}

Manager::~Manager() { Stop(); }

void Manager::StartRunner(Runner* r) {
  r->thread = std::thread([r] { r->Run(); });
}

void Manager::StopRunner(Runner* r) {
  {
    MutexLock lock(&r->mu);
    r->stop = true;
  }
  r->cv.SignalAll();
  if (r->thread.joinable()) r->thread.join();
}

absl::Status Manager::Reload() {
  MutexLock reload_lock(&reload_mu_);
  struct Loaded {
    std::string tenant, file;
    GroupSpec spec;
  };
  std::vector<Loaded> loaded;
  absl::Status error;
  for (const RuleFileSource& src : options_.sources) {
    auto files = Glob(src.glob);
    if (!files.ok()) {
      error = absl::InvalidArgumentError("rule files " +
                                         std::filesystem::path(src.glob).filename().string() +
                                         ": " + std::string(files.status().message()));
      break;
    }
    for (const std::string& f : *files) {
      auto groups = LoadRuleFile(f);
      if (!groups.ok()) {
        error = absl::InvalidArgumentError(std::filesystem::path(f).filename().string() + ": " +
                                           std::string(groups.status().message()));
        break;
      }
      for (GroupSpec& g : *groups) loaded.push_back({src.tenant, f, std::move(g)});
    }
    if (!error.ok()) break;
  }
  std::set<std::string> keys;
  if (error.ok()) {
    for (const Loaded& l : loaded) {
      if (!keys.insert(l.tenant + "\xff" + l.file + "\xff" + l.spec.name).second) {
        error = absl::InvalidArgumentError(std::filesystem::path(l.file).filename().string() +
                                           ": group \"" + l.spec.name +
                                           "\" loaded twice for tenant " + l.tenant);
        break;
      }
    }
  }
  MutexLock lock(&mu_);
  if (!error.ok()) {
    last_reload_ok_ = false;
    ++reload_failures_;
    return error;
  }
  std::map<std::string, std::unique_ptr<Runner>> next;
  std::vector<std::unique_ptr<Runner>> replaced;
  for (Loaded& l : loaded) {
    const std::string key = l.tenant + "\xff" + l.file + "\xff" + l.spec.name;
    const int64_t interval =
        l.spec.interval_ms > 0 ? l.spec.interval_ms : options_.default_interval_ms;
    auto old = groups_.find(key);
    if (old != groups_.end() && old->second->group->spec() == l.spec &&
        old->second->group->interval_ms() == interval) {
      next[key] = std::move(old->second);
      groups_.erase(old);
      continue;
    }
    auto r = std::make_unique<Runner>();
    r->group = std::make_unique<Group>(std::move(l.spec), l.file, l.tenant, interval, appender_,
                                       queryable_, engine_);
    if (!restored_) {
      r->group->RequireRestore(options_.for_outage_tolerance_ms, options_.for_grace_period_ms);
    }
    if (old != groups_.end()) {
      StopRunner(old->second.get());
      r->group->CopyState(old->second->group.get());
      groups_.erase(old);
    }
    if (started_) StartRunner(r.get());
    next[key] = std::move(r);
  }
  // What is left in groups_ was removed from the files.
  for (auto& [key, r] : groups_) {
    StopRunner(r.get());
    r->group->MarkAllStale(WallNs() / 1'000'000);
  }
  groups_ = std::move(next);
  restored_ = true;
  last_reload_ok_ = true;
  last_reload_success_s_ = WallNs() / 1'000'000'000;
  return absl::OkStatus();
}

void Manager::Start() {
  MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  for (auto& [key, r] : groups_) StartRunner(r.get());
}

void Manager::Stop() {
  MutexLock lock(&mu_);
  for (auto& [key, r] : groups_) StopRunner(r.get());
  started_ = false;
  // Runners are restartable only through a new Runner; drop the stopped threads.
  for (auto& [key, r] : groups_) {
    MutexLock rl(&r->mu);
    r->stop = false;
  }
}

std::vector<GroupStatus> Manager::Groups(std::string_view tenant) const {
  std::vector<GroupStatus> out;
  {
    MutexLock lock(&mu_);
    for (const auto& [key, r] : groups_) {
      if (r->group->tenant() == tenant) out.push_back(r->group->Status());
    }
  }
  std::sort(out.begin(), out.end(), [](const GroupStatus& a, const GroupStatus& b) {
    return a.file != b.file ? a.file < b.file : a.name < b.name;
  });
  return out;
}

std::string Manager::MetricsText() const {
  struct Row {
    std::string labels;
    const Group* g;
  };
  std::string o;
  MutexLock lock(&mu_);
  std::vector<Row> rows;
  for (const auto& [key, r] : groups_) {
    const Group* g = r->group.get();
    rows.push_back({"{rule_group=\"" + EscapeLabel(g->file() + ";" + g->name()) + "\",tenant=\"" +
                        EscapeLabel(g->tenant()) + "\"}",
                    g});
  }
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const Row& row : rows) {
      o += name + row.labels + " " + value(const_cast<Group*>(row.g)->counters(), *row.g) + "\n";
    }
  };
  family("meridian_rule_evaluations_total", "counter", "The total number of rule evaluations.",
         [](GroupCounters& c, const Group&) { return std::to_string(c.evaluations.load()); });
  family("meridian_rule_evaluation_failures_total", "counter",
         "The total number of rule evaluation failures.",
         [](GroupCounters& c, const Group&) { return std::to_string(c.failures.load()); });
  family("meridian_rule_group_iterations_total", "counter",
         "The total number of scheduled rule group evaluations, whether executed or missed.",
         [](GroupCounters& c, const Group&) { return std::to_string(c.iterations.load()); });
  family("meridian_rule_group_iterations_missed_total", "counter",
         "The total number of rule group evaluations missed due to slow rule group evaluation.",
         [](GroupCounters& c, const Group&) { return std::to_string(c.missed.load()); });
  family("meridian_rule_evaluation_duration_seconds_total", "counter",
         "Time spent evaluating rules, in seconds.", [](GroupCounters& c, const Group&) {
           return FormatDouble(static_cast<double>(c.eval_duration_ns.load()) / 1e9);
         });
  family("meridian_rule_group_last_duration_seconds", "gauge",
         "The duration of the last rule group evaluation.", [](GroupCounters& c, const Group&) {
           return FormatDouble(static_cast<double>(c.last_duration_ns.load()) / 1e9);
         });
  family("meridian_rule_group_last_evaluation_samples", "gauge",
         "The number of samples returned during the last rule group evaluation.",
         [](GroupCounters& c, const Group&) { return std::to_string(c.last_samples.load()); });
  family("meridian_rule_group_interval_seconds", "gauge", "The interval of a rule group.",
         [](GroupCounters&, const Group& g) {
           return FormatDouble(static_cast<double>(g.interval_ms()) / 1e3);
         });
  family("meridian_rule_group_rules", "gauge", "The number of rules.",
         [](GroupCounters&, const Group& g) { return std::to_string(g.spec().rules.size()); });
  o += "# HELP meridian_rule_config_last_reload_successful Whether the last rule files reload "
       "succeeded.\n# TYPE meridian_rule_config_last_reload_successful gauge\n"
       "meridian_rule_config_last_reload_successful " +
       std::string(last_reload_ok_ ? "1" : "0") + "\n";
  o += "# HELP meridian_rule_config_last_reload_success_timestamp_seconds Timestamp of the last "
       "successful rule files reload.\n# TYPE "
       "meridian_rule_config_last_reload_success_timestamp_seconds gauge\n"
       "meridian_rule_config_last_reload_success_timestamp_seconds " +
       std::to_string(last_reload_success_s_) + "\n";
  return o;
}

}  // namespace meridian::rules
