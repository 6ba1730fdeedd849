/* cli_text.c: what ringchat-cli prints: escaping of text that came from the
 * network, and the timestamped output lines (with the log /wait searches).
 * Called by cli_recv.c, cli_cmd.c and cli_loop.c; the escaper is unit-tested.
 * It must never let a control character, a C1 control or a bidi override
 * from the network reach the terminal, and never write past a capacity.
 * Invariant: out->log holds whole lines, each ending in '\n'. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLI_OUT_LOG_MAX (256 * 1024) /* /wait searches at most this much */

/* Length of the UTF-8 sequence that starts with lead byte b (1 for ASCII and
 * for bytes that cannot start a sequence: the validator then rejects them). */
static size_t seq_len(uint8_t b)
{
    if (b >= 0xF0)
        return 4;
    if (b >= 0xE0)
        return 3;
    if (b >= 0xC0)
        return 2;
    return 1;
}

static uint32_t decode(const uint8_t *p, size_t n)
{
    static const uint8_t lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = p[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++)
        cp = (cp << 6) | (p[i] & 0x3F);
    return cp;
}

static bool must_escape_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape for one ASCII byte, or NULL if it prints as itself. */
static const char *ascii_escape(uint8_t b, char tmp[8])
{
    switch (b) {
    case '\n':
        return "\\n";
    case '\t':
        return "\\t";
    case '\r':
        return "\\r";
    case 0x1B:
        return "\\e";
    case '\\':
        return "\\\\";
    default:
        break;
    }
    if (b < 0x20 || b >= 0x7F) {
        snprintf(tmp, 8, "\\x%02X", b);
        return tmp;
    }
    return NULL;
}

size_t cli_escape(const char *in, size_t len, char *out, size_t cap)
{
    const uint8_t *p = (const uint8_t *)in;
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        char tmp[16];
        const char *piece;
        size_t n = seq_len(p[i]), plen;
        if (n > 1 && i + n <= len && proto_utf8_valid(p + i, n)) {
            uint32_t cp = decode(p + i, n);
            if (must_escape_cp(cp)) {
                snprintf(tmp, sizeof(tmp), "\\u%04X", (unsigned)cp);
                piece = tmp;
                plen = strlen(tmp);
            } else {
                piece = (const char *)p + i;
                plen = n;
            }
        } else {
            n = 1;
            piece = ascii_escape(p[i], tmp);
            plen = piece ? strlen(piece) : 1;
            if (piece == NULL)
                piece = (const char *)p + i;
        }
        if (o + plen >= cap)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += n;
    }
    out[o] = '\0';
    return o;
}

void cli_out_init(cli_out_t *o, FILE *f)
{
    *o = (cli_out_t){.f = f};
}

void cli_out_free(cli_out_t *o)
{
    free(o->log);
    *o = (cli_out_t){0};
}

/* Appends one line to the log, dropping the oldest lines beyond the limit. */
static void log_append(cli_out_t *o, const char *line, size_t n)
{
    if (n + 1 > CLI_OUT_LOG_MAX)
        return;
    while (o->len + n + 1 > CLI_OUT_LOG_MAX) {
        char *nl = memchr(o->log, '\n', o->len);
        size_t drop = (size_t)(nl - o->log) + 1;
        memmove(o->log, o->log + drop, o->len - drop + 1);
        o->len -= drop;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->log, cap);
        if (p == NULL)
            return; /* /wait then misses this line: it times out, visibly */
        o->log = p;
        o->cap = cap;
    }
    memcpy(o->log + o->len, line, n);
    o->len += n;
    o->log[o->len] = '\0';
}

void cli_out_line(cli_out_t *o, const char *fmt, ...)
{
    char line[8192]; /* callers keep lines below ~4 KiB (see cli_print_members) */
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    size_t n = strftime(line, sizeof(line), "[%H:%M:%S] ", &tm);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    n += k < 0 ? 0 : ((size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2);
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, o->f);
    fflush(o->f);
    log_append(o, line, n);
}

bool cli_out_take(cli_out_t *o, const char *needle)
{
    char *hit = o->log ? strstr(o->log, needle) : NULL;
    if (hit == NULL)
        return false;
    char *nl = strchr(hit, '\n');
    size_t drop = nl ? (size_t)(nl - o->log) + 1 : o->len;
    memmove(o->log, o->log + drop, o->len - drop + 1);
    o->len -= drop;
    return true;
}
