/* fuzz_util.h — what the libFuzzer harnesses of tests/fuzz share.
 *
 * tern's readers take paths, so a harness writes the fuzzed bytes to files in
 * a private directory (under /dev/shm when there is one: no disk traffic)
 * made once per process and reused by every input.
 *
 * tern's HDF5 files (training and deploy checkpoints) start with a 512-byte
 * header carrying the file's size and the CRC-32 of the rest, checked before
 * HDF5 parses a byte; random mutations almost never keep the CRC right, so
 * the checkpoint harnesses take one mode byte before the file:
 *   even: the file as fuzzed (tests the header check itself);
 *   odd:  the header's "bytes N\ncrc32 X\n" lines rewritten to match the
 *         fuzzed body, so HDF5's parser and tern's readers see the damage.
 * The seed corpora use the odd mode; libFuzzer flips the byte too.
 *
 * TERN_FUZZ_VERBOSE=1 in the environment prints each call's status and
 * message (fuzz_said), to see how far an input gets. */
#ifndef TERN_FUZZ_UTIL_H
#define TERN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include <zlib.h>

#include "tern/status.h"

#define FUZZ_HEADER_BYTES 512

/* st, after printing what `call` returned when TERN_FUZZ_VERBOSE is set. */
static inline tern_status fuzz_said(const char *call, tern_status st) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("TERN_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "%s: %s%s%s\n", call, tern_status_name(st), st ? ": " : "", st ? tern_errmsg() : "");
    return st;
}

/* The harness's private directory, made on first use. */
static inline const char *fuzz_dir(void) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/tern-fuzz-XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* Write data[0..n) to <fuzz_dir>/name; path receives the full path. */
static inline void fuzz_write(const char *name, const uint8_t *data, size_t n, char *path, size_t len) {
    snprintf(path, len, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) abort();
}

/* The first occurrence of needle[0..m) in hay[from..n), or n. */
static inline size_t fuzz_find(const uint8_t *hay, size_t n, size_t from, const void *needle, size_t m) {
    for (size_t i = from; i + m <= n; i++)
        if (!memcmp(hay + i, needle, m)) return i;
    return n;
}

/* Abort when an HDF5 object (file, group, dataset, attribute, type, space)
 * is still open after a tern call returned: a leak LeakSanitizer cannot see,
 * since HDF5 keeps the object reachable. */
static inline void fuzz_h5_closed(const char *call) {
    ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open != 0) {
        fprintf(stderr, "%s left %zd HDF5 objects open\n", call, open);
        abort();
    }
}

/* Write a tern HDF5 file from a fuzz input (mode byte, then the file) to
 * <fuzz_dir>/name, fixing its header in the odd mode as the overview says. */
static inline void fuzz_write_h5(const char *name, const uint8_t *data, size_t size, char *path, size_t len) {
    if (!size) {
        fuzz_write(name, data, 0, path, len);
        return;
    }
    int fix = data[0] & 1;
    data++, size--;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    size_t at = size >= FUZZ_HEADER_BYTES ? fuzz_find(buf, FUZZ_HEADER_BYTES, 0, "bytes ", 6) : FUZZ_HEADER_BYTES;
    if (fix && at < FUZZ_HEADER_BYTES) {
        unsigned long crc = crc32(crc32(0L, Z_NULL, 0), buf + FUZZ_HEADER_BYTES, (uInt)(size - FUZZ_HEADER_BYTES));
        char line[64];
        int k = snprintf(line, sizeof line, "bytes %zu\ncrc32 %08lx\n", size, crc);
        memset(buf + at, 0, FUZZ_HEADER_BYTES - at);
        memcpy(buf + at, line, (size_t)k < FUZZ_HEADER_BYTES - at ? (size_t)k : FUZZ_HEADER_BYTES - at);
    }
    fuzz_write(name, buf, size, path, len);
    free(buf);
}

#endif
