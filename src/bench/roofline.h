/* Machine rooflines measured in the same run as a benchmark: sustained read
 * bandwidth (a STREAM-like read of a buffer far larger than the caches) and
 * peak fp32 FMA throughput (independent register-resident FMA chains). */
#ifndef LADDER_BENCH_ROOFLINE_H
#define LADDER_BENCH_ROOFLINE_H

/* Bytes per second; best of several passes over `bytes` with `threads` threads. */
double ld_measure_read_bw(int threads, size_t bytes);
/* fp32 FLOP per second (an FMA counts 2) with `threads` threads; *isa gets the path used. */
double ld_measure_peak_fma(int threads, const char **isa);

#endif
