/* Machine rooflines measured in the same run as a benchmark: sustained read
 * bandwidth (a STREAM-like read of a buffer far larger than the caches) and
 * peak fp32 FMA throughput (independent register-resident FMA chains). */
#ifndef LADDER_BENCH_ROOFLINE_H
#define LADDER_BENCH_ROOFLINE_H

/* Bytes per second; best of several passes over `bytes` with `threads` threads. */
double ld_measure_read_bw(int threads, size_t bytes);
/* Seconds of one plain read of buf[0, bytes) split over `threads` threads
 * (buf 64-byte aligned): the reference a kernel streaming the same bytes is
 * timed against, pass for pass, so both see the same memory conditions. */
double ld_read_pass(const void *buf, size_t bytes, int threads);
/* Seconds a plain read of `bytes` takes, as passes over buf[0, cap) (a
 * buffer far larger than the caches can stand in for any amount): the
 * passes' time scaled to exactly `bytes`. */
double ld_read_bytes(const void *buf, size_t cap, double bytes, int threads);
/* The buffer size ld_read_bytes users allocate at most. */
#define LD_READ_CAP ((size_t)1 << 30)
/* fp32 FLOP per second (an FMA counts 2) with `threads` threads; *isa gets the path used. */
double ld_measure_peak_fma(int threads, const char **isa);

#endif
