/* The cpu backend's ISA paths for the architecture this build targets, best
 * first, and how each is detected at run time. Every path computes the
 * canonical order of cpu.h, so any of them gives the same bits; the choice
 * is only speed. A new architecture adds its kernels here and in CMake. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/cpu/cpu_api.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <sys/prctl.h>
#endif

typedef struct {
    const char *name;
    const cpu_kernels *kern;
    const cpu_vec *vec;
    int (*usable)(void);
} cpu_isa;

static int always(void) { return 1; }

#if defined(__x86_64__)
static int x86_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}
/* VDPBF16PS and the byte permutes of the BF16 FP8 tile (kern_avx512bf16.c) */
static int x86_avx512bf16(void) {
    return x86_avx512() && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi");
}
static int x86_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static const cpu_isa isas[] = {
    {"avx512bf16", &cpu_kernels_avx512bf16, &cpu_vec_avx512, x86_avx512bf16},
    {"avx512", &cpu_kernels_avx512, &cpu_vec_avx512, x86_avx512},
    {"avx2", &cpu_kernels_avx2, &cpu_vec_avx2, x86_avx2},
    {"scalar", &cpu_kernels_scalar, &cpu_vec_scalar, always},
};
#elif defined(__aarch64__)
/* Linux reports the features in the aux vector (the bits are the kernel's
 * ABI, spelled out so older headers build too). */
#define HWCAP_ASIMD_BIT (1ul << 1)
#define HWCAP_ASIMDHP_BIT (1ul << 10)
#define HWCAP_ASIMDFHM_BIT (1ul << 23)
#define HWCAP_SVE_BIT (1ul << 22)
static unsigned long hwcap(void) {
#ifdef __linux__
    return getauxval(AT_HWCAP);
#else
    return 0;
#endif
}
/* AdvSIMD is part of every ARMv8-A Linux system; FCVTL (fp16 -> fp32) with it. */
static int arm_neon(void) { return (hwcap() & HWCAP_ASIMD_BIT) != 0; }
/* ARMv8.2-A FP16 arithmetic and FMLAL (FEAT_FHM), as Kunpeng 920 has */
static int arm_asimdfhm(void) {
    unsigned long need = HWCAP_ASIMD_BIT | HWCAP_ASIMDHP_BIT | HWCAP_ASIMDFHM_BIT;
    return (hwcap() & need) == need;
}
/* The SVE path is written for 256-bit vectors (two registers hold the 16
 * canonical lanes); other lengths take the NEON paths. */
static int arm_sve256(void) {
#ifdef __linux__
    if (!(hwcap() & HWCAP_SVE_BIT)) return 0;
    int vl = prctl(51 /* PR_SVE_GET_VL */);
    return vl >= 0 && (vl & 0xffff) == 32;
#else
    return 0;
#endif
}
static const cpu_isa isas[] = {
    {"sve256", &cpu_kernels_sve256, &cpu_vec_sve256, arm_sve256},
    {"asimdfhm", &cpu_kernels_asimdfhm, &cpu_vec_neon, arm_asimdfhm},
    {"neon", &cpu_kernels_neon, &cpu_vec_neon, arm_neon},
    {"scalar", &cpu_kernels_scalar, &cpu_vec_scalar, always},
};
#else
static const cpu_isa isas[] = {
    {"scalar", &cpu_kernels_scalar, &cpu_vec_scalar, always},
};
#endif

#define N_ISAS ((int)(sizeof isas / sizeof isas[0]))

static const cpu_isa *find(const char *name) {
    for (int i = 0; name && i < N_ISAS; i++)
        if (!strcmp(isas[i].name, name)) return &isas[i];
    return NULL;
}

int ld_cpu_isa_count(void) { return N_ISAS; }

const char *ld_cpu_isa_at(int i) { return i >= 0 && i < N_ISAS ? isas[i].name : NULL; }

static char isa_list[128];

static void list_once(void) {
    size_t n = 0;
    for (int i = 0; i < N_ISAS; i++)
        n += (size_t)snprintf(isa_list + n, sizeof isa_list - n, "%s%s", i ? ", " : "", isas[i].name);
}

const char *ld_cpu_isa_list(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, list_once);
    return isa_list;
}

int ld_cpu_isa_known(const char *name) { return find(name) != NULL; }

int ld_cpu_isa_usable(const char *name) {
    const cpu_isa *p = find(name);
    return p && p->usable();
}

const char *ld_cpu_best_isa(void) {
    for (int i = 0; i < N_ISAS; i++)
        if (isas[i].usable()) return isas[i].name;
    return "scalar";
}

int cpu_isa_lookup(const char *name, const cpu_kernels **kern, const cpu_vec **vec) {
    const cpu_isa *p = find(name);
    if (!p) return -1;
    *kern = p->kern;
    *vec = p->vec;
    return 0;
}
