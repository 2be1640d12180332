// RocksStorage's checkpoint table files: the chunks a checkpoint writes go
// into table files that are ingested into the chunks family, the pieces of a
// cut head chunk are merged there. See docs/format/storage.md, "Head and
// checkpoints".
#include <algorithm>
#include <filesystem>
#include <limits>

#include "rocksdb/db.h"
#include "rocksdb/sst_file_reader.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/write_batch.h"
#include "storage/chunk_codec.h"
#include "storage/coding.h"
#include "storage/keys.h"
#include "storage/rocks_status.h"
#include "storage/rocks_storage.h"

namespace meridian {
namespace {

// Write batches of chunks when a file cannot be ingested (WriteChunkFile).
constexpr size_t kCheckpointBatchBytes = 4 << 20;

// One write of a checkpoint's table file for a series: the chunk
// snap.chunks[chunk], or a delete (chunk < 0) of a piece merged into one.
struct ChunkOp {
  int64_t key_t_ms;
  int chunk;
};

}  // namespace

absl::Status RocksStorage::WriteSeriesChunks(rocksdb::SstFileWriter* file, uint64_t id,
                                             MemSeries::PersistSnapshot* snap,
                                             std::unique_ptr<rocksdb::Iterator>* pieces,
                                             int64_t* pmin, int64_t* pmax, size_t* bytes) {
  std::vector<ChunkOp> ops;
  std::vector<int64_t> absorbed;
  for (size_t i = 0; i < snap->chunks.size(); ++i) {
    ClosedChunk& c = snap->chunks[i];
    if (c.merge_from_ms != ClosedChunk::kNoMerge) {
      if (*pieces == nullptr) *pieces = chunk_store_->NewIterator(/*fill_cache=*/false);
      MERIDIAN_RETURN_IF_ERROR(MergeHeadPieces(pieces->get(), id, &c, &absorbed));
      for (int64_t k : absorbed) ops.push_back({k, -1});
      absorbed.clear();
    }
    ops.push_back({c.min_t_ms, static_cast<int>(i)});
  }
  // In key order (first timestamp); of the writes of one key the last
  // chunk wins, as a later write of it would, and a chunk over a delete.
  std::sort(ops.begin(), ops.end(), [](const ChunkOp& a, const ChunkOp& b) {
    return a.key_t_ms != b.key_t_ms ? a.key_t_ms < b.key_t_ms : a.chunk < b.chunk;
  });
  for (size_t k = 0; k < ops.size(); ++k) {
    if (k + 1 < ops.size() && ops[k + 1].key_t_ms == ops[k].key_t_ms) continue;
    const std::string key = keys::ChunkKey(id, ops[k].key_t_ms);
    if (ops[k].chunk < 0) {
      MERIDIAN_RETURN_IF_ERROR(FromRocks(file->Delete(key), "writing chunks"));
      continue;
    }
    const ClosedChunk& c = snap->chunks[static_cast<size_t>(ops[k].chunk)];
    MERIDIAN_RETURN_IF_ERROR(FromRocks(file->Put(key, c.data), "writing chunks"));
    *bytes += c.data.size();
    *pmin = std::min(*pmin, c.min_t_ms);
    *pmax = std::max(*pmax, c.max_t_ms);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<rocksdb::SstFileWriter>> RocksStorage::OpenChunkFile() {
  // Compressed as a flush of the family's memtable would write its level-0
  // file (zstd at its default level); the bottommost level's zstd level 6
  // is for the compactions that take the chunks there.
  rocksdb::Options o = db_->GetOptions(chunks_);
  o.bottommost_compression = rocksdb::kDisableCompressionOption;
  auto w = std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), o, chunks_);
  MERIDIAN_RETURN_IF_ERROR(
      FromRocks(w->Open(options_.dir + "/" + kChunksIngestFile), "writing chunks"));
  return w;
}

absl::Status RocksStorage::IngestChunks(rocksdb::SstFileWriter* file) {
  const std::string path = options_.dir + "/" + kChunksIngestFile;
  absl::Status st = FromRocks(file->Finish(), "writing chunks");
  if (st.ok()) {
    rocksdb::IngestExternalFileOptions io;
    io.move_files = true;  // linked into the database: no copy
    // Durable on return (RocksDB syncs the file and its manifest entry).
    st = FromRocks(db_->IngestExternalFile(chunks_, {path}, io), "ingesting chunks");
  }
  if (st.code() == absl::StatusCode::kDataLoss) {
    // RocksDB reads the keys of the files the new one overlaps to pick its
    // level, and a corrupt block there fails every ingestion: the damage
    // stays local (docs/format/storage.md, "Corruption") when the chunks go
    // through the memtable instead, as the final synced write makes them
    // durable.
    chunk_store_->CountCorruption("checkpoint: " + std::string(st.message()));
    st = WriteChunkFile(path);
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);  // left only after a failure
  return st;
}

absl::Status RocksStorage::MergeHeadPieces(rocksdb::Iterator* it, uint64_t id, ClosedChunk* c,
                                           std::vector<int64_t>* absorbed) {
  std::vector<Sample> samples;
  std::vector<int64_t> keys;
  const std::string end = keys::ChunkKey(id, c->min_t_ms);
  for (it->Seek(keys::ChunkKey(id, c->merge_from_ms)); it->Valid() && it->key().compare(end) < 0;
       it->Next()) {
    const std::string_view v(it->value().data(), it->value().size());
    ChunkHeader h;
    absl::Status st = DecodeChunkHeader(v, &h);
    // A chunk that reaches past this one (out of order) stays as it is.
    if (st.ok() && h.max_t_ms > c->max_t_ms) continue;
    if (st.ok()) st = DecodeChunk(v, &samples);
    if (!st.ok()) {
      // Unreadable: nothing is merged, the pieces stay (reads skip them).
      chunk_store_->CountCorruption("merging head chunk pieces of series " + std::to_string(id) +
                                    ": " + std::string(st.message()));
      c->merge_from_ms = ClosedChunk::kNoMerge;
      return absl::OkStatus();
    }
    keys.push_back(coding::DecodeTimeKey(it->key().data() + 8));
  }
  c->merge_from_ms = ClosedChunk::kNoMerge;
  if (!it->status().ok()) {
    if (!it->status().IsCorruption()) return FromRocks(it->status(), "reading chunk pieces");
    chunk_store_->CountCorruption("merging head chunk pieces of series " + std::to_string(id) +
                                  ": " + it->status().ToString());
    return absl::OkStatus();
  }
  if (keys.empty()) return absl::OkStatus();
  MERIDIAN_RETURN_IF_ERROR(DecodeChunk(c->data, &samples));
  SortAndDedupe(&samples);
  c->data.clear();
  EncodeChunk(samples, &c->data);
  c->min_t_ms = samples.front().t_ms;
  for (int64_t k : keys) {
    if (k != c->min_t_ms) absorbed->push_back(k);
  }
  return absl::OkStatus();
}

absl::Status RocksStorage::WriteChunkFile(const std::string& path) {
  rocksdb::SstFileReader reader(db_->GetOptions(chunks_));
  MERIDIAN_RETURN_IF_ERROR(FromRocks(reader.Open(path), "reading chunks"));
  std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(rocksdb::ReadOptions()));
  rocksdb::WriteBatch wb;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    MERIDIAN_RETURN_IF_ERROR(FromRocks(wb.Put(chunks_, it->key(), it->value()), "staging chunk"));
    if (wb.GetDataSize() >= kCheckpointBatchBytes) {
      MERIDIAN_RETURN_IF_ERROR(Write(&wb, /*sync=*/false, "writing chunks"));
      wb.Clear();
    }
  }
  MERIDIAN_RETURN_IF_ERROR(FromRocks(it->status(), "reading chunks"));
  return wb.Count() > 0 ? Write(&wb, /*sync=*/false, "writing chunks") : absl::OkStatus();
}

}  // namespace meridian
