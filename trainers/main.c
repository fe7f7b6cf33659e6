/* main.c — the tern program: subcommand dispatch. Only trainers/ may exit. */
#include <stdio.h>
#include <string.h>

#include "tern.h"

static int usage(FILE *f) {
    fprintf(f,
            "usage: tern <command> [options]\n"
            "\n"
            "commands:\n"
            "  help               show this help\n"
            "\n"
            "Run 'tern <command> --help' for a command's options.\n");
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) return usage(stdout);
    fprintf(stderr, "tern: unknown command '%s' (try 'tern --help')\n", cmd);
    return 2;
}
