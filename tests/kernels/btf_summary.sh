#!/bin/sh
# SPDX-License-Identifier: MIT
# What the running kernel offers the collector (bpf/collector.bpf.c): the
# tracepoint prototypes it attaches to, the task_struct fields it reads, and
# the BPF features it uses. Run in a guest:
#   tests/kernels/run.py --kernel 6.1 --shell 'sh tests/kernels/btf_summary.sh'
set -u
btf=/sys/kernel/btf/vmlinux
echo "# kernel $(uname -r) ($(uname -v))"
if [ ! -e "$btf" ]; then
	echo "NO $btf"
	exit 1
fi
echo "# $btf: $(wc -c < "$btf") bytes"
c=$(mktemp)
raw=$(mktemp)
bpftool btf dump file "$btf" format c > "$c"
bpftool btf dump file "$btf" format raw > "$raw"

echo
echo "## tracepoint prototypes (format c)"
for t in sched_process_exit sched_process_fork sched_process_exec page_fault_user \
	page_fault_kernel mm_page_alloc sys_enter sys_exit; do
	grep -E "^typedef .*\(\*btf_trace_$t\)" "$c" || echo "(no btf_trace_$t)"
done

echo
echo "## the same, raw (typedef -> pointer -> FUNC_PROTO and its parameters)"
for t in sched_process_exit sched_process_fork page_fault_user mm_page_alloc; do
	line=$(grep -E "^\[[0-9]+\] TYPEDEF 'btf_trace_$t' " "$raw")
	if [ -z "$line" ]; then
		echo "(no btf_trace_$t)"
		continue
	fi
	echo "$line"
	ptr=$(echo "$line" | sed -n 's/.*type_id=\([0-9]*\).*/\1/p')
	proto=$(grep -E "^\[$ptr\] PTR " "$raw" | sed -n 's/.*type_id=\([0-9]*\).*/\1/p')
	grep -E "^\[$ptr\] " "$raw"
	awk -v p="[$proto]" '$1 == p {s=1; print; next} s && /^\t/ {print; next} {s=0}' "$raw"
done

echo
echo "## task_struct fields the collector reads"
for f in in_user_fault bpf_storage min_flt maj_flt mm; do
	awk '/^struct task_struct \{/{s=1} s&&/^\};/{s=0} s' "$c" | grep -E "[ *]$f(:|;| )" \
		| head -1 | sed "s/^\s*/task_struct: /" | grep . || echo "task_struct: no $f"
done

echo
echo "## helpers and kfuncs in BTF"
for f in bpf_loop bpf_find_vma bpf_task_storage_get bpf_ringbuf_output bpf_get_task_stack \
	bpf_task_pt_regs bpf_get_current_task_btf bpf_copy_from_user_task; do
	if grep -q "BPF_FUNC_${f#bpf_} = " "$c"; then
		echo "$f: yes ($(grep -o "BPF_FUNC_${f#bpf_} = [0-9]*" "$c"))"
	else
		echo "$f: NO"
	fi
done
grep -o "BPF_MAP_TYPE_TASK_STORAGE = [0-9]*" "$c" || echo "BPF_MAP_TYPE_TASK_STORAGE: NO"
grep -o "BPF_TRACE_ITER = [0-9]*" "$c" || echo "BPF_TRACE_ITER: NO"

echo
echo "## bpftool feature probe kernel (selected)"
p=$(mktemp)
bpftool feature probe kernel > "$p" 2>&1
grep -E "^(JIT|CONFIG_BPF=|CONFIG_BPF_SYSCALL|CONFIG_BPF_JIT=|CONFIG_DEBUG_INFO_BTF)|program_type (tracepoint|raw_tracepoint|tracing) is|map_type (ringbuf|task_storage|hash|array|percpu_array) is" "$p"
for t in tracepoint raw_tracepoint tracing; do
	echo "program type $t, helpers of interest:"
	awk -v t="$t" '$0 == "eBPF helpers supported for program type " t ":" {s=1; next} /^eBPF helpers|^Scanning/ {s=0} s' "$p" \
		| grep -E "bpf_loop|bpf_find_vma|bpf_task_storage_get|bpf_ringbuf_output|bpf_get_task_stack|bpf_task_pt_regs|bpf_copy_from_user_task|bpf_get_current_task_btf" \
		| tr -d '\t' | tr '\n' ' '
	echo
done
cfg=/boot/config-$(uname -r)
if [ -f "$cfg" ]; then
	echo
	echo "## kernel config ($cfg)"
	grep -E "^CONFIG_(BPF|BPF_SYSCALL|BPF_JIT|BPF_JIT_ALWAYS_ON|BPF_EVENTS|BPF_LSM|DEBUG_INFO_BTF|DEBUG_INFO_BTF_MODULES|FTRACE_SYSCALLS|TRANSPARENT_HUGEPAGE|PER_VMA_LOCK|X86_5LEVEL|MEMCG|NUMA_BALANCING|USERFAULTFD)=" "$cfg"
fi

echo
echo "## full bpftool feature probe kernel"
cat "$p"
rm -f "$c" "$raw" "$p"
