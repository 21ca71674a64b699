/* pattern.c - the verification pattern; see pattern.h. */
#include "pattern.h"

#include <string.h>

unsigned char pattern[2 * PATTERN_PERIOD];

/* xorshift: any fixed pseudo-random sequence will do; it only has to look
 * unlike anything a buggy server could produce by accident (zeros, our
 * own earlier bytes, another connection's bytes). */
void pattern_init(void)
{
	uint32_t x = 2463534242u;
	for (unsigned i = 0; i < PATTERN_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		unsigned char b = (unsigned char)(x >> 24);
		if (i > 0 && b == pattern[i - 1])
			b++;                    /* neighbours must differ */
		pattern[i] = b;
	}
	/* The wrap-around neighbours too: last byte vs first byte. */
	if (pattern[PATTERN_PERIOD - 1] == pattern[0])
		pattern[PATTERN_PERIOD - 1] = (unsigned char)(pattern[0] + 1);
	if (pattern[PATTERN_PERIOD - 1] == pattern[PATTERN_PERIOD - 2])
		pattern[PATTERN_PERIOD - 1] = (unsigned char)(pattern[0] + 2);
	memcpy(pattern + PATTERN_PERIOD, pattern, PATTERN_PERIOD);
}

size_t pattern_check(const unsigned char *buf, size_t len, uint64_t offset)
{
	size_t done = 0;
	while (done < len) {
		size_t chunk = len - done;
		if (chunk > PATTERN_PERIOD)
			chunk = PATTERN_PERIOD;
		const unsigned char *want = pattern_at(offset + done);
		if (memcmp(buf + done, want, chunk) != 0) {
			for (size_t i = 0; i < chunk; i++)
				if (buf[done + i] != want[i])
					return done + i;
		}
		done += chunk;
	}
	return len;
}
