// distributed.h — datasets spread over the ranks of a Communicator: moving
// rows to the rank that needs them, and the whole-dataset fingerprint of a
// sharded dataset. See comm.h for the block partition (shard_range).
#pragma once

#include <cstdint>
#include <vector>

#include "dgm/comm.h"
#include "dgm/dataset.h"

namespace dgm {

// Rows sent to the ranks that need them: local row i goes to rank dest[i],
// where it is known by key[i] (keys unique over all ranks). Collective.
struct ReceivedRows {
  Dataset rows;                // in increasing key order
  std::vector<uint64_t> keys;  // (rows)
};
ReceivedRows exchange_rows(Communicator& comm, const Dataset& local, const std::vector<int>& dest,
                           const std::vector<uint64_t>& key);

// Every rank's rows, in rank order, on every rank. Collective.
Dataset gather_rows(Communicator& comm, const Dataset& local);

// The fingerprint of the dataset whose rank-order concatenation of shards is
// `shard` on each rank (Dataset::fingerprint of the whole). Collective.
uint64_t distributed_fingerprint(Communicator& comm, const Dataset& shard);

}  // namespace dgm
