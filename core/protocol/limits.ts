/**
 * Every size and count the wire protocol accepts, shared by client, server and relay so
 * both ends agree on what "too big" means. A frame over a limit gets an error reply; the
 * WebSocket layer itself drops anything over WS_MAX_PAYLOAD (close code 1009).
 */

/** Largest share data one `write` (or one mutable write vector) may carry. */
export const MAX_WRITE_BYTES = 1024 * 1024;
/** Largest `read` one request may ask for (the reply is about this big). */
export const MAX_READ_BYTES = 1024 * 1024;
/**
 * Largest range an `mreadv` may ask of every mutable share at once: its reply (up to
 * MAX_SHARES ranges) stays within one read's size.
 */
export const MAX_READV_BYTES = MAX_READ_BYTES / 256;
/** Room for the CBOR envelope around a full-size write or read. */
export const FRAME_OVERHEAD = 16 * 1024;
/** Largest protocol frame either end accepts. */
export const MAX_FRAME_BYTES = MAX_WRITE_BYTES + FRAME_OVERHEAD;
/**
 * The WebSocket layer's hard cap. Frames between MAX_FRAME_BYTES and this get a typed
 * error reply; frames beyond it close the connection (ws enforces it while receiving,
 * so a hostile peer cannot make us buffer more).
 */
export const WS_MAX_PAYLOAD = 2 * MAX_FRAME_BYTES;
/** Relay envelope: 1 kind byte + 4 channel bytes in front of a frame. */
export const RELAY_ENVELOPE_BYTES = 5;

/** Share numbers are 0..255 (N <= 256). */
export const MAX_SHARES = 256;
export const MAX_SHNUM = MAX_SHARES - 1;
export const STORAGE_INDEX_BYTES = 16;
export const LEASE_SECRET_BYTES = 32;
export const WRITE_ENABLER_BYTES = 32;
/** Tahoe sends 20 random bytes; we accept 16..64. */
export const MIN_UPLOAD_SECRET_BYTES = 16;
export const MAX_UPLOAD_SECRET_BYTES = 64;
export const HANDSHAKE_CHALLENGE_BYTES = 32;

/** Largest immutable share a server will allocate (a 1 TiB file at k=3 is ~350 GiB/share). */
export const MAX_IMMUTABLE_SHARE_BYTES = 2 ** 45;
/** Largest mutable share (data part). */
export const MAX_MUTABLE_SHARE_BYTES = 2 ** 32;
/** Largest offset a request may name: keeps arithmetic exact in doubles. */
export const MAX_OFFSET = 2 ** 48;

/** Test/write/read vector counts in one read-test-write. */
export const MAX_VECTORS = 64;
/** Text the client may send with a corruption advisory (Tahoe allows 32765). */
export const MAX_REASON_CHARS = 32765;
export const MAX_NICKNAME_CHARS = 64;
export const MAX_URL_CHARS = 512;

/** Requests one connection may have outstanding at a server; the client stays below it. */
export const MAX_IN_FLIGHT_REQUESTS = 256;
/** Request bytes a client keeps in flight per connection before waiting (back-pressure). */
export const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;
/**
 * Immutable uploads (allocated buckets, not yet closed or aborted) one connection may hold
 * at a server: two files' worth of 256 shares. Beyond it `allocate` fails with UNAVAILABLE.
 */
export const MAX_PENDING_UPLOADS_PER_CONNECTION = 512;
/**
 * Shares one `put` request may carry, all its files together: half the connection's pending
 * uploads, so two puts in flight fit beside each other.
 */
export const MAX_PUT_SHARES = 256;
/**
 * Separate byte ranges one bucket may hold while it is written (an honest client writes in
 * order and leaves a handful of gaps at most). A write that would leave more is refused.
 */
export const MAX_BUCKET_RANGES = 4096;
/** Ranges an allocate result reports per share (`have`); a server holding more reports the first ones. */
export const MAX_HAVE_RANGES = 64;

/** A signed announcement's size and lifetime. */
export const MAX_ANNOUNCEMENT_BYTES = 4096;
export const ANNOUNCEMENT_LIFETIME_MS = 10 * 60 * 1000;
/**
 * How far a server's clock may be from the relay's. The relay accepts an announcement only
 * while `expires` lies within (now - skew, now + lifetime + skew]: a replayed announcement
 * goes stale with its `expires`, so the skew is all the grace a copy ever gets.
 */
export const ANNOUNCEMENT_CLOCK_SKEW_MS = 60 * 1000;
/** Largest server list a client decodes (a relay lists far fewer: DEFAULT_MAX_LISTED_SERVERS). */
export const MAX_GRID_SERVERS = 4096;
/**
 * Servers a relay lists unless told otherwise (`cairn relay --max-servers N`). Anyone can
 * make a key and announce it, so the list is bounded; admission is a grid manager's job.
 */
export const DEFAULT_MAX_LISTED_SERVERS = 300;
