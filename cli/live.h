/* SPDX-License-Identifier: MIT */
/*
 * record's live view (`vmaprof record --live`, `vmaprof top`; README,
 * "Watch it live"): while the recording runs, a terminal view redrawn
 * about once a second with, per process of the traced tree, its faults per
 * second by class, the pages it copied on write since its fork and the
 * pages it allocated; `q` ends the recording, which then writes its report
 * as usual.
 *
 * It reads the kernel collector's records as the recorder drains them
 * (collector__observe), in the recorder's own thread, so it costs a hash
 * lookup per record and a redraw per second; nothing of it reaches the
 * trace files. The view is drawn on /dev/tty (the alternate screen, the
 * terminal in non-canonical mode for the key, both restored at the end).
 */
#ifndef VP_LIVE_H
#define VP_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "vmaprof/record.h"

struct live;

/* A view on the controlling terminal; NULL with *why set when there is
 * none (not a terminal, cannot be opened). `what`: the header's words for
 * the recording ("pid 1234", the command). */
struct live *live__new(const char *what, char *why, size_t why_len);
/* A process the view shows before its first record (record -p's targets):
 * pid and its name (comm). */
void live__seed(struct live *l, uint32_t pid, const char *name);
/* One kernel collector record (the collector's observer). */
void live__record(void *ctx, const struct vp_rec *h);
/* Redraw when a second has passed; 1 when the user asked to stop (q). */
int live__tick(struct live *l);
/* Leave the alternate screen and restore the terminal. */
void live__free(struct live *l);

#endif
