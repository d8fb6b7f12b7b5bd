/* SPDX-License-Identifier: MIT */
/* sysloop [sud]: best ns per getppid() over 200 chunks of 10k calls; sud: with
 * syscall user dispatch on (the syscall slow path, selector ALLOW). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
static volatile char selector = 0; /* SYSCALL_DISPATCH_FILTER_ALLOW */
int main(int argc, char **argv){ double best=1e18;
 if (argc > 1 && !strcmp(argv[1], "sud") && prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0, &selector)) { perror("prctl"); return 1; }
 for(int c=0;c<200;c++){double t=now(); for(int i=0;i<10000;i++) syscall(SYS_getppid); double d=(now()-t)/10000; if(d<best)best=d;}
 printf("%.1f\n",best); return 0;}
