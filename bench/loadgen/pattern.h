/* pattern.h - the bytes loadgen sends, so that every byte that comes back
 * can be checked.
 *
 * Byte k of a connection's stream is pattern[(base + k) % PATTERN_PERIOD]:
 * the value depends on the position, so a lost, duplicated, reordered or
 * changed byte shows up as a mismatch.  Neighbouring bytes always differ,
 * which makes a single dropped or doubled byte fail at that very offset.
 * The period is a prime, so no message size lines up with it, and every
 * connection starts at its own offset, so replies crossed between
 * connections are caught too. */
#ifndef LOADGEN_PATTERN_H
#define LOADGEN_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define PATTERN_PERIOD 65521u

/* Twice the period long: any PATTERN_PERIOD bytes from pattern_at() are
 * contiguous, so send() and memcmp() work on it without copying. */
extern unsigned char pattern[2 * PATTERN_PERIOD];

void pattern_init(void);

static inline const unsigned char *pattern_at(uint64_t offset)
{
	return pattern + offset % PATTERN_PERIOD;
}

/* Where a connection's stream starts in the pattern. */
static inline uint64_t pattern_base(uint64_t conn_id, uint64_t use)
{
	return (conn_id * 7919u + use * 104729u) % PATTERN_PERIOD;
}

/* Index of the first byte of buf[0..len) that differs from the pattern at
 * offset, or len if all match. */
size_t pattern_check(const unsigned char *buf, size_t len, uint64_t offset);

#endif
