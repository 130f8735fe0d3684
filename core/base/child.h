/*
 * child: starting a child process that talks to its parent over a
 * socketpair (the pool's workers, the store and hasher processes), and
 * the first thing such a child does.
 */
#ifndef VG_CHILD_H
#define VG_CHILD_H

#include <sys/types.h>

/*
 * Forks a child connected to this process by a socketpair (both ends
 * close-on-exec). Logs and stdio are flushed first, so that nothing
 * buffered is written twice.
 *   parent: returns the child's pid (> 0); *fd is this end, non-blocking,
 *           its send buffer set to sndbuf bytes (0: the system's).
 *   child:  returns 0; *fd is the child's end (blocking), the other is closed.
 *   error:  -errno; nothing was forked and nothing is left open.
 */
pid_t vg_child_fork(int *fd, int sndbuf);

/*
 * In a fresh child: every signal back to its default disposition, except
 * those listed in `ignored` (a list ending with 0), which are ignored; no
 * signal blocked. Returns nothing: a signal it cannot reset keeps its
 * disposition.
 */
void vg_child_reset_signals(const int *ignored);

#endif
