/* SPDX-License-Identifier: MIT */
/* vmaprof record -p PID[,PID...]: attach to running processes (cli/attach.c,
 * docs/attach.md). */
#ifndef VP_ATTACH_H
#define VP_ATTACH_H

extern const char vp_record_attach_usage[];
/* 1 when record's arguments ask to attach (-p/--pid before any command). */
int vp_record_wants_attach(int argc, char **argv);
/* The whole `record -p`: returns the exit code (0 recorded, 2 cannot attach). */
int vp_record_attach(int argc, char **argv);

#endif
