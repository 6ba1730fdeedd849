/* test_ringchat_cli_units.c: the pure parts of ringchat-cli: the escaper
 * that keeps network text from driving the terminal, the input-line parser,
 * the command-line parser, the room member map and the /wait output log. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *esc(const char *in, size_t len)
{
    static char out[4096];
    cli_escape(in, len, out, sizeof(out));
    return out;
}
#define ESC(s) esc(s, sizeof(s) - 1)

Test(cli_escape, printable_ascii_and_utf8_pass_unchanged)
{
    cr_assert_str_eq(ESC("hello, world ~!"), "hello, world ~!");
    cr_assert_str_eq(ESC("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80"),
                     "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
}

Test(cli_escape, c0_controls_del_and_backslash_are_escaped)
{
    cr_assert_str_eq(ESC("\x1b[31mred\x1b[0m"), "\\e[31mred\\e[0m");
    cr_assert_str_eq(ESC("a\nb\tc\rd"), "a\\nb\\tc\\rd");
    cr_assert_str_eq(ESC("\x01\x07\x7f"), "\\x01\\x07\\x7F");
    cr_assert_str_eq(ESC("back\\slash"), "back\\\\slash");
    cr_assert_str_eq(esc("a\0b", 3), "a\\x00b");
}

Test(cli_escape, c1_controls_and_bidi_overrides_are_escaped)
{
    cr_assert_str_eq(ESC("\xC2\x9B"
                         "31m"),
                     "\\u009B31m");                       /* U+009B CSI */
    cr_assert_str_eq(ESC("\xC2\x85"), "\\u0085");         /* U+0085 NEL */
    cr_assert_str_eq(ESC("x\xE2\x80\xAEy"), "x\\u202Ey"); /* RLO */
    cr_assert_str_eq(ESC("\xE2\x81\xA6z"), "\\u2066z");   /* LRI */
    cr_assert_str_eq(ESC("\xC2\xA0"), "\xC2\xA0");        /* NBSP is printable */
}

Test(cli_escape, invalid_utf8_bytes_are_escaped_one_by_one)
{
    cr_assert_str_eq(ESC("\x9B"), "\\x9B"); /* a raw 8-bit CSI */
    cr_assert_str_eq(ESC("\xFF\xFE"), "\\xFF\\xFE");
    cr_assert_str_eq(ESC("\xC0\xAF"), "\\xC0\\xAF");          /* overlong '/' */
    cr_assert_str_eq(ESC("\xE6\x97"), "\\xE6\\x97");          /* truncated */
    cr_assert_str_eq(ESC("\xED\xA0\x80"), "\\xED\\xA0\\x80"); /* surrogate */
}

Test(cli_escape, worst_case_fits_the_documented_bound_and_cap_is_respected)
{
    char in[PROTO_MSG_FIELD], out[CLI_ESCAPED_MAX(PROTO_MSG_FIELD)];
    memset(in, 0x01, sizeof(in));
    cr_assert_eq(cli_escape(in, sizeof(in), out, sizeof(out)), 4 * sizeof(in));
    cr_assert_eq(strlen(out), 4 * sizeof(in));
    /* A small cap: whole escapes only, always NUL-terminated, never past cap. */
    char small[8];
    memset(small, 'Z', sizeof(small));
    size_t n = cli_escape("\x01\x02\x03", 3, small, 7);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(small, "\\x01");
    cr_assert_eq(small[7], 'Z');
    cr_assert_eq(cli_escape("abc", 3, small, 0), 0);
}

static cli_cmd_t parse(const char *line)
{
    cli_cmd_t c;
    cli_cmd_parse(line, strlen(line), &c);
    return c;
}

Test(cli_cmd, plain_lines_are_chat_and_double_slash_escapes)
{
    cli_cmd_t c = parse("hello there");
    cr_assert_eq(c.kind, CLI_CMD_CHAT);
    cr_assert_eq(c.len, 11);
    cr_assert_eq(memcmp(c.text, "hello there", 11), 0);
    c = parse("//join 5");
    cr_assert_eq(c.kind, CLI_CMD_CHAT);
    cr_assert_eq(c.len, 7);
    cr_assert_eq(memcmp(c.text, "/join 5", 7), 0);
    c = parse("hi\r");
    cr_assert_eq(c.kind, CLI_CMD_CHAT);
    cr_assert_eq(c.len, 2);
    cr_assert_eq(parse("").kind, CLI_CMD_EMPTY);
    cr_assert_eq(parse("\r").kind, CLI_CMD_EMPTY);
}

Test(cli_cmd, chat_length_limit_is_257_bytes)
{
    char line[300];
    memset(line, 'a', sizeof(line));
    cli_cmd_t c;
    cli_cmd_parse(line, 257, &c);
    cr_assert_eq(c.kind, CLI_CMD_CHAT);
    cr_assert_eq(c.len, 257);
    cli_cmd_parse(line, 258, &c);
    cr_assert_eq(c.kind, CLI_CMD_ERROR);
    cr_assert_str_eq(c.error, "message too long: 258 bytes, the limit is 257 (not sent)");
}

Test(cli_cmd, commands_and_their_arguments)
{
    cli_cmd_t c = parse("/join 5");
    cr_assert_eq(c.kind, CLI_CMD_JOIN);
    cr_assert_eq(c.room, 5);
    c = parse("/join   -1  ");
    cr_assert_eq(c.kind, CLI_CMD_JOIN);
    cr_assert_eq(c.room, -1);
    cr_assert_eq(parse("/join 2147483647").room, INT32_MAX);
    cr_assert_eq(parse("/leave").kind, CLI_CMD_LEAVE);
    cr_assert_eq(parse("/who").kind, CLI_CMD_WHO);
    cr_assert_eq(parse("/ping").kind, CLI_CMD_PING);
    cr_assert_eq(parse("/quit").kind, CLI_CMD_QUIT);
    cr_assert_eq(parse("/help").kind, CLI_CMD_HELP);
    c = parse("/wait bob: hi  there");
    cr_assert_eq(c.kind, CLI_CMD_WAIT);
    cr_assert_eq(c.len, 14);
    cr_assert_eq(memcmp(c.text, "bob: hi  there", 14), 0);
    c = parse("/sleep 250");
    cr_assert_eq(c.kind, CLI_CMD_SLEEP);
    cr_assert_eq(c.ms, 250);
}

Test(cli_cmd, bad_commands_are_refused_with_a_reason)
{
    static const struct {
        const char *line, *error;
    } bad[] = {
        {"/join", "usage: /join N (a room number)"},
        {"/join 5x", "usage: /join N (a room number)"},
        {"/join 2147483648", "usage: /join N (a room number)"},
        {"/leave now", "usage: /leave (no argument)"},
        {"/wait", "usage: /wait TEXT"},
        {"/sleep 60001", "usage: /sleep MS (0 to 60000)"},
        {"/sleep -1", "usage: /sleep MS (0 to 60000)"},
        {"/bogus 1", "unknown command /bogus (try /help)"},
        {"/", "unknown command / (try /help)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cli_cmd_t c = parse(bad[i].line);
        cr_assert_eq(c.kind, CLI_CMD_ERROR, "%s", bad[i].line);
        cr_assert_str_eq(c.error, bad[i].error, "%s", bad[i].line);
    }
}

static int opts(cli_opts_t *o, char *err, const char *const *argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    return cli_opts_parse(o, argc, (char **)argv, err, 256);
}

Test(cli_opts, defaults_and_both_value_forms)
{
    cli_opts_t o;
    char err[256];
    cr_assert_eq(opts(&o, err, (const char *const[]){"cli", "--user", "ann", NULL}), 0);
    cr_assert_str_eq(o.host, "127.0.0.1");
    cr_assert_str_eq(o.port, "7000");
    cr_assert_str_eq(o.user, "ann");
    cr_assert_null(o.password);
    cr_assert_eq(opts(&o, err,
                      (const char *const[]){"cli", "--host=example.org", "--port", "7001",
                                            "--user=bo", "--password", "", NULL}),
                 0, "%s", err);
    cr_assert_str_eq(o.host, "example.org");
    cr_assert_str_eq(o.port, "7001");
    cr_assert_str_eq(o.user, "bo");
    cr_assert_str_eq(o.password, "");
    cr_assert_eq(opts(&o, err, (const char *const[]){"cli", "--help", NULL}), 0);
    cr_assert(o.help);
}

Test(cli_opts, bad_values_are_refused)
{
    cli_opts_t o;
    char err[256];
    char id33[34];
    memset(id33, 'x', 33);
    id33[33] = '\0';
    const char *const cases[][5] = {
        {"cli", "--user", id33, NULL},
        {"cli", "--user", "", NULL},
        {"cli", "--user", "a", "--port", NULL},
        {"cli", "--user", "a", "--port=abc", NULL},
        {"cli", "--user", "a", "--port=-1", NULL},
        {"cli", "--user", "a", "--host=", NULL},
        {"cli", "--users", "a", NULL},
        {"cli", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(opts(&o, err, cases[i]), -EINVAL, "case %zu", i);
    cr_assert_eq(
        opts(&o, err, (const char *const[]){"cli", "--user", "a", "--port", "65535", NULL}), 0);
}

Test(cli_room, map_keeps_order_renames_and_removes_by_uid)
{
    cli_room_t r = {0};
    char id[PROTO_ID_MAX_LEN + 1];
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof(name), "u%d", i);
        cr_assert_eq(cli_room_add(&r, 1000 + i, name), 0);
    }
    cr_assert_eq(r.n, 40);
    cr_assert_eq(cli_room_add(&r, 1005, "renamed"), 0);
    cr_assert_eq(r.n, 40, "the same uid is one member");
    cr_assert_str_eq(r.m[5].id, "renamed");
    cr_assert(cli_room_remove(&r, 1005, id));
    cr_assert_str_eq(id, "renamed");
    cr_assert_eq(r.n, 39);
    cr_assert_str_eq(r.m[5].id, "u6", "order kept");
    cr_assert_not(cli_room_remove(&r, 1005, id));
    cr_assert_not(cli_room_remove(&r, 42, id));
    cli_room_clear(&r);
    cr_assert_eq(r.n, 0);
    cli_room_free(&r);
}

Test(cli_out, lines_are_timestamped_and_wait_consumes_up_to_its_match)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_out_t o;
    cli_out_init(&o, f);
    cli_out_line(&o, "first %d", 1);
    cli_out_line(&o, "* bob joined room 5");
    cli_out_line(&o, "bob: hi");
    fflush(f);
    int h, m, s;
    char rest[32];
    cr_assert_eq(sscanf(buf, "[%2d:%2d:%2d] %31[^\n]", &h, &m, &s, rest), 4, "%s", buf);
    cr_assert_str_eq(rest, "first 1");
    cr_assert(cli_out_take(&o, "bob joined"));
    cr_assert_not(cli_out_take(&o, "bob joined"), "a match is consumed");
    cr_assert_not(cli_out_take(&o, "first"), "lines before a match are consumed");
    cr_assert(cli_out_take(&o, "bob: hi"), "lines after a match stay");
    cr_assert_not(cli_out_take(&o, "never"));
    cli_out_free(&o);
    fclose(f);
    free(buf);
}
