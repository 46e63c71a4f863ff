/* Subcommands of the `ladder` binary. Each takes argc/argv starting at the
 * subcommand name and returns the process exit code. Errors are printed by
 * the command itself as one line "ladder <cmd>: error: ...". */
#ifndef LADDER_TOOLS_COMMANDS_H
#define LADDER_TOOLS_COMMANDS_H

int cmd_demo(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_conform(int argc, char **argv);
int cmd_parity(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_chat(int argc, char **argv);
/* text commands (tokenizer and chat encoding) */
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_encode_chat(int argc, char **argv);
int cmd_parse_completion(int argc, char **argv);

#endif
