/* rcb_resp.c: the in-place RESP reply parser of rcb_resp.h. Called by the
 * redis target on every read, on the loop thread. Never allocates, never
 * reads past len: every scan is bounded by the end pointer. */
#include "rcb_resp.h"

#include <string.h>

/* Finds "\r\n" in [p, end): pointer to the '\r', or NULL. */
static const uint8_t *find_crlf(const uint8_t *p, const uint8_t *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

/* A signed decimal line [p, e); -1 if malformed. */
static int parse_num(const uint8_t *p, const uint8_t *e, int64_t *out)
{
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p == e || e - p > 18)
        return -1;
    int64_t v = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* One scalar at *pp. 1 = parsed (*pp advanced), 0 = incomplete, -1 = bad. */
static int parse_scalar(const uint8_t **pp, const uint8_t *end, rcb_resp_val_t *v)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return 0;
    const uint8_t *e = find_crlf(p + 1, end);
    if (e == NULL)
        return (end - p) > 32 && *p != '+' && *p != '-' ? -1 : 0;
    memset(v, 0, sizeof(*v));
    v->type = (char)*p;
    switch (*p) {
    case '+':
    case '-':
        v->p = p + 1;
        v->len = (size_t)(e - p - 1);
        *pp = e + 2;
        return 1;
    case ':':
        if (parse_num(p + 1, e, &v->num) != 0)
            return -1;
        *pp = e + 2;
        return 1;
    case '$': {
        int64_t n;
        if (parse_num(p + 1, e, &n) != 0 || n < -1 || n > RCB_RESP_MAX_BULK)
            return -1;
        if (n == -1) { /* nil */
            *pp = e + 2;
            return 1;
        }
        const uint8_t *b = e + 2;
        if ((size_t)(end - b) < (size_t)n + 2)
            return 0;
        if (b[n] != '\r' || b[n + 1] != '\n')
            return -1;
        v->p = b;
        v->len = (size_t)n;
        *pp = b + n + 2;
        return 1;
    }
    default:
        return -1;
    }
}

long rcb_resp_parse(const uint8_t *p, size_t len, rcb_resp_t *out)
{
    const uint8_t *start = p, *end = p + len;
    if (len == 0)
        return 0;
    if (*p != '*') {
        int r = parse_scalar(&p, end, &out->v[0]);
        if (r <= 0)
            return r;
        out->type = out->v[0].type;
        out->n = 1;
        return (long)(p - start);
    }
    const uint8_t *e = find_crlf(p + 1, end);
    if (e == NULL)
        return (end - p) > 32 ? -1 : 0;
    int64_t n;
    if (parse_num(p + 1, e, &n) != 0 || n < 0 || n > RCB_RESP_MAX_ELEMS)
        return -1;
    p = e + 2;
    out->type = '*';
    out->n = (unsigned)n;
    for (unsigned i = 0; i < out->n; i++) {
        if (p < end && *p == '*')
            return -1; /* nested arrays: not used by pub/sub pushes */
        int r = parse_scalar(&p, end, &out->v[i]);
        if (r <= 0)
            return r;
    }
    return (long)(p - start);
}

int rcb_resp_is(const rcb_resp_val_t *v, const char *s)
{
    size_t n = strlen(s);
    return v->p != NULL && v->len == n && memcmp(v->p, s, n) == 0;
}
