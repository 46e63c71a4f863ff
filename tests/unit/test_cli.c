/* The ladder binary end to end on a synthetic checkpoint: synth is
 * deterministic and independent of sharding, the written checkpoint loads,
 * `logits` follows its contract (row i = after forced token i-1), and bad
 * command lines fail with one clear line. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *bin;
static char tmp[4096];

static int sh(const char *fmt, const char *a, const char *b, char **out) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return test_run(cmd, out);
}

static int lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

int main(void) {
    bin = getenv("LADDER_BIN");
    if (!bin) { printf("SKIP: LADDER_BIN not set\n"); return 77; }
    snprintf(tmp, sizeof tmp, "%s/cli", test_tmp_dir());
    char cmd[16384], *out = NULL;
    int rc;
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", tmp, tmp);
    CHECK(system(cmd) == 0, "mkdir");

    /* determinism and shard independence */
    CHECK(sh("%s synth --preset tiny --seed 5 -o %s/a 2>/dev/null", bin, tmp, NULL) == 0, "synth a");
    CHECK(sh("%s synth --preset tiny --seed 5 --shard-gb 0.002 -o %s/b 2>/dev/null", bin, tmp, NULL) == 0, "synth b");
    CHECK(sh("%s synth --preset tiny --seed 6 -o %s/c 2>/dev/null", bin, tmp, NULL) == 0, "synth c");
    snprintf(cmd, sizeof cmd, "ls %s/b/*.safetensors | wc -l", tmp);
    test_run(cmd, &out);
    CHECK(out && atoi(out) > 1, "small --shard-gb did not shard (%s)", out ? out : "");
    free(out);
    /* same seed: identical config and identical logits whatever the sharding */
    snprintf(cmd, sizeof cmd, "cmp -s %s/a/config.json %s/b/config.json", tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "config differs between shardings");
    snprintf(cmd, sizeof cmd, "printf '\\000\\000\\000\\000\\007\\000\\000\\000\\011\\000\\000\\000' > %s/p.i32 && "
                              "printf '\\003\\000\\000\\000\\004\\000\\000\\000' > %s/f.i32", tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "write ids");
    const char *dirs[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s logits -m %s/%s --prompt-ids %s/p.i32 --forced-ids %s/f.i32 -o %s/%s.f32", bin,
                 tmp, dirs[i], tmp, tmp, tmp, dirs[i]);
        CHECK(test_run(cmd, NULL) == 0, "logits on %s", dirs[i]);
    }
    size_t na = 0, nb = 0, nc = 0;
    float *la = test_read_file((snprintf(cmd, sizeof cmd, "%s/a.f32", tmp), cmd), &na);
    float *lb = test_read_file((snprintf(cmd, sizeof cmd, "%s/b.f32", tmp), cmd), &nb);
    float *lc = test_read_file((snprintf(cmd, sizeof cmd, "%s/c.f32", tmp), cmd), &nc);
    CHECK(na == 3 * 1024 * 4, "logits file has %zu bytes, want 3 rows of 1024 floats", na);
    CHECK(na == nb && la && lb && !memcmp(la, lb, na), "same seed, different sharding: logits differ");
    CHECK(na == nc && la && lc && memcmp(la, lc, na), "different seeds gave identical logits");

    /* contract: row 1 = logits after feeding forced token 0 = prompt+[3] prefilled, last row */
    snprintf(cmd, sizeof cmd, "printf '\\000\\000\\000\\000\\007\\000\\000\\000\\011\\000\\000\\000\\003\\000\\000\\000' > %s/p4.i32 && "
                              "%s logits -m %s/a --prompt-ids %s/p4.i32 -o %s/p4.f32", tmp, bin, tmp, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "logits p4");
    size_t n4 = 0;
    float *l4 = test_read_file((snprintf(cmd, sizeof cmd, "%s/p4.f32", tmp), cmd), &n4);
    CHECK(l4 && n4 == 1024 * 4 && la && !memcmp(l4, la + 1024, n4), "row 1 is not the logits after forced token 0");
    free(la); free(lb); free(lc); free(l4);

    /* info and generate run */
    CHECK(sh("%s info -m %s/a > /dev/null", bin, tmp, NULL) == 0, "info");
    snprintf(cmd, sizeof cmd, "%s generate -m %s/a --prompt-ids %s/p.i32 -n 5 --temperature 0 2>/dev/null", bin, tmp, tmp);
    CHECK(test_run(cmd, &out) == 0, "generate failed");
    int toks = 0;
    for (char *p = strtok(out, " \n"); p; p = strtok(NULL, " \n")) toks++;
    CHECK(toks == 5, "generate printed %d ids, want 5", toks);
    free(out);

    /* generate gives the same ids with the weights mapped and copied into memory */
    char *ids_mem = NULL, *ids_map = NULL;
    snprintf(cmd, sizeof cmd, "%s generate -m %s/a --prompt-ids %s/p.i32 -n 5 --temperature 0 --backend cpu 2>/dev/null", bin, tmp, tmp);
    CHECK(test_run(cmd, &ids_mem) == 0, "generate (cpu) failed");
    snprintf(cmd, sizeof cmd, "%s generate -m %s/a --prompt-ids %s/p.i32 -n 5 --temperature 0 --backend cpu --mmap 2>/dev/null", bin, tmp, tmp);
    CHECK(test_run(cmd, &ids_map) == 0, "generate --mmap failed");
    CHECK(ids_mem && ids_map && !strcmp(ids_mem, ids_map), "--mmap changed the tokens: '%s' vs '%s'", ids_mem ? ids_mem : "", ids_map ? ids_map : "");
    free(ids_mem);
    free(ids_map);

    /* bench runs every section on a small budget and writes its JSON */
    snprintf(cmd, sizeof cmd, "%s bench -m %s/a --threads 2 --decode 2 --contexts 16 --prefill 8 --batch 1,2 --batch-steps 2 --json %s/bench.json "
                              "--probe-history %s/probes.json 2>%s/bench.err",
             bin, tmp, tmp, tmp, tmp);
    int brc = test_run(cmd, &out);
    if (brc) {
        char errf[4200];
        snprintf(errf, sizeof errf, "%s/bench.err", tmp);
        char *err = test_read_file(errf, NULL);
        CHECK(0, "bench failed (status %d), its stderr:\n%s", brc, err ? err : "(none)");
        free(err);
    }
    CHECK(out && strstr(out, "linear    FP8  x 1 row") && strstr(out, "from cache") && strstr(out, "a plain read of as many bytes") && strstr(out, "step for step against a plain read") && strstr(out, "decode    context") && strstr(out, "prefill") &&
              strstr(out, "B =  2") && strstr(out, "weights in memory"),
          "bench output lacks a section:\n%s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "python3 -c \"import json,sys; d=json.load(open('%s/bench.json')); "
                              "sys.exit(0 if len(d['linears'])>=4 and d['decode'] and d['batched'][1]['batch']==2 and d['batched'][1]['speedup_reference']=='B=1' "
                              "and d['batched'][0]['speedup_bytes_bound']==1 and 1<d['batched'][1]['speedup_bytes_bound']<=2 "
                              "and all(0<l['cached_weight_bytes']<=min(l['weight_bytes'],4<<20) and l['cached_seconds']>0 and l['paired_read_ratio']>0 for l in d['linears']) and all(x['paired_read_ratio']>0 for x in d['decode']) else 1)\" 2>/dev/null || "
                              "! command -v python3 >/dev/null", tmp);
    CHECK(test_run(cmd, NULL) == 0, "bench JSON is not valid or lacks sections");
    /* the probe history: recorded, and a best probe far above this one makes
       every figure read as congested (not counting) */
    snprintf(cmd, sizeof cmd, "grep -q read_bw_best_Bps %s/probes.json && printf '%s' > %s/probes.json", tmp,
             "{\"read_bw_best_Bps\": {\"1\": 1e15, \"2\": 1e15}}", tmp);
    CHECK(test_run(cmd, NULL) == 0, "bench did not record its probe in the history");
    snprintf(cmd, sizeof cmd, "%s bench -m %s/a --threads 2 --decode 2 --contexts 16 --prefill 8 --batch 1 --batch-steps 2 "
                              "--probe-history %s/probes.json 2>/dev/null", bin, tmp, tmp);
    CHECK(test_run(cmd, &out) == 0 && out && strstr(out, "congested, does not count") && strstr(out, "1000000.00 GB/s"),
          "bench against a far better recorded probe:\n%s", out ? out : "");
    free(out);

    /* bad command lines: non-zero exit, exactly one line on stderr, no crash */
    const char *bad[] = {
        "%s logits -m %s/missing --prompt-ids /dev/null -o /dev/null",
        "%s logits -m %s/a -o /dev/null",
        "%s logits -m %s/a --prompt-ids /nonexistent -o /dev/null",
        "%s logits -m %s/a --prompt-ids /dev/null -o /dev/null",
        "%s logits -m %s/a --prompt-ids %s/p.i32 --backend nosuch -o /dev/null",
        "%s synth --preset nosuch --seed 1 -o %s/x",
        "%s synth --preset tiny -o %s/x",
        "%s synth --preset tiny --seed -3 -o %s/x",
        "%s generate -m %s/a --prompt-ids %s/p.i32 --top-p 0",
        "%s generate -m %s/a --bogus",
        "%s generate -m %s/a -p hello",
        "%s generate -m %s/a -p hello --prompt-ids %s/p.i32",
        "%s info",
        "%s bench -m %s/a --batch 0x",
        "%s bench",
        "%s nosuchcommand %s",
        "%s logits -m %s/a --prompt-ids %s/p.i32 --weights int3",
        "%s logits -m %s/a --prompt-ids %s/p.i32 --weights",
        "%s logits -m %s/a --prompt-ids %s/p.i32 -b ref:int3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char c2[8192];
        snprintf(c2, sizeof c2, bad[i], bin, tmp, tmp);
        snprintf(cmd, sizeof cmd, "%s 2>&1 >/dev/null", c2);
        int rc = test_run(cmd, &out);
        CHECK(rc > 0 && rc < 128, "'%s' exited %d", c2, rc);
        if (strstr(bad[i], "nosuchcommand") == NULL)
            CHECK(lines(out) == 1 && strstr(out, "error"), "'%s' printed:\n%s", c2, out ? out : "");
        free(out);
    }
    /* the engine picks the default backend; ref only on request */
    snprintf(cmd, sizeof cmd, "%s generate -m %s/a --prompt-ids %s/p.i32 -n 2 2>&1 >/dev/null", bin, tmp, tmp);
    CHECK(test_run(cmd, &out) == 0 && out && strstr(out, "backend cpu"), "generate default backend: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s generate -m %s/a --prompt-ids %s/p.i32 -n 2 -b ref 2>&1 >/dev/null", bin, tmp, tmp);
    CHECK(test_run(cmd, &out) == 0 && out && strstr(out, "backend ref"), "generate -b ref: %s", out ? out : "");
    free(out);
    /* --weights bf16 (anywhere on the line) changes the numbers; -b NAME:PATH is the same path */
    snprintf(cmd, sizeof cmd, "%s logits -m %s/a --prompt-ids %s/p.i32 -b ref -o %s/n.f32 && "
                              "%s logits --weights bf16 -m %s/a --prompt-ids %s/p.i32 -b ref -o %s/b.f32 && "
                              "%s logits -m %s/a --prompt-ids %s/p.i32 -b ref:bf16 -o %s/b2.f32 && "
                              "cmp -s %s/b.f32 %s/b2.f32 && ! cmp -s %s/n.f32 %s/b.f32",
             bin, tmp, tmp, tmp, bin, tmp, tmp, tmp, bin, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "--weights bf16 / -b ref:bf16: same logits as each other, not as native");
    /* w8a8 likewise, and its cpu logits do not depend on the ISA path or the threads (integer kernels) */
    snprintf(cmd, sizeof cmd, "%s logits --weights w8a8 -m %s/a --prompt-ids %s/p.i32 -b ref -o %s/w.f32 && "
                              "%s logits -m %s/a --prompt-ids %s/p.i32 -b ref:w8a8 -o %s/w2.f32 && "
                              "cmp -s %s/w.f32 %s/w2.f32 && ! cmp -s %s/n.f32 %s/w.f32 && ! cmp -s %s/b.f32 %s/w.f32 && "
                              "LADDER_CPU_ISA=scalar LADDER_THREADS=1 %s logits -m %s/a --prompt-ids %s/p.i32 --weights w8a8 "
                              "-o %s/ws.f32 && %s logits -m %s/a --prompt-ids %s/p.i32 -b cpu:w8a8 -o %s/wd.f32 && "
                              "cmp -s %s/ws.f32 %s/wd.f32",
             bin, tmp, tmp, tmp, bin, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp, bin, tmp, tmp, tmp, bin, tmp, tmp, tmp,
             tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "--weights w8a8 / -b ref:w8a8 / cpu paths: logits not as expected");
    snprintf(cmd, sizeof cmd, "%s info -m %s/a --weights w8a4 2>&1 >/dev/null", bin, tmp);
    CHECK(test_run(cmd, &out) == 2 && out && strstr(out, "native, bf16, w8a8"), "--weights w8a4: %s", out ? out : "");
    free(out);
    /* logits: the default (cpu) and ref agree on the contract's shape, and each is deterministic */
    snprintf(cmd, sizeof cmd, "%s logits -m %s/a --prompt-ids %s/p.i32 -b ref -o %s/r.f32 && "
                              "LADDER_CPU_ISA=scalar LADDER_THREADS=1 %s logits -m %s/a --prompt-ids %s/p.i32 -o %s/s.f32 && "
                              "%s logits -m %s/a --prompt-ids %s/p.i32 -o %s/d.f32 && cmp -s %s/s.f32 %s/d.f32",
             bin, tmp, tmp, tmp, bin, tmp, tmp, tmp, bin, tmp, tmp, tmp, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "cpu logits depend on the ISA path or thread count");
    /* the environment's cpu settings are checked strictly, for every command */
    const char *bad_env[] = {"LADDER_THREADS=abc", "LADDER_THREADS=-1", "LADDER_THREADS=-3", "LADDER_THREADS=1.5",
                             "LADDER_THREADS=2x", "LADDER_THREADS=100000", "LADDER_CPU_ISA=sse9"};
    for (size_t i = 0; i < sizeof bad_env / sizeof bad_env[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s info -m %s/a 2>&1 >/dev/null", bad_env[i], bin, tmp);
        int erc = test_run(cmd, &out);
        CHECK(erc == 2 && lines(out) == 1 && strstr(out, "error") && strstr(out, "LADDER_"), "%s: rc %d, %s", bad_env[i], erc,
              out ? out : "");
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s logits -m %s/a --prompt-ids %s/p.i32 -b nosuch -o /dev/null 2>&1", bin, tmp, tmp);
    CHECK(test_run(cmd, &out) == 1 && out && strstr(out, "unknown backend 'nosuch'"), "bad backend: %s", out ? out : "");
    free(out);

    /* outputs are atomic: a write that fails midway (file size limit) leaves the old file whole */
    snprintf(cmd, sizeof cmd, "printf OLD > %s/old.f32 && sh -c 'ulimit -f 4; trap \"\" XFSZ; exec %s logits -m %s/a --prompt-ids %s/p.i32 "
                              "--forced-ids %s/f.i32 -o %s/old.f32' 2>&1", tmp, bin, tmp, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "write failed"), "logits past the size limit: rc %d, %s", rc, out ? out : "");
    free(out);
    char *old = test_read_file((snprintf(cmd, sizeof cmd, "%s/old.f32", tmp), cmd), NULL);
    CHECK(old && !strcmp(old, "OLD"), "a failed logits -o left '%.20s', not the old file", old ? old : "(nothing)");
    free(old);
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", tmp);
    test_run(cmd, &out);
    CHECK(out && atoi(out) == 0, "a failed write left %s temporary file(s)", out ? out : "?");
    free(out);
    snprintf(cmd, sizeof cmd, "printf OLD > %s/old.json && sh -c 'ulimit -f 1; trap \"\" XFSZ; exec %s conform --quick --op rmsnorm --json %s/old.json' 2>&1",
             tmp, bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "write"), "conform --json past the size limit: rc %d, %s", rc, out ? out : "");
    free(out);
    old = test_read_file((snprintf(cmd, sizeof cmd, "%s/old.json", tmp), cmd), NULL);
    CHECK(old && !strcmp(old, "OLD"), "a failed conform --json left '%.20s', not the old file", old ? old : "(nothing)");
    free(old);
    /* the output path is checked before the engine is opened (the model is missing too: that error would come first) */
    snprintf(cmd, sizeof cmd, "%s logits -m %s/missing --prompt-ids %s/p.i32 -o %s/nodir/x.f32 2>&1", bin, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "-o ") && strstr(out, "nodir"), "logits -o into a missing directory: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s logits -m %s/a --prompt-ids %s/p.i32 -o %s 2>&1", bin, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "is a directory"), "logits -o DIR: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s conform --quick --op rmsnorm --json %s/nodir/c.json 2>&1", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && !strstr(out, "passed") && strstr(out, "nodir"), "conform --json into a missing directory ran first: %s", out ? out : "");
    free(out);

    /* a run that checked nothing fails */
    snprintf(cmd, sizeof cmd, "%s conform --op 'zzz*' --quick 2>&1", bin);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "no op matches 'zzz*'"), "conform matching no op: rc %d, %s", rc, out ? out : "");
    free(out);
    /* opencl leaves some sparse_attn shapes unsupported: where it runs, those rows alone check nothing */
    snprintf(cmd, sizeof cmd, "%s conform -b opencl --op sparse_attn --quick 2>&1", bin);
    rc = test_run(cmd, &out);
    if (out && strstr(out, "N/A (not supported") && !strstr(out, "PASS"))
        CHECK(rc == 1 && strstr(out, "nothing was checked"), "conform with only unsupported rows: rc %d, %s", rc, out);
    else
        printf("note: no backend here leaves every sparse_attn row unsupported; the all-N/A case is not exercised\n");
    free(out);
    snprintf(cmd, sizeof cmd, "%s conform --quick -m %s/missing 2>&1", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && !strstr(out, "passed") && strstr(out, "missing"), "conform -m MISSING ran the ops first: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s conform --quick -m %s 2>&1", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && !strstr(out, "passed") && strstr(out, "config.json"), "conform -m on a non-checkpoint: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, ": > %s/empty.txt && %s parity -m %s/a -b ref -b cpu -n 1 --prompts %s/empty.txt 2>&1", tmp, bin, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "empty.txt has no prompts"), "parity on an empty prompt file: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "printf '3 4 5\\n7\\n' > %s/t1.txt && %s parity -m %s/a -b ref -b cpu -n 1 --prompts %s/t1.txt --text %s/t1.txt 2>&1",
             tmp, bin, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "t1.txt:2:") && !strstr(out, "perplexity"), "parity --text with a 1-token line: rc %d, %s", rc, out ? out : "");
    free(out);

    /* parse-completion: a NUL byte is refused, not a silent cut; invalid UTF-8 still gives valid JSON */
    snprintf(cmd, sizeof cmd, "printf 'hi\\000dropped<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>' | "
                              "%s parse-completion --thinking-mode chat 2>&1", bin);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "NUL byte at offset 2") && lines(out) == 1, "parse-completion with a NUL: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "printf 'a\\377\\300b\\342\\202<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>' | "
                              "%s parse-completion --thinking-mode chat > %s/pc.json && { ! command -v python3 >/dev/null || python3 -c \"import json,sys; "
                              "d=json.loads(open(sys.argv[1],'rb').read().decode('utf-8')); sys.exit(0 if d['content']=='a\\ufffd\\ufffdb\\ufffd\\ufffd' else 1)\" %s/pc.json; }",
             bin, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "parse-completion on invalid UTF-8 printed invalid JSON or UTF-8 (see %s/pc.json)", tmp);

    /* synth: a non-empty DIR needs --force; a replaced checkpoint keeps no stale shard */
    snprintf(cmd, sizeof cmd, "%s synth --preset tiny --seed 5 -o %s/b 2>&1", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "not empty") && strstr(out, "--force"), "synth into a non-empty DIR: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s synth --preset tiny --seed 5 --force -o %s/b 2>/dev/null && ls %s/b", bin, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "model.safetensors\n") && !strstr(out, "-of-") && !strstr(out, "partial"),
          "synth --force over a sharded checkpoint left:\n%s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s logits -m %s/b --prompt-ids %s/p.i32 --forced-ids %s/f.i32 -o %s/b2.f32 && cmp -s %s/a.f32 %s/b2.f32",
             bin, tmp, tmp, tmp, tmp, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "the replaced checkpoint does not load or differs");
    /* a synth killed midway (SIGXFSZ at the file size limit) leaves no DIR that demo would reuse */
    snprintf(cmd, sizeof cmd, "sh -c 'ulimit -f 200; exec %s synth --preset tiny --seed 1 -o %s/killed' 2>/dev/null; test ! -e %s/killed",
             bin, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "an interrupted synth left %s/killed", tmp);
    snprintf(cmd, sizeof cmd, "sh -c 'ulimit -f 200; trap \"\" XFSZ; exec %s synth --preset tiny --seed 1 -o %s/failed' 2>&1; "
                              "echo left: $(ls -d %s/failed* 2>/dev/null)", bin, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(out && strstr(out, "write failed") && strstr(out, "left:\n"), "a failed synth: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s demo -o %s/killed -n 2 2>&1 >/dev/null", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "synthesizing"), "demo after an interrupted synth: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "ls -d %s/killed.partial.* 2>/dev/null | wc -l", tmp);
    test_run(cmd, &out);
    CHECK(out && atoi(out) == 0, "the killed run's partial directory was not cleaned up (%s)", out ? out : "?");
    free(out);
    snprintf(cmd, sizeof cmd, "%s demo -o %s/killed -n 2 2>&1 >/dev/null", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && !strstr(out, "synthesizing"), "demo did not reuse its complete checkpoint: rc %d, %s", rc, out ? out : "");
    free(out);

    /* a thread count above the online CPUs is capped, with a note */
    snprintf(cmd, sizeof cmd, "LADDER_THREADS=4096 %s info -m %s/a 2>&1 >/dev/null", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "note: LADDER_THREADS 4096 is more than"), "LADDER_THREADS=4096: rc %d, %s", rc, out ? out : "");
    free(out);
    /* inputs: a directory or FIFO is refused by name before anything blocks; '-' is stdin */
    snprintf(cmd, sizeof cmd, "%s logits -m %s/a --prompt-ids %s -o %s/x.f32 2>&1", bin, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "is a directory"), "--prompt-ids DIR: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "rm -f %s/fifo && mkfifo %s/fifo && timeout 10 %s logits -m %s/a --prompt-ids %s/fifo -o %s/x.f32 2>&1",
             tmp, tmp, bin, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "not a regular file"), "--prompt-ids FIFO: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "timeout 10 %s tokenize -t /nonexistent --input %s/fifo 2>&1", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "not a regular file"), "tokenize --input FIFO: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s logits -m %s/a --prompt-ids - --forced-ids %s/f.i32 -o %s/stdin.f32 < %s/p.i32 && cmp -s %s/a.f32 %s/stdin.f32",
             bin, tmp, tmp, tmp, tmp, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "--prompt-ids - did not read stdin");

    /* too long for the context: refused when the session is created, before any token or allocation */
    snprintf(cmd, sizeof cmd, "%s generate -m %s/a --prompt-ids %s/p.i32 -n 5000 --temperature 0 2>%s/long.err", bin, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    char *lerr = test_read_file((snprintf(cmd, sizeof cmd, "%s/long.err", tmp), cmd), NULL);
    CHECK(rc == 1 && out && !*out && lerr && strstr(lerr, "4096") && strstr(lerr, "max_position_embeddings"),
          "-n past the context: rc %d, stdout '%.40s', stderr %s", rc, out ? out : "", lerr ? lerr : "");
    free(out);
    free(lerr);
    /* a million forced ids would need 4 GB of rows: the context check must come first */
    snprintf(cmd, sizeof cmd, "head -c 4000000 /dev/zero > %s/huge.i32 && rm -f %s/huge.f32 && %s logits -m %s/a --prompt-ids %s/p.i32 "
                              "--forced-ids %s/huge.i32 -o %s/huge.f32 2>&1; test ! -e %s/huge.f32",
             tmp, tmp, bin, tmp, tmp, tmp, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "max_position_embeddings"), "logits with a huge forced list: %s", out ? out : "");
    free(out);

    /* exit status: 2 for a bad command line in every command, 1 for an error while running */
    const char *usage_bad[] = {
        "%s logits -m %s/a --bogus", "%s logits -m", "%s info", "%s bench -m %s/a --batch 0x", "%s bench -m %s/a -t 2",
        "%s synth --preset tiny -o %s/x", "%s synth --layers 0 --preset tiny --seed 1 -o %s/x", "%s conform --seed x",
        "%s conform --ops-only --layers-only", "%s parity -m %s/a -b ref -b cpu -n x", "%s generate -m %s/a --top-p 0",
        "%s generate -m %s/a", "%s demo --bogus", "%s demo -b cpu", "%s tokenize --bogus", "%s nosuchcommand",
    };
    for (size_t i = 0; i < sizeof usage_bad / sizeof usage_bad[0]; i++) {
        char c2[8192];
        snprintf(c2, sizeof c2, usage_bad[i], bin, tmp);
        snprintf(cmd, sizeof cmd, "%s 2>&1 >/dev/null", c2);
        rc = test_run(cmd, &out);
        CHECK(rc == 2 && out && strstr(out, "error"), "usage error '%s' exited %d: %s", c2, rc, out ? out : "");
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s bench -m %s/a -t 2 2>&1", bin, tmp);
    rc = test_run(cmd, &out);
    CHECK(out && strstr(out, "--threads"), "bench -t does not point to --threads: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s logits -m %s/missing --prompt-ids %s/p.i32 -o %s/x.f32 2>/dev/null", bin, tmp, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 1, "a missing checkpoint is not exit 1");
    snprintf(cmd, sizeof cmd, "%s --version", bin);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && !strncmp(out, "ladder ", 7) && out[7] >= '0' && out[7] <= '9', "--version: rc %d, %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s --help", bin);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "Exit status") && strstr(out, "--version"), "ladder --help: %s", out ? out : "");
    free(out);
    /* demo --help promises only what demo accepts */
    snprintf(cmd, sizeof cmd, "%s demo --help", bin);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && !strstr(out, "generate options]"), "demo --help promises options it refuses: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s demo -o %s/killed -n 2 --temperature 0 --top-k 5 --top-p 0.9 --min-p 0 --seed 1 --prefill-chunk 8 "
                              "--ignore-eos >/dev/null 2>&1", bin, tmp);
    CHECK(test_run(cmd, NULL) == 0, "demo refuses an option its --help lists");
    /* -n 1: no decode step was timed, so no decode rate */
    snprintf(cmd, sizeof cmd, "%s generate -m %s/a --prompt-ids %s/p.i32 -n 1 2>&1 >/dev/null", bin, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "(n/a)") && !strstr(out, "0.00 tok/s"), "-n 1 decode rate: %s", out ? out : "");
    free(out);
    /* tokenize --ids-out writes the --prompt-ids format */
    snprintf(cmd, sizeof cmd, "printf '%%s' '{\"added_tokens\":[],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                              "\"trim_offsets\":true,\"use_regex\":false},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
                              "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"c\":3},\"merges\":[\"a b\"]}}' > %s/tok.json && "
                              "%s tokenize -t %s/tok.json -p abcab --ids-out %s/tok.i32 && printf '\\002\\0\\0\\0\\003\\0\\0\\0\\002\\0\\0\\0' | cmp -s - %s/tok.i32 && "
                              "%s generate -m %s/a --prompt-ids %s/tok.i32 -n 2 >/dev/null 2>&1",
             tmp, bin, tmp, tmp, tmp, bin, tmp, tmp);
    CHECK(test_run(cmd, NULL) == 0, "tokenize --ids-out did not write raw int32 ids that generate reads (%s)", cmd);

    /* a prompt id outside the vocabulary is refused with a clear message */
    snprintf(cmd, sizeof cmd, "printf '\\377\\377\\000\\000' > %s/big.i32 && %s logits -m %s/a --prompt-ids %s/big.i32 -o /dev/null 2>&1",
             tmp, bin, tmp, tmp);
    rc = test_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "vocabulary"), "out-of-vocabulary prompt: rc %d, %s", rc, out ? out : "");
    free(out);
    return test_summary("cli");
}
