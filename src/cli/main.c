/* main.c: the ringchat-cli binary: parses the command line, asks for the
 * password if it was not given, then hands over to cli_run (cli_loop.c).
 * Exit codes: 0 after /quit or end of input, 1 when the server is
 * unreachable, the login fails or the connection is lost, 2 for bad options.
 * It must never echo a password it reads from the terminal. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef RINGCHAT_VERSION
#define RINGCHAT_VERSION "0.0.0"
#endif
#ifndef RINGCHAT_COMMIT
#define RINGCHAT_COMMIT "unknown"
#endif

/* Fills pw from --password or the terminal. -> 0 or an exit code. */
static int get_password(const cli_opts_t *o, char *pw, size_t cap)
{
    if (o->password != NULL) {
        snprintf(pw, cap, "%s", o->password);
        return 0;
    }
    int r = cli_ask_password(o->user, pw, cap);
    if (r == 0)
        return 0;
    if (r == -ENXIO)
        fputs("ringchat-cli: no --password given and no terminal to ask for it on\n", stderr);
    else if (r == -ENAMETOOLONG)
        fputs("ringchat-cli: the password must be at most 32 bytes\n", stderr);
    else if (r != -EINTR)
        fprintf(stderr, "ringchat-cli: cannot read the password: %s\n", strerror(-r));
    return r == -EINTR ? 130 : 2;
}

int main(int argc, char **argv)
{
    cli_opts_t o;
    char err[256];
    if (cli_opts_parse(&o, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "ringchat-cli: %s\n", err);
        return 2;
    }
    if (o.help) {
        fputs(cli_usage(), stdout);
        fputs(cli_cmd_help(), stdout);
        return 0;
    }
    if (o.version) {
        printf("ringchat-cli %s (%s)\n", RINGCHAT_VERSION, RINGCHAT_COMMIT);
        return 0;
    }
    char pw[PROTO_PW_FIELD + 2];
    int r = get_password(&o, pw, sizeof(pw));
    if (r != 0)
        return r;
    bool interactive = isatty(STDIN_FILENO);
    if (interactive)
        fputs("type /help for the commands, /quit to leave\n", stdout);
    r = cli_run(&o, pw, interactive);
    memset(pw, 0, sizeof(pw));
    return r;
}
