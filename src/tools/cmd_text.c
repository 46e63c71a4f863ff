/* Text subcommands: placeholder until the tokenizer lands. */
#include <stdio.h>

#include "tools/commands.h"

static int not_yet(const char *name) {
    fprintf(stderr, "ladder %s: error: not implemented yet\n", name);
    return 1;
}
int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; return not_yet("tokenize"); }
int cmd_detokenize(int argc, char **argv) { (void)argc; (void)argv; return not_yet("detokenize"); }
int cmd_encode_chat(int argc, char **argv) { (void)argc; (void)argv; return not_yet("encode-chat"); }
int cmd_parse_completion(int argc, char **argv) { (void)argc; (void)argv; return not_yet("parse-completion"); }
