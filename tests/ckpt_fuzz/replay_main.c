/* Replays a committed corpus through the fuzz entry points without libFuzzer,
 * so every build checks that the seeds (and any crash reproducers added
 * later) are handled.
 * Usage: ckpt_fuzz_replay (safetensors|config|gen_config) DIR_OR_FILE... [(safetensors|config|gen_config) ...] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_entry.h"

typedef int (*entry_fn)(const uint8_t *, size_t);

static int replay_file(entry_fn fn, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return -1; }
    size_t cap = 1024, n = 0, r;
    uint8_t *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "out of memory reading %s\n", path); return -1; }
    fn(buf, n);
    free(buf);
    return 1;
}

static int replay_path(entry_fn fn, const char *path) {
    struct stat st;
    if (stat(path, &st)) { fprintf(stderr, "cannot stat %s\n", path); return -1; }
    if (!S_ISDIR(st.st_mode)) return replay_file(fn, path);
    DIR *d = opendir(path);
    if (!d) { fprintf(stderr, "cannot list %s\n", path); return -1; }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        int r = replay_path(fn, p);
        if (r < 0) { closedir(d); return -1; }
        count += r;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv) {
    entry_fn fn = NULL;
    int total = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "safetensors")) { fn = ld_fuzz_safetensors; continue; }
        if (!strcmp(argv[i], "config")) { fn = ld_fuzz_config; continue; }
        if (!strcmp(argv[i], "gen_config")) { fn = ld_fuzz_gen_config; continue; }
        if (!fn) { fprintf(stderr, "usage: %s (safetensors|config|gen_config) PATH...\n", argv[0]); return 2; }
        int r = replay_path(fn, argv[i]);
        if (r < 0) return 1;
        total += r;
    }
    printf("replayed %d inputs\n", total);
    /* an empty corpus means the paths are wrong, not that all is well */
    return total > 0 ? 0 : 1;
}
