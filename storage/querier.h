// The read path of RocksStorage: Queryable/Querier/SeriesSet over one
// tenant's in-memory index, head data and persisted chunks.
#ifndef MERIDIAN_STORAGE_QUERIER_H_
#define MERIDIAN_STORAGE_QUERIER_H_

#include <memory>
#include <string>

#include "model/queryable.h"

namespace meridian {

class RocksStorage;

// `storage` is borrowed and must outlive the Queryable and its Queriers.
std::unique_ptr<Queryable> NewTenantQueryable(const RocksStorage* storage, std::string tenant);

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_QUERIER_H_
