/* Replays the committed request corpus through the fuzz entry point (every
 * build; libFuzzer only with LADDER_FUZZ). usage: replay_request DIR... */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_request.h"

int main(int argc, char **argv) {
    int n = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) { fprintf(stderr, "cannot open %s\n", argv[a]); return 1; }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f) continue;
            static uint8_t buf[1 << 20];
            size_t len = fread(buf, 1, sizeof buf, f);
            fclose(f);
            ld_fuzz_request(buf, len);
            n++;
        }
        closedir(d);
    }
    printf("replayed %d requests\n", n);
    return n ? 0 : 1;
}
