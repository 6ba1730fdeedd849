#!/usr/bin/env bash
# fuzz/make_corpus.sh: (re)creates the seed corpus fuzz/corpus/proto/ for
# fuzz_proto. Run by hand from anywhere; writes only into fuzz/corpus/proto.
# Seed layout (see fuzz_proto.c): byte 0 picks max_packet (low 3 bits:
# 5, 6, 13, 71, 262, 295, 4096, 65535), byte 1 the chunking pattern (top 2
# bits: whole / fixed / random / alternating), then the byte stream.
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/corpus/proto"
mkdir -p "$out"

byte() { printf "\\x$(printf %02x "$1")"; }
u16() { byte $(($1 & 255)); byte $((($1 >> 8) & 255)); }
# pkt ID BODY_PRINTF [TYPE]: one packet, length computed from the body.
pkt() {
    local body len
    body="$(mktemp)"
    printf "$2" >"$body"
    len=$(($(wc -c <"$body") + 5))
    u16 "$len"; u16 "$1"; byte "${3:-0}"
    cat "$body"
    rm -f "$body"
}
zeros() { head -c "$1" /dev/zero; }
field() { printf "$1"; zeros $(($2 - $(printf "$1" | wc -c))); } # text NUL-padded to $2 bytes
seed() { cat >"$out/$1"; }

{ byte 6; byte 0; u16 71; u16 201; byte 0; field alice 33; field secret 33; } | seed login_ok
{ byte 6; byte 0x41; u16 71; u16 201; byte 0; field 'al\x01ce' 33; field pw 33; } | seed login_ctl
{ byte 6; byte 0x40; u16 71; u16 201; byte 0; printf 'abcdefghijklmnopqrstuvwxyz0123456'; field pw 33; } | seed login_no_nul
{ byte 6; byte 0x83; u16 262; u16 221; byte 0; field hello 257; } | seed chat_full
{ byte 6; byte 0; pkt 221 '\xeb\xaf\xbc\xec\x88\x98 hi'; pkt 221 'a\x00b'; } | seed chat_short_utf8
{ byte 6; byte 0; pkt 221 '\xc0\x80'; pkt 221 '\xed\xa0\x80'; pkt 221 '\xf4\x90\x80\x80'; pkt 221 '\xe2\x82'; } | seed chat_bad_utf8
{ byte 6; byte 0x85; pkt 206 '\x07\x00\x00\x00'; pkt 215 ''; pkt 241 '\x01\x02\x03\x04\x05\x06\x07\x08'; } | seed room_ops
{ byte 6; byte 0xC2; pkt 202 '\x00\x00'; pkt 207 '\x3d\x00'; pkt 216 '\x47\x00'; pkt 222 '\x52\x00'; } | seed results
{ byte 6; byte 0; pkt 208 '\x01\x00\x00\x00\x00\x00\x00\x00\x03bob'; } | seed new_user
{ byte 6; byte 0x47; pkt 209 '\x02\x01\x00\x00\x00\x00\x00\x00\x00\x02al\xff\xff\xff\xff\xff\xff\xff\xff\x01z'; } | seed user_list
{ byte 6; byte 0x90; u16 295; u16 223; byte 0; field bob 33; field 'hi!' 257; } | seed chat_notify
{ byte 6; byte 0; pkt 242 '\x08\x07\x06\x05\x04\x03\x02\x01'; pkt 243 '\x03\x00\x0b\x00'; pkt 217 '\x88\x77\x66\x55\x44\x33\x22\x11'; } | seed ping_err_leave
{ byte 6; byte 0; pkt 1 'x'; u16 4; u16 1; byte 0; } | seed too_short
{ byte 0; byte 0; pkt 241 '\x00\x00\x00\x00\x00\x00\x00\x00'; } | seed too_long
{ byte 6; byte 0; pkt 241 '\x00\x00\x00\x00\x00\x00\x00\x00' 1; pkt 11 ''; pkt 199 ''; pkt 9999 'z'; } | seed type_and_ids
{ byte 7; byte 0xC9; pkt 1 "$(head -c 600 /dev/zero | tr '\0' 'e')"; u16 300; u16 1; byte 0; printf partial; } | seed echo_partial
