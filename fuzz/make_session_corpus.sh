#!/usr/bin/env bash
# fuzz/make_session_corpus.sh: (re)creates the seed corpus fuzz/corpus/session/
# for fuzz_session. Run by hand from anywhere; writes only into
# fuzz/corpus/session. Each seed is written as hex below (spaces and | are
# only for reading). Layout (fuzz_session.c has the details):
#   3 header bytes:
#     h0: max_packet (bits 0-1: 4096 300 262 71), chat rate 2/s (bit 2),
#         room capacity (bits 3-4: 1024 1 2 3), max users (bits 5-6: 10000 1 2 3),
#         rooms -2..1 instead of 0..3 (bit 7)
#     h1: idle timeout (bits 0-1: off off 30s 300s), outbox limit (bits 2-3:
#         none none 400 2000), auth answers deferred (bit 4), unauth timeout
#         20s (bit 5), login attempts (bits 6-7: unlimited 2 3 5)
#     h2: max unauth (bits 0-1: 1024 1 2 3)
#   records: op byte = slot (bits 7-6) | no-run (bit 5) | hold (bit 4) | action,
#     actions: 0 login(id|pw<<4) 1 enter(room) 2 leave 3 chat(variant)
#     4 ping(token) 5 echo(len) 6 bad(variant; cc/cd: 64 KiB/1 MiB) 7 raw(n, bytes...) 8 split(chunk)
#     9 reset (with hold: half-close) or reconnect a auth(i, bit 7: set deferral) b timers(x) c tick(step)
#     d read e shutdown(>= f0) f login+enter(room)
#   ids: 0 ann 1 bob 2 cy 3 dee 4 busy 5 down 6 "" 7 ctl 8 utf-8 9 32 bytes
#        a bad utf-8 b 33 bytes; passwords: 0 pw 1 other 2 "" 3 33 bytes
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/corpus/session"
mkdir -p "$out"

# seed NAME HEX...: writes the bytes to corpus/session/NAME.
seed() {
    local name=$1 hex
    shift
    hex=$(echo "$*" | tr -d ' |')
    : >"$out/$name"
    for ((i = 0; i < ${#hex}; i += 2)); do
        printf "\\x${hex:i:2}" >>"$out/$name"
    done
}

# Three users in room 0: chats, a ping, leaves, closes.
seed chat_three      00 00 00 '|' 0f 00 '|' 4f 00 '|' 8f 00 '|' 03 00 '|' 43 11 '|' 83 22 \
                     '|' 02 '|' 44 07 '|' 42 '|' 83 05 '|' 09 '|' 49 '|' 89
# Everything held, then delivered as one chunk (responses in request order).
seed pipelined       00 00 00 '|' 10 00 '|' 11 00 '|' 13 01 '|' 13 16 '|' 12 '|' 14 03 '|' 05 0a
# The same, delivered 3 bytes at a time.
seed split           00 00 00 '|' 10 01 '|' 11 01 '|' 13 02 '|' 12 '|' 08 02
# Deferred auth: two logins as ann (31), completions, a timer round.
seed deferred_auth   00 10 00 '|' 00 00 '|' 40 00 '|' 0a 00 '|' 0b 00 '|' 80 11 '|' 0a 00 \
                     '|' 01 00 '|' 41 00
# A login that times out (34), then its late auth answer.
seed login_timeout   00 10 00 '|' 00 01 '|' 0b 00 '|' 0a 00 '|' 00 01 '|' 0a 00
# --login-attempts 3: ann registers, then wrong passwords with backoff timers.
seed login_failures  00 80 00 '|' 00 00 '|' 09 '|' 09 '|' 00 10 '|' 00 10 '|' 0b 00 '|' 00 10 \
                     '|' 0b 00 '|' 00 10
# Room capacity 1: the second enter gets 54, then gets in after a leave.
seed room_full       08 00 00 '|' 0f 00 '|' 4f 00 '|' 02 '|' 41 00
# --max-clients 1: 32, then a login after the first user left.
seed server_full     20 00 00 '|' 00 00 '|' 40 01 '|' 09 '|' 40 01
# Malformed packets, invalid logins, a 32-byte id, then a framing error.
seed malformed       00 00 00 '|' 06 00 '|' 06 01 '|' 06 02 '|' 06 03 '|' 06 04 '|' 06 05 \
                     '|' 06 06 '|' 06 07 '|' 06 08 '|' 06 0b '|' 00 06 '|' 00 07 '|' 00 0a \
                     '|' 00 0b '|' 00 09 '|' 03 04 '|' 01 00 '|' 02 '|' 06 09
# A header longer than max_packet after a login and enter.
seed framing_long    00 00 00 '|' 0f 00 '|' 06 0a
# A ping written as raw bytes in two pieces.
seed raw_ping        00 00 00 '|' 17 05 0d 00 f1 00 00 '|' 07 08 01 02 03 04 05 06 07 08
# Outbox limit 400: notifies overflow one client (slow consumer); a read.
seed slow_consumer   00 08 00 '|' 0f 00 '|' 4f 00 '|' 03 00 '|' 03 01 '|' 4d '|' 03 02 '|' 43 03
# Idle timeout 30 s: a minute passes, timers fire: ERROR_NTF 7.
seed idle_timeout    00 02 00 '|' 0f 00 '|' 0c 06 '|' 0b 00
# Unauth timeout 20 s: the two connections that did not log in get 7.
seed unauth_timeout  00 20 00 '|' 00 00 '|' 0c 05 '|' 0c 05 '|' 0b 00
# --max-unauth 1: two connections refused with 9; they reconnect after a login.
seed max_unauth      00 00 01 '|' 00 00 '|' 49 '|' 40 01 '|' 89 '|' 80 02
# Shutdown: ERROR_NTF 8 to everyone.
seed shutdown        00 00 00 '|' 0f 00 '|' 4f 00 '|' 0e f0 '|' 03 00
# Close while in a room, reconnect, log in again as the same user.
seed relogin         00 00 00 '|' 0f 01 '|' 09 '|' 09 '|' 0f 01 '|' 4f 01 '|' 43 00
# DEV_ECHO and pings, a ping with a bad body.
seed echo_ping       00 00 00 '|' 05 10 '|' 05 3f '|' 04 09 '|' 44 0a '|' 06 06
# A leave and a ping in one chunk: ROOM_LEAVE_RES first (a bug found here once).
seed leave_ping      00 00 00 '|' 0f 00 '|' 12 '|' 04 01
# Messages pile up without running the actors (no-run bit), then run.
seed interleave      00 00 00 '|' 2f 00 '|' 6f 00 '|' 23 00 '|' 69 '|' 8f 00 '|' 43 01
# Chat rate 2/s burst 3: 63, then the clock moves and chats pass again.
seed chat_rate       04 00 00 '|' 0f 00 '|' 13 00 '|' 13 01 '|' 13 02 '|' 13 03 '|' 03 04 \
                     '|' 0c 04 '|' 03 05
# Rooms -2..1: in and out of range.
seed room_range      80 00 00 '|' 0f 00 '|' 01 05 '|' 4f 03 '|' 41 04
# Half-close: requests, then end of stream; every answer, then the close.
seed half_close      00 00 00 '|' 10 00 '|' 11 00 '|' 13 01 '|' 14 05 '|' 19 '|' 4f 00 '|' 43 02
# Half-close while the login waits for the (deferred) auth backend.
seed half_close_auth 00 10 00 '|' 10 01 '|' 11 02 '|' 19 '|' 0a 00
# Half-close after a leave: its ROOM_LEAVE_RES still comes, before the close.
seed half_close_leave 00 00 00 '|' 0f 00 '|' 12 '|' 19
# A flush-close (idle) that waits for a client that never reads: cut 2 s later.
seed idle_no_read    00 02 00 '|' 0f 00 '|' 0c 06 '|' 0b 00 '|' 0b 00
# More than 64 KiB sent while a login waits for the backend: the connection is cut.
seed park_limit      00 10 00 '|' 10 00 '|' 06 cc '|' 0a 00
# A reset while the leave is on its way to the room (no-run bit): LEAVE_DONE to a closed session.
seed leave_reset     00 00 00 '|' 0f 00 '|' 22 '|' 29
# A reset while a failed login's answer is held back (backoff), then time passes.
seed backoff_reset   00 00 00 '|' 00 00 '|' 09 '|' 09 '|' 00 10 '|' 00 10 '|' 09
# More than 1 MiB sent while an enter is under way (no-run bit): cut.
seed park_limit_user 00 00 00 '|' 00 00 '|' 21 00 '|' 26 cd
