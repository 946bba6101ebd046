// distributed.cc — rows exchanged between ranks (serialised as key, label,
// length, values) and the fingerprint of a sharded dataset.
#include "dgm/distributed.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace dgm {
namespace {

template <typename T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T take(const std::string& s, size_t& at) {
  if (at + sizeof(T) > s.size()) throw Error("exchange_rows: truncated message");
  T v;
  std::memcpy(&v, s.data() + at, sizeof v);
  at += sizeof v;
  return v;
}

}  // namespace

ReceivedRows exchange_rows(Communicator& comm, const Dataset& local, const std::vector<int>& dest,
                           const std::vector<uint64_t>& key) {
  const int P = comm.size();
  const bool bytes = local.width() == 1;
  std::vector<std::string> send(static_cast<size_t>(P));
  std::vector<int32_t> row;
  for (size_t i = 0; i < local.size(); ++i) {
    std::string& s = send[size_t(dest[i])];
    const int64_t len = local.length(i);
    put<uint64_t>(s, key[i]);
    put<int32_t>(s, local.label(i));
    put<int64_t>(s, len);
    if (bytes) {
      s.append(reinterpret_cast<const char*>(local.row_u8(i)), size_t(len));
    } else {
      row.resize(size_t(len));
      local.get(i, row.data());
      s.append(reinterpret_cast<const char*>(row.data()), size_t(len) * sizeof(int32_t));
    }
  }
  const std::vector<std::string> got = comm.all_to_all(send);
  send.clear();
  // Index the received rows, then append them in key order.
  struct Ref {
    uint64_t key;
    int from;
    size_t at;
  };
  std::vector<Ref> refs;
  for (int r = 0; r < P; ++r) {
    const std::string& s = got[size_t(r)];
    for (size_t at = 0; at < s.size();) {
      Ref ref{take<uint64_t>(s, at), r, at};
      take<int32_t>(s, at);
      const int64_t len = take<int64_t>(s, at);
      at += size_t(len) * (bytes ? 1 : sizeof(int32_t));
      if (at > s.size()) throw Error("exchange_rows: truncated message");
      refs.push_back(ref);
    }
  }
  std::sort(refs.begin(), refs.end(), [](const Ref& a, const Ref& b) { return a.key < b.key; });
  ReceivedRows out;
  out.rows = Dataset(local.space());
  out.rows.reserve(refs.size());
  out.keys.reserve(refs.size());
  for (const Ref& ref : refs) {
    const std::string& s = got[size_t(ref.from)];
    size_t at = ref.at;
    const int32_t label = take<int32_t>(s, at);
    const int64_t len = take<int64_t>(s, at);
    if (bytes && !local.space().variable_length()) {
      out.rows.push_back_u8(reinterpret_cast<const uint8_t*>(s.data() + at), label);
    } else {
      row.resize(size_t(len));
      if (bytes)
        for (int64_t d = 0; d < len; ++d) row[size_t(d)] = uint8_t(s[at + size_t(d)]);
      else
        std::memcpy(row.data(), s.data() + at, size_t(len) * sizeof(int32_t));
      out.rows.push_back(row.data(), len, label);
    }
    out.keys.push_back(ref.key);
  }
  return out;
}

uint64_t distributed_fingerprint(Communicator& comm, const Dataset& shard) {
  const ShardPlace place = shard_place(comm, shard.size());
  const uint64_t part = shard.fingerprint_part(place.offset);
  // A sum modulo 2^64: add as unsigned, whatever the reduction order.
  std::string mine(sizeof part, '\0');
  std::memcpy(mine.data(), &part, sizeof part);
  uint64_t sum = 0;
  for (const std::string& s : comm.all_gather(mine)) {
    uint64_t v;
    std::memcpy(&v, s.data(), sizeof v);
    sum += v;
  }
  return Dataset::fingerprint_of(shard.space(), place.total, sum);
}

}  // namespace dgm
