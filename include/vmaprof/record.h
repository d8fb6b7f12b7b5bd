/* SPDX-License-Identifier: MIT */
/*
 * vmaprof trace format: the one contract between preload/, bpf/ and analyzer/.
 *
 * A trace file is a 4096-byte vp_file_header followed by a stream of records.
 * Every record starts with a vp_rec header; `size` covers the whole record,
 * is a multiple of 8 and never crosses a VP_SEG_SIZE boundary of the data area
 * (writers pad with VP_REC_PAD instead). A writer fills the payload first and
 * stores `type` last (release), so a record whose type is 0 was never
 * completed: readers skip it by `size` when that is sane and count it as lost.
 *
 * Only fixed-width types, explicit padding and static asserts: the BPF program
 * (clang -target bpf, vmlinux.h) and user space must agree byte for byte.
 * Include nothing else of another part; this header includes only types.
 */
#ifndef VMAPROF_RECORD_H
#define VMAPROF_RECORD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VP_MAGIC 0x31544150524d5056ULL /* "VPMRPAT1" little-endian */
/* Version 2 (PID namespaces): vp_file_header.pid_ns says which namespace
 * numbers a file's pids, and the collector writes VP_REC_TASK_NS for tasks
 * outside the initial one. Readers accept VP_FORMAT_VERSION_MIN up to
 * VP_FORMAT_VERSION: a version 1 file is a version 2 file with pid_ns 0
 * (not known) and no VP_REC_TASK_NS. A reader older than 2 refuses these
 * files, rather than read a container's pids as the kernel's. */
/* Version 3 (kernel stacks): the collector may write VP_REC_KSTACK, whose
 * copy of a user stack a reader older than 3 would scan as records after
 * refusing the unknown type; such readers refuse these files instead. */
/* Version 4 (write stacks, the kernel's own figures): a VP_REC_KSTACK may
 * be a write fault's (VP_KSTACK_WRITE, call 0), which a version 3 reader
 * would refuse as malformed, and the collector may write VP_REC_MMSTAT and
 * VP_REC_RSS, which a reader older than 4 would count as
 * damaged; such readers refuse these files instead. */
/* Version 5 (file paths of kernel mmaps): a kernel VP_REC_MEM of a
 * file-backed mmap may carry the file's path and a vp_mem_file trailer
 * (VP_MEM_KPATH); a reader older than 5 would take it for a path-less
 * call and lose the reason a path is missing (VP_KPATH_*) silently: such
 * readers refuse these files instead. */
#define VP_FORMAT_VERSION 5
#define VP_FORMAT_VERSION_MIN 1
#define VP_HEADER_SIZE 4096u
/* Data area is written in segments of this size (file offset
 * VP_HEADER_SIZE + k * VP_SEG_SIZE); no record crosses a segment boundary. */
#define VP_SEG_SIZE (1u << 20)
/* A writer may give a segment its blocks in steps (the preload shim starts
 * a process image's first segment at VP_SEG_STEP and doubles it as records
 * arrive): the file then ends inside the segment, at a multiple of
 * VP_SEG_STEP from the data area's start, and no record lies beyond the
 * file's end. A file of whole segments (older writers) ends at such a
 * multiple too. */
#define VP_SEG_STEP (16u << 10)
#define VP_MAX_RECORD (64u << 10)
#define VP_MAX_STACK_DEPTH 256
#define VP_MAX_PATH 4096

enum vp_source {
	VP_SRC_PRELOAD = 1, /* one file per process image: preload.<pid>.<ns>.vpt */
	VP_SRC_BPF = 2,     /* one file per session: bpf.vpt */
};

/* vp_file_header.flags */
#define VP_FH_SEQUENTIAL 0x1 /* written by one sequential writer; head==0 means "to EOF" */
/* Checksummed (CRC-32C, vmaprof/crc32c.h). The last VP_SEGSUM_SIZE bytes of
 * every segment are reserved for a VP_REC_SEGSUM: no record is placed
 * there, and the writer that completes a segment stores the checksum of
 * the rest of it there (a segment never completed -- its writer killed --
 * has zeroes: read unverified). A writer that stops cleanly (exit, exec, a
 * flush of the collector) seals the header: tail_* checksum the last,
 * partial segment and hdr_crc the header itself. A reader counts the
 * records of a segment whose checksum does not match as damaged and uses
 * none of them. */
#define VP_FH_SEGSUM 0x2

/* Why a writer stopped recording (vp_file_header.disabled). */
enum vp_disabled {
	VP_DIS_NONE = 0,
	VP_DIS_EXTEND = 1,  /* could not grow the trace file (ENOSPC, EFBIG, ...) */
	VP_DIS_MAP = 2,     /* could not map a new segment */
	VP_DIS_STACKS = 3,  /* stack table exhausted: stacks emitted without dedup */
	VP_DIS_REOPEN = 4,  /* could not reopen the file for a new segment (the
			     * recorder's broker gone or refusing, file removed) */
	VP_DIS_SECCOMP = 5, /* a seccomp filter would refuse (kill, trap, fail) a
			     * system call the shim needs for a new segment:
			     * vp_file_header.dis_nr/dis_action say which */
};

struct vp_file_header {
	__u64 magic;        /* VP_MAGIC */
	__u32 version;      /* VP_FORMAT_VERSION */
	__u32 header_size;  /* VP_HEADER_SIZE: first record starts here */
	__u32 source;       /* enum vp_source */
	__u32 pid;          /* writing process (preload) or recorder (bpf) */
	__u32 page_size;
	__u32 flags;        /* VP_FH_* */
	__u64 start_ns;     /* CLOCK_MONOTONIC when the file was opened */
	__u64 seg_size;     /* VP_SEG_SIZE */
	/* The counters below are updated atomically while recording and live in
	 * the file (MAP_SHARED), so they survive the writer being killed. */
	__u64 head;         /* bytes of data area reserved so far */
	__u64 records;      /* records committed */
	__u64 lost;         /* records that could not be stored */
	__u32 disabled;     /* enum vp_disabled: first reason recording stopped */
	__u32 stack_depth;  /* max frames per stack, 0 = stacks off */
	__u64 reentered;    /* calls made while the shim was already inside a hook
			     * (libunwind's own mmaps, signal handlers): passed through */
	/* VP_DIS_SECCOMP: the x86_64 number of the system call the filter would
	 * refuse (-1: a filter the shim did not see installed, contents
	 * unknown) and the filter's action for it (SECCOMP_RET_*, full). */
	__s32 dis_nr;
	__u32 dis_action;
	/* VP_FH_SEGSUM seal, written when the writer stops cleanly. hdr_crc:
	 * CRC-32C of the whole VP_HEADER_SIZE header with hdr_crc itself 0;
	 * 0 = not sealed (still recording, or killed): tail_* then mean
	 * nothing. tail_len: bytes of the last segment (the one holding
	 * `head`'s end, when not full) that tail_crc covers, from its start;
	 * 0 = none. tail_records: records among them. */
	__u32 hdr_crc;
	__u32 tail_crc;
	__u64 tail_len;
	__u32 tail_records;
	__u32 _pad1;
	/* Version 2: the PID namespace the header's pid is numbered in, as
	 * its nsfs inode (stat(/proc/self/ns/pid).st_ino); 0 = not known.
	 * Preload: the writer's own namespace, which numbers every pid and
	 * tid of its records (h.pid, h.tid, vp_proc.ppid, vp_fork.child: what
	 * getpid(), gettid(), getppid() and fork() answered there); for the
	 * files `record -p` writes, the recorder's. Bpf: the recorder's (its
	 * header pid); the collector's records number tasks in the kernel's
	 * initial namespace whatever this says (VP_REC_TASK_NS). */
	__u32 pid_ns;
	__u32 _pad2;
	__u8 reserved[VP_HEADER_SIZE - 128];
};
_Static_assert(sizeof(struct vp_file_header) == VP_HEADER_SIZE, "file header size");

enum vp_rec_type {
	VP_REC_PAD = 1,      /* filler up to a segment boundary */
	VP_REC_PROC = 2,     /* preload: this image started (first record of a file) */
	VP_REC_MAPS = 3,     /* preload: a chunk of /proc/self/maps text */
	VP_REC_STACK = 4,    /* preload: stack id -> ips (ids are per file) */
	VP_REC_MEM = 5,      /* address-space call (preload: with stack; bpf: syscall) */
	VP_REC_FORK = 6,     /* preload: fork/vfork/clone/posix_spawn in the parent */
	VP_REC_EXEC = 7,     /* preload: exec attempt (err 0) or failure (err != 0) */
	VP_REC_EXIT = 8,     /* preload: exit/_exit called, or library destructor */
	VP_REC_INTERNAL = 9, /* preload: a mapping the shim made for itself */
	VP_REC_SIGSTACK = 10, /* preload: user stack of a syscall the shim did not
			       * interpose, taken in the collector's signal */
	/* bpf collector */
	VP_REC_FAULT = 16,
	VP_REC_TASK_FORK = 17,
	VP_REC_TASK_EXEC = 18,
	VP_REC_TASK_EXIT = 19,
	VP_REC_BPF_LOST = 20,
	VP_REC_SYSFAULTS = 21, /* faults/pages a syscall made without a fault event */
	VP_REC_TASK_NAME = 22, /* name/argv of a process image at exec or exit */
	VP_REC_SEGSUM = 23,  /* VP_FH_SEGSUM: checksum trailer, last bytes of a segment */
	VP_REC_TASK_NS = 24, /* bpf: a task's ids in its PID namespaces (version 2) */
	VP_REC_KSTACK = 25,  /* bpf: user registers and stack of an address-space
			      * call the shim did not record (version 3) */
	VP_REC_MMSTAT = 26,  /* bpf: what a process image's mm says of itself at
			      * its end (version 4) */
	VP_REC_RSS = 27,     /* bpf: the mm's RSS counters over time, from the
			      * kernel's rss_stat tracepoint (version 4) */
	VP_REC_TYPE_MAX = 28,
};

struct vp_rec {
	__u16 type;     /* enum vp_rec_type; stored last, 0 = incomplete */
	__u16 flags;    /* type-specific */
	__u32 size;     /* whole record in bytes, multiple of 8 */
	__u64 time_ns;  /* CLOCK_MONOTONIC */
	__u32 pid;      /* tgid */
	__u32 tid;
};
_Static_assert(sizeof(struct vp_rec) == 24, "record header size");

/* VP_REC_PROC: followed by exe (exe_len bytes, no NUL), argv (argv_len
 * bytes, each argument NUL-terminated) and execfn (execfn_len bytes, no
 * NUL). exe is /proc/self/exe (symlinks resolved); execfn the path as the
 * exec was given it (AT_EXECFN: a symlink's own name), 0 bytes when unknown. */
struct vp_proc {
	struct vp_rec h;
	__u32 ppid;
	__u32 argc;
	__u32 exe_len;
	__u32 argv_len;
	__u32 stack_depth;
	__u32 execfn_len; /* was padding: 0 in older traces */
};
_Static_assert(sizeof(struct vp_proc) == 48, "vp_proc size");

/* VP_REC_MAPS: snapshot `seq` of /proc/self/maps, chunk `chunk`; the last
 * chunk has VP_MAPS_LAST in h.flags. Text follows (len bytes). */
#define VP_MAPS_LAST 0x1
/* VP_MAPS_DLOPEN: any later snapshot (after a dlopen; `record -p`'s at the
 * end of its window, docs/attach.md): fills gaps from its time on only. */
enum vp_maps_why { VP_MAPS_START = 1, VP_MAPS_DLOPEN = 2 };
struct vp_maps {
	struct vp_rec h;
	__u32 seq;
	__u32 chunk;
	__u32 why;   /* enum vp_maps_why */
	__u32 len;
};
_Static_assert(sizeof(struct vp_maps) == 40, "vp_maps size");

/* VP_REC_STACK: innermost frame first; ips are return addresses except ips[0]. */
struct vp_stack {
	struct vp_rec h;
	__u32 id;     /* > 0, unique within the file */
	__u32 depth;
	__u64 ips[];
};
_Static_assert(sizeof(struct vp_stack) == 32, "vp_stack size");

enum vp_call {
	VP_CALL_MMAP = 1,     /* args: addr, len, prot, flags, fd, offset; ret: address */
	VP_CALL_MUNMAP = 2,   /* args: addr, len */
	VP_CALL_MREMAP = 3,   /* args: old, old_len, new_len, flags, new_addr; ret: address */
	VP_CALL_MPROTECT = 4, /* args: addr, len, prot */
	VP_CALL_MADVISE = 5,  /* args: addr, len, advice */
	VP_CALL_BRK = 6,      /* args: requested end; ret: new break (kernel semantics) */
	VP_CALL_SBRK = 7,     /* args: increment; ret: old break, or -1 */
	VP_CALL_MAX = 8,
};

/* VP_REC_MEM. h.time_ns is taken before the real call (a release is
 * ordered before anyone can reuse the range), t_end after it returned (an
 * acquisition is ordered after it exists). `ret` is the raw return value;
 * `err` the errno when the call failed, else 0. A file-backed mmap is
 * followed by the path of fd (path_len bytes, no NUL), when known. */
#define VP_MEM_FROM_SHIM 0x1   /* h.flags: recorded by the preload shim */
#define VP_MEM_FROM_KERNEL 0x2 /* h.flags: recorded by the bpf collector */
/* Kernel records of acquisitions (mmap, mremap, brk growth) only: the
 * collector sent the shim's signal at sys_exit, so a VP_REC_SIGSTACK of the
 * same thread with the same return value follows in the shim's stream
 * (VP_MEM_SIGNALLED), or why it did not (VP_MEM_NOSIG(h.flags), enum
 * vp_nosig). Both 0: not an acquisition, or an older collector. */
#define VP_MEM_SIGNALLED 0x4
/* Kernel records (version 3): a kernel stack (VP_REC_KSTACK) was wanted
 * but not taken, the collector's ring buffer being half full. */
#define VP_MEM_KSKIP 0x8
#define VP_MEM_NOSIG_SHIFT 4
#define VP_MEM_NOSIG_MASK 0xf0
#define VP_MEM_NOSIG(flags) (((flags) & VP_MEM_NOSIG_MASK) >> VP_MEM_NOSIG_SHIFT)
enum vp_nosig {
	VP_NOSIG_NONE = 0,
	VP_NOSIG_NO_SHIM = 1,  /* no shim announced in this process image (yet):
				* static binary, ld.so before the shim started,
				* --no-preload, a vfork child */
	VP_NOSIG_IN_SHIM = 2,  /* made inside a shim hook: the shim records it */
	VP_NOSIG_BLOCKED = 3,  /* the thread blocks the signal */
	VP_NOSIG_HANDLER = 4,  /* the program owns the signal (its handler) */
	VP_NOSIG_SEND = 5,     /* bpf_send_signal_thread failed */
	VP_NOSIG_OFF = 6,      /* signal stacks turned off (--no-signal-stacks,
				* --no-stacks) */
	VP_NOSIG_ALTSTACK = 7, /* the thread runs on its alternate signal stack
				* with too little room left for the handler */
	VP_NOSIG_MAX = 8,
};
/* Kernel records of a successful file-backed mmap (fd >= 0, no
 * MAP_ANONYMOUS) that the shim does not record (version 5; bpf/README.md
 * "File paths of mappings"): the collector read the file from the task's
 * fd table at the call's exit and followed its dentry and mounts up to the
 * task's root (its fs->root: the path as the process itself names it, as
 * its /proc/self/maps would). The path (path_len bytes, possibly 0) is
 * followed, at sizeof(vp_mem) + VP_ALIGN8(path_len), by a struct
 * vp_mem_file; `why` says whether the path is whole (VP_KPATH_OK), the
 * name an unlinked file had plus " (deleted)" (VP_KPATH_DELETED, the
 * kernel's own d_path convention), or why there is none (path_len 0). */
#define VP_MEM_KPATH 0x100
enum vp_kpath_why {
	VP_KPATH_OK = 0,
	VP_KPATH_DELETED = 1,     /* unlinked: the name it had, " (deleted)" */
	VP_KPATH_LONG = 2,        /* longer than VP_MAX_PATH - 1 bytes, or
				   * deeper than the collector's walk */
	VP_KPATH_UNREACHABLE = 3, /* not below the task's root (a file from
				   * outside its chroot or mount namespace, a
				   * detached mount), or a pseudo file (memfd,
				   * anon inode) that no directory holds */
	VP_KPATH_UNREADABLE = 4,  /* a kernel read failed on the way */
	VP_KPATH_FD_CHANGED = 5,  /* the fd named another file (or none) at the
				   * call's exit than at its entry: another
				   * thread closed or replaced it meanwhile */
	VP_KPATH_MAX = 6,
};
struct vp_mem_file {
	__u64 ino;   /* the file's inode number (i_ino); 0 when unknown */
	__u32 dev;   /* its superblock's s_dev, the kernel's encoding
		      * (major << 20 | minor) */
	__u16 why;   /* enum vp_kpath_why */
	__u16 _pad;
};
_Static_assert(sizeof(struct vp_mem_file) == 16, "vp_mem_file size");
struct vp_mem {
	struct vp_rec h;
	__u32 call;       /* enum vp_call */
	__s32 err;
	__u64 ret;
	__u64 args[6];
	__u64 t_end;
	__u32 stack_id;   /* 0 = none */
	__u32 path_len;
};
_Static_assert(sizeof(struct vp_mem) == 104, "vp_mem size");

/* The shim announces its handler to the collector with
 * prctl(VP_ANNOUNCE_PRCTL, handler, tls_offset, signo, VP_ANNOUNCE_MAGIC):
 * no such prctl option exists, so the kernel answers EINVAL and nothing
 * changes; the collector's sys_enter reads the arguments. tls_offset: where
 * the shim's per-thread "inside a hook" int lies relative to the thread
 * pointer (initial-exec TLS: the same for every thread). signo 0: signal
 * stacks off. A new process image (exec) and a new process (fork) announce
 * again. */
#define VP_ANNOUNCE_PRCTL 0x7670616eUL /* "vpan" */
#define VP_ANNOUNCE_MAGIC 0x31474953504d5056ULL /* "VPMPSIG1" */

/* VP_REC_SIGSTACK: written by the shim's handler of the collector's signal,
 * which the collector sends to the thread at sys_exit of an acquisition the
 * shim did not interpose (VP_MEM_SIGNALLED). The signal is delivered before
 * the thread runs another user instruction, so `ip` and `ret` are the
 * thread's registers right after that syscall (REG_RIP, REG_RAX), and the
 * stack (ips[0] = ip) is the syscall's. The analyzer pairs it with the
 * thread's latest signalled kernel VP_REC_MEM whose ret equals `ret`. */
#define VP_SIGSTK_NOSTACK 0x1 /* h.flags: unwinding failed (stack_id 0) */
#define VP_SIGSTK_DRAIN 0x2   /* h.flags: taken by the handler that stands in
			       * while the program takes the signal over */
struct vp_sigstack {
	struct vp_rec h;
	__u32 stack_id;   /* 0 = none (see h.flags) */
	__u32 signo;
	__u64 ip;
	__u64 ret;
};
_Static_assert(sizeof(struct vp_sigstack) == 48, "vp_sigstack size");

enum vp_fork_kind {
	VP_FORK_FORK = 1,
	VP_FORK_VFORK = 2,
	VP_FORK_CLONE = 3,
	VP_FORK_SPAWN = 4, /* posix_spawn / posix_spawnp: path follows */
};
/* VP_REC_FORK: written by the parent after the child exists. h.flags: */
#define VP_FORK_SECCOMP 0x1 /* a seccomp filter in force would refuse the
			     * system calls the child's shim needs to start (or
			     * the child execs a new image under a filter): the
			     * child records nothing */
struct vp_fork {
	struct vp_rec h;
	__u32 child;     /* pid, 0 when the call failed */
	__u32 kind;      /* enum vp_fork_kind */
	__s32 err;
	__u32 stack_id;
	__u32 path_len;  /* VP_FORK_SPAWN: path follows */
	__u32 _pad;
};
_Static_assert(sizeof(struct vp_fork) == 48, "vp_fork size");

enum vp_exec_kind {
	VP_EXEC_EXECVE = 1, VP_EXEC_EXECV, VP_EXEC_EXECVP, VP_EXEC_EXECVPE,
	VP_EXEC_EXECL, VP_EXEC_EXECLP, VP_EXEC_EXECLE, VP_EXEC_FEXECVE,
	VP_EXEC_EXECVEAT,
};
/* h.flags of VP_REC_EXEC */
#define VP_EXEC_ENV_FIXED 0x1 /* the shim put LD_PRELOAD/VMAPROF_* back */
#define VP_EXEC_SECCOMP 0x2   /* a seccomp filter is in force: the new image's
			       * shim cannot know what it allows and records nothing */
/* VP_REC_EXEC: written before the exec (err == 0) and again if it failed
 * (err = errno). Followed by path (path_len) and argv (argv_len, NUL-terminated). */
struct vp_exec {
	struct vp_rec h;
	__s32 err;
	__u32 kind;      /* enum vp_exec_kind */
	__u32 stack_id;
	__u32 argc;
	__u32 path_len;
	__u32 argv_len;
};
_Static_assert(sizeof(struct vp_exec) == 48, "vp_exec size");

enum vp_exit_kind { VP_EXIT_EXIT = 1, VP_EXIT__EXIT = 2, VP_EXIT_DESTRUCTOR = 3 };
struct vp_exit {
	struct vp_rec h;
	__s32 status;
	__u32 kind;   /* enum vp_exit_kind */
};
_Static_assert(sizeof(struct vp_exit) == 32, "vp_exit size");

enum vp_internal_what { VP_INT_TRACE = 1, VP_INT_STACKS = 2, VP_INT_OTHER = 3 };
/* VP_REC_INTERNAL: [start, start+len) was mapped (h.flags 0) or unmapped
 * (h.flags VP_INT_UNMAPPED) by the shim for its own use. `populated`: pages
 * of it the shim write-faulted in advance with MADV_POPULATE_WRITE (trace
 * segments); the kernel counts those in the process's min_flt, but no fault
 * tracepoint fires for them. */
#define VP_INT_UNMAPPED 0x1
struct vp_internal {
	struct vp_rec h;
	__u64 start;
	__u64 len;
	__u32 what;   /* enum vp_internal_what */
	__u32 populated;
};
_Static_assert(sizeof(struct vp_internal) == 48, "vp_internal size");

/* ---- bpf collector records ---- */

/* h.flags of VP_REC_FAULT */
#define VP_FAULT_KERNEL 0x1  /* page_fault_kernel on a user address */
#define VP_FAULT_VMA 0x2     /* vm_flags/vm_pgoff/anon are valid */
#define VP_FAULT_CUT 0x4     /* ended by exit, or still open when recording
                             * stopped: not by a later fault/syscall */
#define VP_FAULT_ZEROED 0x8  /* an allocation in it asked for a zeroed page
			      * (__GFP_ZERO): a fresh zero-filled page, e.g.
			      * the write that replaces the shared zero page */
#define VP_FAULT_HUGE 0x10   /* an allocation in it was order > 0 */
#define VP_FAULT_WSKIP 0x20  /* (version 4) a write stack was due for it
			      * (VP_KSTACK_WRITE) but not taken: the ring
			      * buffer was half full */
/* vp_fault.vma_file bits */
#define VP_VMA_FILE 0x1      /* the VMA has a vm_file */
#define VP_VMA_SHMEM 0x2     /* ... on tmpfs/shmem or hugetlbfs: shared anonymous
			      * memory, SysV shm, memfd, POSIX shm */
struct vp_fault {
	struct vp_rec h;
	__u64 addr;
	__u64 ip;
	__u32 error_code; /* x86: P=1 W=2 U=4 */
	__u32 pages;      /* user pages allocated while handling (1 << order each) */
	__u64 vm_flags;   /* of the VMA at fault time when VP_FAULT_VMA */
	__u32 vma_file;   /* VP_VMA_* bits */
	__u32 _pad;
};
_Static_assert(sizeof(struct vp_fault) == 64, "vp_fault size");

/* VP_REC_TASK_FORK: a new process (not thread) in the traced tree. */
struct vp_task_fork {
	struct vp_rec h;   /* pid/tid: the parent */
	__u32 child_pid;
	__u32 child_tid;
};
_Static_assert(sizeof(struct vp_task_fork) == 32, "vp_task_fork size");

/* VP_REC_TASK_EXEC: followed by filename (path_len bytes: execve's own
 * argument, relative when it was), then, with VP_TEXEC_FILE in h.flags
 * (recorders from 2026-12 on), at the next multiple of 8 after the path
 * and a NUL, a
 * struct vp_exec_file: the executed file's inode (the kernel's
 * bprm->file), by which a relative path is resolved after the process is
 * gone (analyzer: the recording's working directory, session.json "cwd").
 * A reader that knows nothing of it reads the path alone, as before. */
#define VP_TEXEC_FILE 0x1
struct vp_task_exec {
	struct vp_rec h;
	__u32 old_pid;
	__u32 path_len;
};
_Static_assert(sizeof(struct vp_task_exec) == 32, "vp_task_exec size");
struct vp_exec_file {
	__u64 ino;
	__u32 dev;   /* the kernel's s_dev: major << 20 | minor */
	__u32 _pad;
};
_Static_assert(sizeof(struct vp_exec_file) == 16, "vp_exec_file size");
/* Where a VP_TEXEC_FILE trailer starts: after the path and its NUL. */
#define VP_TEXEC_FILE_OFF(path_len) VP_ALIGN8((__u32)sizeof(struct vp_task_exec) + (path_len) + 1u)

/* VP_REC_TASK_EXIT: a thread-group leader exited (process end). */
#define VP_EXIT_THREADS_CUT 0x1 /* h.flags: min_flt/maj_flt leave out threads
				 * past the compat collector's bounded loop
				 * (kernels without bpf_loop, Linux 5.17),
				 * which visits VP_COMPAT_EXIT_THREADS */
#define VP_COMPAT_EXIT_THREADS 1024
struct vp_task_exit {
	struct vp_rec h;
	__u64 min_flt;    /* the kernel's own counters, whole thread group */
	__u64 maj_flt;
	__s32 exit_code;  /* raw wait status */
	__u32 _pad;
};
_Static_assert(sizeof(struct vp_task_exit) == 48, "vp_task_exit size");

/* VP_REC_SYSFAULTS: a syscall of a traced task made the kernel fault pages
 * in without any page-fault event (get_user_pages: MAP_POPULATE,
 * MADV_POPULATE_*, mlock*, MAP_LOCKED, mlockall(MCL_FUTURE) mappings,
 * exec's argument pages, O_DIRECT I/O, ...). Written at syscall exit when
 * the task's own min_flt + maj_flt grew by more than the page-fault events
 * it took inside the syscall. `faults` is that difference (majflt: the part
 * counted as major), `pages` the user pages allocated inside the syscall
 * outside any fault event (counted only for syscalls that populate VMAs).
 * args: the syscall's first two arguments; ret its return value.
 * nr VP_SYS_UNHOOKED: the collector hooks only some system calls; what the
 * others made the kernel fault in is balanced between two hooked events of
 * the task (or its exit) and written then, args and ret 0. */
#define VP_SYS_UNHOOKED 0xffffffffu
struct vp_sysfaults {
	struct vp_rec h;  /* time_ns: syscall exit */
	__u32 nr;         /* x86_64 syscall number */
	__u32 pages;
	__u64 faults;
	__u64 majflt;
	__u64 args[2];
	__u64 ret;
	__u64 t_enter;
};
_Static_assert(sizeof(struct vp_sysfaults) == 80, "vp_sysfaults size");

/* VP_REC_BPF_LOST: ring-buffer reserves that failed since the last one. */
struct vp_bpf_lost {
	struct vp_rec h;
	__u64 count;
};
_Static_assert(sizeof(struct vp_bpf_lost) == 32, "vp_bpf_lost size");

/* VP_REC_TASK_NAME: a process as users know it, read in the kernel by the
 * bpf collector. At exec (why VP_NAME_EXEC, right after the image's
 * VP_REC_TASK_EXEC): the arguments the new image got. At exit (why
 * VP_NAME_EXIT, when the thread group's last thread exits, before its mm is
 * released): what the program left in its argv area (a title written over
 * argv, as PostgreSQL's "postgres: checkpointer") and its comm (which
 * prctl(PR_SET_NAME) changes). comm is the thread-group leader's task->comm,
 * NUL-padded. The argv area mm->arg_start..arg_end follows (argv_len bytes,
 * at most VP_NAME_ARGV_MAX), NUL-separated as /proc/PID/cmdline gives it.
 * uid..egid are the process's credentials then (after the exec's own change
 * for a setuid/setgid program). */
enum vp_name_why { VP_NAME_EXEC = 1, VP_NAME_EXIT = 2 };
#define VP_NAME_SECURE 0x1    /* h.flags, exec: AT_SECURE (setuid/setgid/file
			       * capabilities): the dynamic loader ignored LD_PRELOAD */
#define VP_NAME_ARGV_CUT 0x2  /* the area was longer than what follows */
#define VP_NAME_ARGV_SPILL 0x4 /* the area's last byte was not NUL: the program
				* wrote its title on into the environment area;
				* what follows is that title, up to its first NUL
				* (the rule /proc/PID/cmdline follows) */
#define VP_NAME_ARGV_MAX 4096u
struct vp_task_name {
	struct vp_rec h;   /* pid: the process (tgid); tid: the thread that exec'd/exited */
	__u32 why;         /* enum vp_name_why */
	__u32 argv_len;
	char comm[16];
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
};
_Static_assert(sizeof(struct vp_task_name) == 64, "vp_task_name size");

/* VP_REC_TASK_NS (version 2): a traced task that lives in a PID namespace
 * other than the kernel's initial one (a container, `unshare --pid`), as
 * each namespace of its hierarchy numbers it. h.pid/h.tid: the task (tgid,
 * tid) in the initial namespace, as every collector record numbers it.
 * ids[i] for i = 0..level (below): the namespace at level i (ids[0] the initial
 * one, ids[level] the task's own, where its getpid()/gettid() answer) and
 * the task's thread id there -- for a thread-group leader also its pid. A
 * task never changes namespace, so the record holds for its whole life
 * (an inode may be reused by a later namespace, and a pid within one: the
 * record's time says from when). Written by the collector when such a
 * task is created (fork, clone, a new thread), when it execs, and for the
 * tasks `record -p` attached to (their threads included); never for tasks
 * of the initial namespace, whose ids are h.pid/h.tid everywhere. Followed
 * by `count` struct vp_ns_id, ids[0] .. ids[level]. */
#define VP_PID_NS_INIT 0xeffffffcu /* the initial namespace's inode (the
					    * kernel's fixed PROC_PID_INIT_INO) */
#define VP_NS_LEVELS 33 /* the kernel nests at most 32 namespaces below the initial one */
struct vp_ns_id {
	__u32 ns;   /* the namespace's nsfs inode */
	__u32 nr;   /* the task's id there */
};
struct vp_task_ns {
	struct vp_rec h;
	__u32 level;   /* of the task's own namespace: 1..VP_NS_LEVELS - 1 */
	__u32 count;   /* vp_ns_id entries that follow: level + 1 */
};
_Static_assert(sizeof(struct vp_task_ns) == 32, "vp_task_ns size");
_Static_assert(sizeof(struct vp_ns_id) == 8, "vp_ns_id size");

/* VP_REC_SEGSUM: the last VP_SEGSUM_SIZE bytes of a completed segment.
 * crc: CRC-32C of the segment's first VP_SEG_SIZE - VP_SEGSUM_SIZE bytes;
 * records: the records among them (pads not counted). */
#define VP_SEGSUM_SIZE 32u
struct vp_segsum {
	struct vp_rec h;
	__u32 crc;
	__u32 records;
};
_Static_assert(sizeof(struct vp_segsum) == VP_SEGSUM_SIZE, "vp_segsum size");

/* VP_REC_KSTACK (version 3): the user stack of an acquisition (mmap,
 * mremap, brk growth) whose kernel VP_REC_MEM has neither a stack from the
 * shim nor the shim's signal on its way (VP_MEM_NOSIG(h.flags) other than
 * VP_NOSIG_NONE and VP_NOSIG_IN_SHIM: no shim in the process image, a
 * blocked or taken-over signal, ...), taken by the collector at the call's
 * exit, for the analyzer to unwind with the modules' CFI. It follows that
 * VP_REC_MEM in the stream (same tid; h.time_ns its t_end, `ret` its ret).
 * regs: the user registers at the call's exit in DWARF x86_64 order
 * (VP_KREG_*: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip); rax is the
 * call's return value, rcx and r11 are clobbered by `syscall` (rcx holds
 * rip). The copy is the user memory [stack_base, stack_base + stack_len),
 * read page by page from the page holding rsp up (stack_base is rsp's page
 * start), stopping at the first page that could not be read (not present,
 * past the stack's top) or at the configured size: VP_KSTACK_CUT when it
 * stopped short of that size. start_code: the process's mm->start_code (the
 * main executable's text, where its load bias is read from when no maps
 * snapshot names it: a static binary). Followed by stack_len bytes. */
#define VP_KSTACK_CUT 0x1    /* h.flags: the copy ended at an unreadable page */
#define VP_KSTACK_TOP 0x2    /* h.flags: the copy ended with the page of the
			      * environment's end (mm->env_end): the top of
			      * the main thread's stack */
/* Version 4, write stacks (bpf/README.md "Write stacks"): the user stack
 * of a write fault on a present page (error code P|W, user mode: the
 * copy-on-write copies and shared writes of the analyzer's classes, and
 * writes replacing the zero page), taken in the fault itself, sampled: the
 * first `first` such faults of each thread since its creation or its
 * process's last fork (both sides; none after an exec, whose first writes
 * are the loader's relocations), then each one with probability
 * 1/`every` (VP_KSTACK_SAMPLED); the recording's session.json says
 * first/every. call is 0, ret the faulting address, h.time_ns the
 * fault's; it comes before its VP_REC_FAULT in the stream (same tid, time
 * and addr). regs are the fault's user registers (rax is rax). */
#define VP_KSTACK_WRITE 0x4   /* h.flags: a write fault's stack */
#define VP_KSTACK_SAMPLED 0x8 /* h.flags: taken in the 1-in-`every` phase */
#define VP_KSTACK_MAX (60u << 10) /* largest copy (a record stays below VP_MAX_RECORD) */
enum { VP_KREG_RAX = 0, VP_KREG_RBP = 6, VP_KREG_RSP = 7, VP_KREG_RIP = 16, VP_KREGS = 17 };
struct vp_kstack {
	struct vp_rec h;
	__u32 call;        /* enum vp_call of the VP_REC_MEM it follows; 0:
			    * VP_KSTACK_WRITE */
	__u32 stack_len;   /* bytes of the copy that follow */
	__u64 ret;         /* VP_KSTACK_WRITE: the faulting address */
	__u64 stack_base;
	__u64 start_code;
	__u64 regs[VP_KREGS];
};
_Static_assert(sizeof(struct vp_kstack) == 192, "vp_kstack size");

/* VP_REC_MMSTAT (version 4): the figures a process image's mm_struct
 * keeps of itself (what /proc/PID/status shows), read by the collector
 * once per image at its end, while the mm is still whole: at the entry of
 * exit_group or at the last thread's sched_process_exit (kernels whose
 * tracepoint fires before exit_mm), and at the entry of execve/execveat
 * (an exec that then fails leaves the image running: a later reading of
 * the same process supersedes it). Never for a vfork/posix_spawn child
 * still on its parent's mm. All sizes in pages (the file header's
 * page_size). rss[]: the kernel's MM_FILEPAGES, MM_ANONPAGES,
 * MM_SWAPENTS, MM_SHMEMPAGES counters, summed exactly (per-CPU counters on
 * Linux 6.2+ summed over the CPUs; before 6.2 the reading thread's own
 * not yet folded-in counts added). hiwater_rss / hiwater_vm: the mm's own
 * fields, which the kernel updates lazily (before unmapping, at exit):
 * the peak is max(hiwater_rss, rss file + anon + shmem) as the kernel's
 * get_mm_hiwater_rss computes it (VmHWM), and max(hiwater_vm, total_vm)
 * (VmPeak). */
enum vp_mmstat_why {
	VP_MM_EXEC = 1,   /* entry of execve/execveat: the image it replaces */
	VP_MM_EXIT = 2,   /* entry of exit_group, or the last thread's exit */
	VP_MM_LATE = 3,   /* the last thread's exit after the mm was released
			   * (a process killed by a signal on kernels whose
			   * sched_process_exit comes after exit_mm): only
			   * hiwater_rss is known, from signal->maxrss (the
			   * largest peak of the process's images so far);
			   * VP_MMSTAT_PARTIAL */
};
#define VP_MMSTAT_PARTIAL 0x1  /* h.flags: only hiwater_rss is valid */
#define VP_MMSTAT_APPROX 0x2   /* h.flags: rss[] are the per-CPU counters'
				* approximate values (no per-CPU sum: the
				* compat collector on 6.2+ without
				* __per_cpu_offset in kallsyms) */
enum { VP_RSS_FILE = 0, VP_RSS_ANON = 1, VP_RSS_SWAP = 2, VP_RSS_SHMEM = 3, VP_RSS_N = 4 };
struct vp_mmstat {
	struct vp_rec h;   /* pid/tid: the process and the reading thread */
	__u32 why;         /* enum vp_mmstat_why */
	__u32 map_count;   /* VMAs (mm->map_count) */
	__u64 hiwater_rss;
	__u64 hiwater_vm;
	__u64 total_vm;
	__u64 locked_vm;
	__u64 pinned_vm;
	__u64 data_vm;
	__u64 exec_vm;
	__u64 stack_vm;
	__s64 rss[VP_RSS_N];
};
_Static_assert(sizeof(struct vp_mmstat) == 128, "vp_mmstat size");

/* VP_REC_RSS (version 4): the mm's RSS counters (pages, as in vp_mmstat)
 * when the kernel's rss_stat tracepoint fired for a traced task's own mm,
 * at most one record per task per sampling interval (the collector's
 * rss_interval_ns): the curve, not every change. Opt-in (its cost,
 * bench/NOTES.md). rss[] are read from the mm (approximate per-CPU
 * values on 6.2+, each thread's unfolded counts missing before 6.2). */
struct vp_rss {
	struct vp_rec h;
	__s64 rss[VP_RSS_N];
};
_Static_assert(sizeof(struct vp_rss) == 56, "vp_rss size");

#define VP_ALIGN8(x) (((x) + 7u) & ~7u)

#endif /* VMAPROF_RECORD_H */
