/* SPDX-License-Identifier: MIT */
#ifndef DD_DATAPLANE_JFILE_H
#define DD_DATAPLANE_JFILE_H

/*
 * The journal on disk: segment files of framed, checksummed records, and snapshot files. This
 * module defines the format, checks it and reads it; the io_uring writer (dataplane/dpdk/journal.c)
 * and dadar-journal build on it. DPDK-free, libc only.
 *
 * A journal is a directory:
 *   seg-<first LSN, 20 digits>.ddj   segment files, preallocated and zero-filled to a fixed size
 *   snap-<LSN, 20 digits>.dds        snapshots of operator state covering every record <= LSN
 * Other names are ignored. A writer creates a segment under another name (e.g. with ".tmp"
 * appended), writes its header, zero-fills it, fsyncs it and renames it into place: a segment file
 * with a missing or bad header is corruption, not a torn tail.
 *
 * Segment file (all integers little-endian):
 *   offset 0      struct dd_jseg_header, padded with zeros to DD_J_PAGE bytes
 *   offset 4096   records, back to back, each 8-byte aligned; the first zero `len` (or the end of
 *                 the file) ends the data, and every byte after it must be zero. A DD_JREC_PAD record
 *                 may fill the rest of a segment (its len is then exactly segment_size - offset);
 *                 the next segment continues with the next LSN.
 *
 * Record: struct dd_jrec (24 bytes) then the payload, padded with zeros to a multiple of 8.
 *   len        whole record including header and padding, >= 24, multiple of 8
 *   type       enum dd_jrec_type
 *   source     feed index (events, outputs, feed positions)
 *   lsn        log sequence number: consecutive across the whole journal, starting at 1
 *   crc        CRC32C (Castagnoli) of the whole record (header with crc = 0, payload, padding)
 *   partition  instrument (stock locate) for events and outputs, 0 otherwise
 * len is at most DD_J_MAX_REC except for DD_JREC_PAD. The payload of an event is at least 64 bytes,
 * of an output 128, of a feed position 24, of a config record sizeof(struct dd_jconfig) (longer
 * payloads are allowed: readers use the prefix).
 * Every record, PAD included, takes one LSN.
 *
 * Every read of the format is bounds-checked: a journal is untrusted input. The format is
 * little-endian and this code stores structs as they are in memory, so it builds only on
 * little-endian hosts.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/chain.h"

#define DD_J_MAGIC 0x4c4e4a5241444144ull /* "DADARJNL" as little-endian bytes */
#define DD_J_MAJOR 2                     /* 2: typed 128-byte outputs with a cause, CONFIG records */
#define DD_J_MINOR 1                     /* 1: outputs_before in the segment header */
#define DD_J_PAGE 4096                   /* O_DIRECT alignment; the segment header's size */
#define DD_J_REC_HDR 24
#define DD_J_MAX_REC 4096                /* largest record (header + payload) */
#define DD_J_MAX_SEGMENT (65536ull << 20) /* largest segment (journal.segment_mb's limit) */
#define DD_J_SNAP_MAGIC 0x50414e5352414444ull /* "DDARSNAP" */
#define DD_J_SNAP_MAJOR 2
#define DD_J_SNAP_MINOR 0
#define DD_J_SNAP_MAX_SECTIONS 128

enum dd_jrec_type {
	DD_JREC_EVENT = 1,   /* payload: struct dd_event (ops/event.h), an input to the operators */
	DD_JREC_OUTPUT = 2,  /* payload: struct dd_output (ops/output.h), what an operator decided */
	DD_JREC_FEEDPOS = 3, /* payload: struct dd_jfeedpos, where a feed stands after a datagram */
	DD_JREC_PAD = 4,     /* no payload meaning: fills a segment's tail before rotation */
	DD_JREC_CONFIG = 5,  /* payload: struct dd_jconfig, the configuration outputs depend on: written at
			      * every start (before any input) and whenever it changes */
	DD_JREC_RULES = 6,   /* payload: struct dd_jrules then a chunk of a rule set's text: a payment
			      * chain's rules, right after the config record and at every reload */
	DD_JREC__COUNT
};

/* Stable name of a record type ("event", "output", "feedpos", "pad", "config"), "?" if unknown. */
const char *dd_jrec_type_name(unsigned type);

struct dd_jseg_header {
	uint64_t magic;          /* DD_J_MAGIC */
	uint16_t major;
	uint16_t minor;
	uint32_t header_size;    /* DD_J_PAGE */
	uint64_t segment_size;   /* bytes of the file, header included, a multiple of DD_J_PAGE */
	uint64_t first_lsn;      /* LSN of the first record in this segment */
	uint64_t segment_index;  /* 0 for the journal's first segment, then +1 */
	uint64_t created_ns;     /* CLOCK_REALTIME at creation */
	uint64_t tsc_hz;         /* TSC frequency of the writer (rx_tsc fields are in its ticks) */
	char instance[32];       /* NUL-padded; written NUL-terminated, but a reader must bound it */
	uint32_t header_crc;     /* CRC32C of the first 128 bytes with this field zero */
	uint32_t pad0;
	uint32_t nshards;        /* book shards of the writing pipeline (1: run to completion), 0 unknown */
	uint32_t nfeeds;         /* feeds configured in the writer, 0 unknown */
	uint64_t outputs_before; /* minor >= 1: OUTPUT records in the journal before first_lsn (numbers the
				  * output stream); minor 0: 0, unknown */
	uint8_t reserved[16];    /* zero (a minor version may use them) */
};
_Static_assert(sizeof(struct dd_jseg_header) == 128, "segment header is 128 bytes (then zeros to 4096)");

struct dd_jrec {
	uint32_t len;
	uint16_t type;
	uint16_t source;
	uint64_t lsn;
	uint32_t crc;
	uint32_t partition;
};
_Static_assert(sizeof(struct dd_jrec) == DD_J_REC_HDR, "record header is 24 bytes");

/*
 * What outputs depend on besides the inputs: the pipeline layout and each chain's operators with
 * their parameters (capacities now; rule sets later). Replay and recovery build their chains from
 * it, so nothing has to be repeated on their command line.
 */
#define DD_JCONFIG_VERSION 2
struct dd_jconfig {
	uint32_t version;            /* DD_JCONFIG_VERSION (1: no payment chain, the record ends there) */
	uint32_t nshards;            /* market chains: 1 (run to completion) or the workers */
	uint32_t nfeeds;
	uint32_t route;              /* how staged shards take market events: enum dd_route_policy (ops/route.h;
				      * 0, by locate, in journals from before it existed) */
	struct dd_chain_spec market; /* the market-data chain */
	struct dd_chain_spec payment;/* the payment chain (nops 0: none); one, after the market shards */
};
_Static_assert(sizeof(struct dd_jconfig) == 16 + 2 * sizeof(struct dd_chain_spec), "config record layout");
#define DD_JCONFIG_V1_SIZE (16 + sizeof(struct dd_chain_spec))

/*
 * A rule set's text, in chunks (a record holds at most DD_J_MAX_REC bytes): chunk i of n, of a
 * text of total_len bytes whose FNV-1a is text_hash, for the chain `chain` (the payment chain's
 * index: nshards; DD_JRULES_MARKET: the market rules of every market chain). Replay compiles the text once its last chunk is read and installs it at that
 * point of the input stream.
 */
struct dd_jrules {
	uint32_t chunk;
	uint32_t nchunks;
	uint32_t total_len;
	uint32_t text_hash;
	uint32_t chain;
	uint32_t len;                /* bytes of text in this record, after this header */
};
_Static_assert(sizeof(struct dd_jrules) == 24, "rules record header");
/* dd_jrules.chain of market rules (windows and patterns): every market chain takes them */
#define DD_JRULES_MARKET 0xffffffffu
#define DD_JRULES_CHUNK (DD_J_MAX_REC - DD_J_REC_HDR - sizeof(struct dd_jrules))

/*
 * A rule text reloaded while running is journaled by reference: a RULES record with nchunks 0
 * names it by FNV-1a and length, and the text is a file of the journal directory,
 * rules-<hash, 8 hex digits>-<length>.rules, written whole (temporary name, fsync, rename, fsync
 * of the directory) before the record can exist. Content-addressed, so writing one that exists
 * already is harmless.
 */
void dd_jrules_name(char *buf, size_t len, uint32_t hash, uint32_t text_len);
int dd_jrules_write(const char *dir, const char *text, size_t len, char *err, size_t errlen);

/* Read the text a reference names, checking its length and hash. 0, -ENOENT, -EBADMSG or -errno. */
int dd_jrules_read(const char *dir, uint32_t hash, uint32_t len, char **text, char *err, size_t errlen);

struct dd_jfeedpos {
	char session[10];        /* MoldUDP64 session name */
	uint8_t ended;           /* end of session seen */
	uint8_t pad0[5];
	uint64_t next_seq;       /* next sequence number the feed expects */
};
_Static_assert(sizeof(struct dd_jfeedpos) == 24, "feed position is 24 bytes");

/* ---- checksums -------------------------------------------------------------------------------- */

/* CRC32C (Castagnoli, reflected, init and final xor 0xffffffff) of `n` bytes, continuing `crc`
 * (pass 0 to start): dd_crc32c(dd_crc32c(0, a, n), b, m) is the CRC of a then b. Uses the SSE4.2
 * instruction when the CPU has it, chosen once per process on the first call. The environment
 * variable DD_CRC32C=table forces the portable table-driven code (to compare the two, or to rule
 * out a CPU problem); the results are identical. Thread-safe. */
uint32_t dd_crc32c(uint32_t crc, const void *p, size_t n);

/* Which implementation dd_crc32c() uses: "sse4.2" or "table" (for startup logs and diagnostics). */
const char *dd_crc32c_impl(void);

/* ---- encoding --------------------------------------------------------------------------------- */

/* Bytes a record with a payload of `n` bytes takes (header + payload, rounded up to 8). */
static inline size_t dd_jrec_size(size_t n)
{
	return (DD_J_REC_HDR + n + 7) & ~(size_t)7;
}

/*
 * Write one record into `buf` (at least dd_jrec_size(n) bytes): header, payload, zero padding,
 * CRC. Returns the record's size.
 */
size_t dd_jrec_put(uint8_t *buf, uint16_t type, uint16_t source, uint32_t partition, uint64_t lsn,
		   const void *payload, size_t n);

/*
 * Framing split between the producers and the journal stage: a producer computes its payload's CRC
 * register (dd_jrec_payload_crc()) while the payload is in its cache; the stage, which alone knows
 * the LSN, writes the record with dd_jrec_put_crc(), joining the header's CRC to the payload's with
 * a table lookup per register byte instead of a pass over the payload. The record's bytes are those
 * dd_jrec_put() writes. A register is "raw" (no inversion): the register of A||B is
 * shift(reg(A), |B|) ^ reg(B), and appending n zero bytes is the shift by n.
 */
struct dd_crc_shift {
	uint32_t t[4][256]; /* t[k][b]: byte b at byte k of the register, moved over n zero bytes */
	uint64_t n;
};

/* The shift over `n` zero bytes. Control plane (1,024 multiplications). */
void dd_crc_shift_init(struct dd_crc_shift *s, uint64_t n);

static inline uint32_t dd_crc_shift(const struct dd_crc_shift *s, uint32_t reg)
{
	return s->t[0][reg & 0xff] ^ s->t[1][(reg >> 8) & 0xff] ^ s->t[2][(reg >> 16) & 0xff] ^ s->t[3][reg >> 24];
}

/* The raw CRC register of a record's payload of `n` bytes and its zero padding, from 0. */
uint32_t dd_jrec_payload_crc(const void *payload, size_t n);

/*
 * The payload register of `reg` with the 8 bytes at `off` changed from `was` to `now` (an output's
 * cause rewritten): `after` is the shift over the payload bytes after them (its padding included).
 */
uint32_t dd_jrec_crc_patch(uint32_t reg, uint64_t was, uint64_t now, const struct dd_crc_shift *after);

/*
 * dd_jrec_put() for a payload whose register is `payload_reg` (dd_jrec_payload_crc()); `over` is
 * the shift over dd_jrec_size(n) - 24 bytes.
 */
size_t dd_jrec_put_crc(uint8_t *buf, uint16_t type, uint16_t source, uint32_t partition, uint64_t lsn,
		       const void *payload, size_t n, uint32_t payload_reg, const struct dd_crc_shift *over);

/*
 * Write the 24-byte header of a DD_JREC_PAD record of `len` bytes (>= 24, a multiple of 8: the
 * rest of the segment) into `buf`, its CRC computed as if `len` - 24 zero bytes followed: the
 * segment is zero-filled, so the writer writes only these 24 bytes. Returns `len`. With fewer than
 * 24 bytes left in a segment there is no room for a PAD: the writer leaves them zero and rotates.
 */
size_t dd_jrec_put_pad(uint8_t *buf, uint64_t lsn, uint32_t len);

/* Fill `h` for a new segment (header_crc computed). */
void dd_jseg_header_init(struct dd_jseg_header *h, uint64_t segment_size, uint64_t first_lsn, uint64_t index,
			 uint64_t tsc_hz, const char *instance);

/* Record the writer's pipeline layout in `h` (recomputing header_crc): replay needs it to shard
 * the books as the writer did. */
void dd_jseg_header_set_layout(struct dd_jseg_header *h, uint32_t nshards, uint32_t nfeeds);

/* Record how many OUTPUT records the journal holds before the segment (recomputing header_crc). */
void dd_jseg_header_set_outputs(struct dd_jseg_header *h, uint64_t outputs_before);

/* Check a segment header read from disk: magic, major version, CRC, header_size, segment_size (a
 * multiple of DD_J_PAGE, at least two pages, at most DD_J_MAX_SEGMENT), first_lsn (not 0). Any minor version is accepted.
 * Returns 0, -EPROTO (another major version) or -EBADMSG, with a message in err. */
int dd_jseg_header_check(const struct dd_jseg_header *h, char *err, size_t errlen);

/* File names of segment `first_lsn` and snapshot `lsn`, inside directory `dir` (truncated to fit
 * `len`: PATH_MAX is always enough). */
void dd_jseg_path(char *buf, size_t len, const char *dir, uint64_t first_lsn);
void dd_jsnap_path(char *buf, size_t len, const char *dir, uint64_t lsn);

/* Create journal directory `dir` and its missing parents (mode 0750). Returns 0 (also when it
 * exists) or -errno (-ENAMETOOLONG past PATH_MAX). */
int dd_jdir_create(const char *dir);

/* ---- reading ---------------------------------------------------------------------------------- */

/* One segment file of a journal directory and its header. */
struct dd_jseg_info {
	uint64_t first_lsn;      /* from the file name (= the header's, checked) */
	struct dd_jseg_header h;
	char path[512];
};

/*
 * The segment files of `dir` in LSN order, each with its header read and checked, in a malloc'd
 * array (*n may be 0). Returns 0, or -errno / -EBADMSG / -EPROTO with a message (a header that does
 * not check, or whose first_lsn is not its file name's).
 */
int dd_jseg_list(const char *dir, struct dd_jseg_info **out, size_t *n, char *err, size_t errlen);

/*
 * What a scan of a journal directory found. The scan reads every segment in LSN order and checks
 * every record: framing, CRC, LSN continuity (each record's LSN is the previous one's + 1, across
 * segments too; a segment's first record has its header's first_lsn).
 *
 *   torn tail      the data ends with a record cut short or failing its CRC, and no valid record
 *                  follows anywhere: a crash while writing. Recovery truncates it.
 *   corruption     a bad record followed by valid records later, a gap or repeat in the LSNs, a bad
 *                  segment header, a segment whose first_lsn does not continue: never skipped;
 *                  reported with its segment, offset and LSN.
 * Precisely: a record is bad when its framing is wrong (len < 24, not a multiple of 8, past the end
 * of the file, over DD_J_MAX_REC) or its CRC fails. A bad record, or non-zero bytes after the end
 * of the data, in the last segment with no record of a valid CRC and an LSN >= the expected one
 * anywhere after it, is a torn tail; anywhere else it is corruption. A record whose CRC is valid
 * but whose LSN, type, payload size or PAD length is wrong is always corruption: it was written
 * that way. The scan stops at the first torn or corrupt place.
 */
struct dd_jscan {
	uint64_t segments;       /* segment files found */
	uint64_t skipped;        /* of those, not read: they end before from_lsn */
	uint32_t nshards;        /* the layout in the last segment header read (0: unknown) */
	uint32_t nfeeds;
	uint64_t records;        /* valid records up to the end of good data */
	uint64_t by_type[DD_JREC__COUNT];
	uint64_t first_lsn;      /* 0 if the journal is empty */
	uint64_t last_lsn;       /* last valid LSN (0 if none) */
	/* where the good data ends: the segment and offset an appender continues at */
	char last_segment[512];
	uint64_t end_offset;
	/* torn tail */
	bool torn;
	uint64_t torn_bytes;     /* from end_offset to the last non-zero byte of the last segment */
	uint64_t short_bytes;    /* the last segment file is this much shorter than its header's segment_size
				  * (its end was lost): part of the torn tail, torn is set */
	uint64_t segment_size;   /* the last segment's size as its header says */
	/* corruption */
	bool corrupt;
	char corrupt_segment[512];
	uint64_t corrupt_offset;
	uint64_t corrupt_lsn;    /* LSN expected at that place */
	char corrupt_why[160];
	uint64_t bytes;          /* bytes of good records (their len, PAD included) */
};

/*
 * Called for every valid record in LSN order (payload `p` of `n` bytes: len - 24, padding included;
 * `p` is 8-byte aligned and valid only during the call). For a DD_JREC_PAD record `p` is NULL and
 * `n` is 0: its zeros are checked but not handed over. Return 0 (or a positive value) to go on, or a
 * negative value to stop the scan with that value.
 */
typedef int (*dd_jrec_fn)(void *ctx, const struct dd_jrec *r, const uint8_t *p, size_t n);

/*
 * Scan journal directory `dir`, calling `fn` (may be NULL) for every valid record with
 * lsn >= from_lsn. Segments that end before from_lsn are skipped unread (so unchecked: verify with
 * from_lsn 0 or 1). Returns 0 when the journal was read to its end (check s->torn and s->corrupt:
 * a corrupt journal is reported, not an error of the scan itself; err then describes it, and is
 * empty for a clean journal), -ENOENT if `dir` does not exist, -EPROTO if a segment has another
 * major version, another -errno for I/O errors, or what `fn` returned; with a message in err.
 * Reads with pread in 1 MiB chunks (one buffer, malloc'd per scan); skips holes with SEEK_DATA.
 */
int dd_jscan_dir(const char *dir, uint64_t from_lsn, dd_jrec_fn fn, void *ctx, struct dd_jscan *s, char *err,
		 size_t errlen);

/*
 * Cut a torn tail found by dd_jscan_dir(): zero the bytes of the last segment from s->end_offset
 * to its last non-zero byte (a segment cut short: to its end, then extend it back to its header's
 * segment_size), and fsync. Does nothing (returns 0) if s is not torn; -EINVAL if s is
 * corrupt (corruption is never cut automatically). Returns 0 or -errno with a message.
 */
int dd_jtruncate_tail(const struct dd_jscan *s, char *err, size_t errlen);

/* ---- snapshots -------------------------------------------------------------------------------- */

/*
 * Snapshot file: a header (magic DD_J_SNAP_MAGIC, version, covered LSN, number of sections),
 * then sections (u32 tag, u32 flags, u64 length, bytes, padded to 8), then a trailer with the
 * CRC32C of everything before it. Written to a temporary name, fsynced, renamed into place, and
 * the directory fsynced: a snapshot either exists whole or not at all. Little-endian:
 *   offset 0   u64 magic, u16 major (DD_J_SNAP_MAJOR), u16 minor, u32 nsections, u64 lsn,
 *              u64 file_size (the whole file, trailer included)
 *   offset 32  nsections x { u32 tag, u32 flags (0), u64 len, len bytes, zeros to a multiple of 8 }
 *   end - 8    u32 crc (CRC32C of every byte before the trailer), u32 zero
 * A reader accepts any minor version and rejects another major.
 */
struct dd_jsnap_writer;

/* Start snapshot `lsn` in `dir` (file snap-<lsn>.dds.tmp until dd_jsnap_end). Returns 0 or -errno
 * with a message. */
int dd_jsnap_begin(struct dd_jsnap_writer **w, const char *dir, uint64_t lsn, char *err, size_t errlen);
/* Append a section (`p` may be NULL when `n` is 0). Returns 0, -ENOSPC after
 * DD_J_SNAP_MAX_SECTIONS sections, or the -errno of a failed write; an error sticks and makes
 * dd_jsnap_end fail (and remove the temporary file). */
int dd_jsnap_section(struct dd_jsnap_writer *w, uint32_t tag, const void *p, size_t n);
/* Finish (header, trailer, fsync, rename, fsync the directory) or, with ok = false, abandon (the
 * temporary file is removed; returns 0). Frees `w` in every case. Returns 0 or -errno with a
 * message (the temporary file is then removed too). */
int dd_jsnap_end(struct dd_jsnap_writer *w, bool ok, char *err, size_t errlen);

/*
 * The newest valid snapshot in `dir` with LSN <= max_lsn: its LSN and its sections read into
 * memory (free with dd_jsnap_free). Invalid snapshot files (short, bad CRC, bad header, name and
 * LSN disagreeing, unreadable) are skipped, and the next older one tried; they are counted in *bad
 * with the first reason in err. Returns 0 (found), -ENOENT (none, or no directory; err says which
 * and why) or -errno (-ENOMEM). On failure *snap is zeroed, so dd_jsnap_free() is always safe.
 */
struct dd_jsnap {
	uint64_t lsn;
	unsigned nsections;
	struct { uint32_t tag; uint64_t len; const uint8_t *p; } section[DD_J_SNAP_MAX_SECTIONS];
	uint8_t *mem;
};
int dd_jsnap_load(const char *dir, uint64_t max_lsn, struct dd_jsnap *snap, unsigned *bad, char *err,
		  size_t errlen);
void dd_jsnap_free(struct dd_jsnap *snap);

#endif /* DD_DATAPLANE_JFILE_H */
