#include "query/admission.h"

#include <algorithm>
#include <string>

#include "model/sync.h"

namespace meridian::promql {
namespace {

// Cancellation is polled while waiting.
constexpr std::chrono::milliseconds kPoll{50};

}  // namespace

const char* QueryPriorityName(QueryPriority p) {
  return p == QueryPriority::kPriority ? "priority" : "dashboard";
}

QueryAdmission::QueryAdmission(AdmissionOptions options) : options_(options) {
  lanes_[0].slots = std::max(1, options_.dashboard_slots);
  lanes_[1].slots = std::max(1, options_.priority_slots);
}

QueryAdmission::Ticket::~Ticket() {
  if (owner_ != nullptr) owner_->Release(lane_);
}

void QueryAdmission::Release(int lane) const {
  {
    MutexLock lock(&mu_);
    --lanes_[lane].running;
  }
  cvs_[lane].Signal();
}

absl::StatusOr<QueryAdmission::Ticket> QueryAdmission::Admit(
    QueryPriority priority, std::chrono::steady_clock::time_point deadline,
    const std::atomic<bool>* cancelled) const {
  const int i = priority == QueryPriority::kPriority ? 1 : 0;
  const auto start = std::chrono::steady_clock::now();
  const auto give_up = std::min(deadline, start + options_.queue_timeout);
  MutexLock lock(&mu_);
  Lane& lane = lanes_[i];
  if (lane.running >= lane.slots && lane.queued >= std::max(0, options_.max_queued)) {
    ++lane.rejected.queue_full;
    return absl::UnavailableError("too many concurrent queries: all " + std::to_string(lane.slots) +
                                  " " + QueryPriorityName(priority) + " query slots are busy and " +
                                  std::to_string(lane.queued) + " queries wait; retry later");
  }
  ++lane.queued;
  while (lane.running >= lane.slots) {
    const auto now = std::chrono::steady_clock::now();
    if (cancelled != nullptr && cancelled->load(std::memory_order_relaxed)) {
      --lane.queued;
      return absl::CancelledError("query was canceled while waiting for a query slot");
    }
    if (now >= give_up) {
      --lane.queued;
      if (give_up == deadline && deadline < start + options_.queue_timeout) {
        return absl::DeadlineExceededError("query timed out while waiting for a query slot");
      }
      ++lane.rejected.queue_timeout;
      return absl::UnavailableError(
          "too many concurrent queries: all " + std::to_string(lane.slots) + " " +
          QueryPriorityName(priority) + " query slots stayed busy for " +
          std::to_string(options_.queue_timeout.count()) + " ms; retry later");
    }
    cvs_[i].WaitUntil(&mu_, std::min(give_up, now + kPoll));
  }
  --lane.queued;
  ++lane.running;
  return Ticket(this, i);
}

int QueryAdmission::running(QueryPriority p) const {
  MutexLock lock(&mu_);
  return lanes_[p == QueryPriority::kPriority ? 1 : 0].running;
}

int QueryAdmission::queued(QueryPriority p) const {
  MutexLock lock(&mu_);
  return lanes_[p == QueryPriority::kPriority ? 1 : 0].queued;
}

QueryAdmission::Rejections QueryAdmission::rejected(QueryPriority p) const {
  MutexLock lock(&mu_);
  return lanes_[p == QueryPriority::kPriority ? 1 : 0].rejected;
}

}  // namespace meridian::promql
