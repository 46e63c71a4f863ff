#include <stdio.h>
#include "tools/commands.h"
int cmd_demo(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int cmd_synth(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int cmd_info(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int cmd_generate(int argc, char **argv) { (void)argc; (void)argv; return 1; }
