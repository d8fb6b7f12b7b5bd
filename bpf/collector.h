/* SPDX-License-Identifier: MIT */
/*
 * collector: the BPF side of `vmaprof record`, as a small opaque module.
 *
 * collector__new loads and attaches the programs (open -> set read-only
 * globals -> load -> attach) and creates the trace file (source VP_SRC_BPF,
 * written by the one trace-file writer, vmaprof/tracewriter.h).
 * collector__track marks a process as traced before it runs its first
 * instruction; from then on its children, threads and exec'd images are
 * followed in the kernel. collector__poll drains the ring buffer into the
 * trace file; collector__finish detaches, drains what is left, writes the
 * header counters and closes the file.
 *
 * Every function returns 0 (or a count) on success and -errno on failure.
 * The module is single-threaded: call it from one thread.
 */
#ifndef VMAPROF_COLLECTOR_H
#define VMAPROF_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

struct vp_rec;

struct collector;

/* How the fault programs learn the VMA of a faulting address. */
enum collector_vma {
	COLLECTOR_VMA_DEFAULT = 0, /* = COLLECTOR_VMA_OFF */
	COLLECTOR_VMA_OFF,         /* no VMA info (VP_FAULT_VMA never set): the
				    * analyzer classifies with its own model */
	COLLECTOR_VMA_EVERY,       /* bpf_find_vma on every fault (~3 us each) */
};

/* The ring buffer's size: its allocation, mapping and freeing cost ~0.3 ms
 * per MiB at start-up and exit (bench/NOTES.md, start-up), so the default is
 * what our heaviest workloads need without loss, with room to spare. */
#define COLLECTOR_RINGBUF_DEFAULT (8u << 20)
#define COLLECTOR_RINGBUF_MIN (64u << 10)
#define COLLECTOR_RINGBUF_MAX (1u << 30)

struct collector_opts {
	const char *trace_path;  /* the trace file to create (VP_SRC_BPF) */
	size_t ringbuf_bytes;    /* 0 = COLLECTOR_RINGBUF_DEFAULT; rounded up to a
				  * power of two within [MIN, MAX] */
	pid_t self_pid;          /* the recorder: never traced; 0 = getpid() */
	/* Optional (zero = default): */
	enum collector_vma vma;
	bool prog_stats;         /* enable kernel run-time stats while alive
				  * (costs ~20-40 ns per program run) */
	bool no_signals;         /* never send the shim's signal (record -p:
				  * the shim there may be another recorder's) */
	/* Kernel stacks (VP_REC_KSTACK, bpf/README.md): bytes of user stack
	 * copied above the stack pointer per capture, rounded up to pages
	 * (one more page holds the stack pointer's own); 0 = the environment's
	 * VMAPROF_KERNEL_STACK (bytes, K/M suffixes; 0 turns them off), else
	 * COLLECTOR_KSTACK_DEFAULT. At most VP_KSTACK_MAX. */
	size_t kstack_bytes;
	bool no_kstacks;         /* none at all (--no-stacks) */
	/* Also where no shim has announced itself in the process image
	 * (VP_NOSIG_NO_SHIM): what record -p and --no-preload need. Without
	 * it, only in images no shim can announce itself in (static, secure
	 * exec, seccomp-filtered: the collector tells at exec). Not by
	 * default where the shim is preloaded: every dynamic program's start
	 * (ld.so mapping its libraries before the shim runs) would take one
	 * per call, 3.5 s and 94 MB more for 300 runs of /bin/true
	 * (bench/NOTES.md, "kernel stacks before the shim"). */
	bool kstack_no_shim;
	/* Write stacks (record.h VP_KSTACK_WRITE, bpf/README.md "Write
	 * stacks"): the first ws_first write faults on present pages of each
	 * thread (since its creation or its process's last fork), then 1 in
	 * ws_every (0: none after the first). ws_set false: the defaults
	 * COLLECTOR_WS_FIRST, COLLECTOR_WS_EVERY; both 0: off. Taken only
	 * with kernel stacks on (no_kstacks false). */
	bool ws_set;
	uint32_t ws_first, ws_every;
	/* VP_REC_RSS samples from the kernel's rss_stat tracepoint, at most
	 * one per task per this many ns; 0 = the environment's
	 * VMAPROF_RSS_STAT (ms), else off (bpf/README.md, "The mm's own
	 * figures") */
	uint64_t rss_interval_ns;
};
#define COLLECTOR_KSTACK_DEFAULT (8u << 10)
#define COLLECTOR_WS_FIRST 8
#define COLLECTOR_WS_EVERY 64

struct collector_stats {
	uint64_t records;   /* records written to the trace (PAD excluded) */
	uint64_t lost;      /* records lost: ring-buffer reserve failures,
			     * malformed samples, records a failed write dropped */
	uint64_t faults;    /* VP_REC_FAULT records written */
	uint64_t untracked; /* children of traced tasks that could not be marked
			     * (task storage allocation failed): not followed */
	uint64_t unhandled; /* kernel-mode fault events of traced tasks with page
			     * faults disabled (no fault happened): not recorded */
	uint64_t ringbuf_bytes; /* the ring buffer's size */
	uint64_t kstacks;   /* VP_REC_KSTACK records submitted */
	uint64_t kstacks_skipped; /* not taken: the ring buffer was half full */
	uint64_t kstack_bytes; /* copied per capture at most (0: off) */
	uint64_t wstacks;   /* of kstacks: write stacks (VP_KSTACK_WRITE) */
	uint64_t wstacks_skipped; /* due but not taken: the ring buffer was half full */
	uint32_t ws_first, ws_every; /* the sampling used (0, 0: off) */
	uint64_t mmstats;   /* VP_REC_MMSTAT records submitted */
	uint64_t rss_samples; /* VP_REC_RSS records submitted */
	uint64_t rss_interval_ns; /* their interval, 0: rss_stat not attached */
};

/* 0 or -errno. On failure `why` (if not NULL) gets a one-line reason: not
 * root, no kernel BTF, a program the kernel refused (with libbpf's
 * message), an attach failure, the trace file. */
int collector__new(const struct collector_opts *o, struct collector **out, char *why,
		   size_t why_len);
/* Trace `root_pid` and everything it creates. Call before it runs (it should
 * block until this returns). */
int collector__track(struct collector *c, pid_t root_pid);
/* Attaching to a running process (`vmaprof record -p`, cli/attach.c): task
 * storage is per thread, so every thread of it is marked, one by one.
 * Mark thread `tid` as traced (a pidfd of that very thread, PIDFD_THREAD):
 * 0 when marked now, -EEXIST when it already was (by an earlier call, or
 * followed from a marked thread that created it: its state is kept),
 * -ESRCH when it is gone (also when it exits between the pidfd and the
 * update), else -errno. */
int collector__track_thread(struct collector *c, pid_t tid);
/* `record -p`, once every thread is marked: write the PID-namespace ids
 * (VP_REC_TASK_NS) of each traced task outside the initial namespace
 * (those created later get theirs when they are created). 0 or -errno. */
int collector__announce_ns(struct collector *c);
/* 1 when the thread-group leader `pid` is marked traced, 0 when not (or
 * gone), -errno on failure. */
int collector__traced(struct collector *c, pid_t pid);
/* Wait up to timeout_ms for data, drain the ring buffer into the trace file.
 * Returns the number of records drained, or -errno (a write error is
 * reported once; the lost records are counted). */
int collector__poll(struct collector *c, int timeout_ms);
/* The same, the wait made with the signal mask `sigmask` (epoll_pwait; NULL:
 * the current mask): a signal blocked outside and unblocked by sigmask ends
 * the wait even when it arrived before the call. */
int collector__poll_sigmask(struct collector *c, int timeout_ms, const sigset_t *sigmask);
/* Also hand every record drained from now on to fn(ctx, record), in the
 * draining thread, after it was written (record's live view); NULL: none. */
void collector__observe(struct collector *c, void (*fn)(void *ctx, const struct vp_rec *h),
			void *ctx);
/* Stop recording (detach), collect the faults still pending in the traced
 * tasks' storage (a task iterator; the open fault gets VP_FAULT_CUT), drain,
 * write the header counters, close the file. `st` may be NULL. Call once. */
int collector__finish(struct collector *c, struct collector_stats *st);
/* Accepts NULL. Finishes first if collector__finish was not called. */
void collector__free(struct collector *c);

/* Kernel run-time statistics of one program (needs opts.prog_stats). */
struct collector_prog_stat {
	char name[32];
	uint64_t run_ns;
	uint64_t run_cnt;
};
/* How system calls are hooked: "tracepoints" (only the calls the collector
 * needs, through their own tracepoints) or "raw" (every system call, through
 * raw sys_enter/sys_exit, where the former could not be attached); *why
 * says why "raw", else NULL. */
const char *collector__syscall_hooks(const struct collector *c, const char **why);
/* Which variant of the kernel program runs (bpf/README.md, "Kernels"):
 * "default" (Linux 5.17 and later) or "compat" (5.10 to 5.16: what this
 * kernel lacks in *why); "none" for NULL. *why is NULL when nothing needs
 * saying. */
const char *collector__variant(const struct collector *c, const char **why);
/* Fills up to `max` entries (opts.prog_stats); returns how many programs
 * there are, or -errno. */
int collector__prog_stats(struct collector *c, struct collector_prog_stat *out, int max);

#endif /* VMAPROF_COLLECTOR_H */
