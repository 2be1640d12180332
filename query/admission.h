// QueryAdmission: admission control for query evaluation. Each priority class
// has its own lane of slots, so that reads that scale workloads (rule
// evaluation, the external metrics API behind an autoscaler) are never queued
// behind dashboard queries, and a burst of dashboard queries waits in a
// bounded queue instead of running all at once.
//
//   QueryAdmission adm({.dashboard_slots = 20, .priority_slots = 4});
//   auto ticket = adm.Admit(QueryPriority::kDashboard, deadline, &cancelled);
//   if (!ticket.ok()) return ticket.status();   // kUnavailable / kDeadlineExceeded / kCancelled
//   ... evaluate; the slot is freed when the ticket dies ...
//
// Thread-safety: thread-safe.
#ifndef MERIDIAN_QUERY_ADMISSION_H_
#define MERIDIAN_QUERY_ADMISSION_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "model/status.h"
#include "model/sync.h"

namespace meridian::promql {

enum class QueryPriority {
  kDashboard,  // the HTTP API: Grafana, ad-hoc queries
  kPriority,   // rule evaluation, external metrics API (autoscalers)
};

const char* QueryPriorityName(QueryPriority p);  // "dashboard", "priority"

struct AdmissionOptions {
  int dashboard_slots = 20;  // Prometheus's --query.max-concurrency default
  int priority_slots = 4;
  // Longest wait for a slot (also bounded by the query's own deadline).
  std::chrono::milliseconds queue_timeout{30'000};
  // Most queries waiting per lane; beyond, kUnavailable at once (a waiting
  // query holds an HTTP worker: the queue must not take all of them).
  int max_queued = 20;
};

class QueryAdmission {
 public:
  explicit QueryAdmission(AdmissionOptions options);

  // Holds one slot of a lane; frees it on destruction.
  class Ticket {
   public:
    Ticket(Ticket&& o) noexcept : owner_(o.owner_), lane_(o.lane_) { o.owner_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class QueryAdmission;
    Ticket(const QueryAdmission* owner, int lane) : owner_(owner), lane_(lane) {}
    const QueryAdmission* owner_;
    int lane_;
  };

  // Waits for a free slot of `priority`'s lane. kUnavailable when none freed
  // up within the queue timeout or max_queued queries already wait, kDeadlineExceeded when
  // `deadline` (the query's) came first, kCancelled when *cancelled became true.
  absl::StatusOr<Ticket> Admit(QueryPriority priority,
                               std::chrono::steady_clock::time_point deadline,
                               const std::atomic<bool>* cancelled) const;

  int running(QueryPriority p) const;
  int queued(QueryPriority p) const;

  // Queries refused with kUnavailable since start, by cause.
  struct Rejections {
    uint64_t queue_full = 0;     // max_queued already waiting
    uint64_t queue_timeout = 0;  // no slot within queue_timeout
  };
  Rejections rejected(QueryPriority p) const;
  const AdmissionOptions& options() const { return options_; }

 private:
  struct Lane {
    int slots = 0;
    int running = 0;
    int queued = 0;
    Rejections rejected;
  };
  void Release(int lane) const;

  const AdmissionOptions options_;
  mutable Mutex mu_;
  mutable Lane lanes_[2] ABSL_GUARDED_BY(mu_);
  mutable CondVar cvs_[2];  // a slot of lanes_[i] freed up
};

}  // namespace meridian::promql

#endif  // MERIDIAN_QUERY_ADMISSION_H_
