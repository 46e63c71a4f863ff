/* Writes the built-in tiny tokenizer.json to a file, for CLI tests.
 * usage: write_tiny_tokenizer OUT_JSON */
#include <stdio.h>

#include "tiny_tokenizer.h"

int main(int argc, char **argv) {
    char *j = tiny_tokenizer_json();
    FILE *f = argc > 1 ? fopen(argv[1], "wb") : NULL;
    if (!j || !f) return 1;
    fputs(j, f);
    free(j);
    return fclose(f) ? 1 : 0;
}
