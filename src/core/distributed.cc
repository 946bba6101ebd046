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

// Appends row i of d to s: key, label, length, values.
void put_row(std::string& s, const Dataset& d, size_t i, uint64_t key, std::vector<int32_t>& row) {
  const int64_t len = d.length(i);
  put<uint64_t>(s, key);
  put<int32_t>(s, d.label(i));
  put<int64_t>(s, len);
  if (d.width() == 1) {
    s.append(reinterpret_cast<const char*>(d.row_u8(i)), size_t(len));
  } else {
    row.resize(size_t(len));
    d.get(i, row.data());
    s.append(reinterpret_cast<const char*>(row.data()), size_t(len) * sizeof(int32_t));
  }
}

// Reads the row at `at` of s (written by put_row) into d; returns its key.
uint64_t take_row(const std::string& s, size_t& at, Dataset& d, std::vector<int32_t>& row) {
  const uint64_t key = take<uint64_t>(s, at);
  const int32_t label = take<int32_t>(s, at);
  const int64_t len = take<int64_t>(s, at);
  const bool bytes = d.width() == 1;
  const size_t n = size_t(len) * (bytes ? 1 : sizeof(int32_t));
  if (len < 0 || at + n > s.size()) throw Error("exchange_rows: truncated message");
  if (bytes && !d.space().variable_length()) {
    d.push_back_u8(reinterpret_cast<const uint8_t*>(s.data() + at), label);
  } else {
    row.resize(size_t(len));
    if (bytes)
      for (int64_t k = 0; k < len; ++k) row[size_t(k)] = uint8_t(s[at + size_t(k)]);
    else
      std::memcpy(row.data(), s.data() + at, n);
    d.push_back(row.data(), len, label);
  }
  at += n;
  return key;
}

}  // namespace

Dataset gather_rows(Communicator& comm, const Dataset& local) {
  std::string mine;
  std::vector<int32_t> row;
  for (size_t i = 0; i < local.size(); ++i) put_row(mine, local, i, i, row);
  Dataset out(local.space());
  for (const std::string& s : comm.all_gather(mine))
    for (size_t at = 0; at < s.size();) take_row(s, at, out, row);
  return out;
}

ReceivedRows exchange_rows(Communicator& comm, const Dataset& local, const std::vector<int>& dest,
                           const std::vector<uint64_t>& key) {
  const int P = comm.size();
  std::vector<std::string> send(static_cast<size_t>(P));
  std::vector<int32_t> row;
  for (size_t i = 0; i < local.size(); ++i) put_row(send[size_t(dest[i])], local, i, key[i], row);
  const std::vector<std::string> got = comm.all_to_all(send);
  send.clear();
  // Received rows are appended as they come, then put in key order.
  Dataset all(local.space());
  std::vector<uint64_t> keys;
  for (const std::string& s : got)
    for (size_t at = 0; at < s.size();) keys.push_back(take_row(s, at, all, row));
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  ReceivedRows out;
  out.rows = all.subset(order);
  out.keys.resize(keys.size());
  for (size_t i = 0; i < order.size(); ++i) out.keys[i] = keys[order[i]];
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
