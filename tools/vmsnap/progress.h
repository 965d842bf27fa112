/*
 * progress.h: the progress bar long commands draw on a terminal (stderr):
 *
 *   saving memory  [########............]  41%  105.0/256.0 MiB  212.4 MiB/s  ETA 0:01
 *
 * It is drawn only when stderr is a terminal (never into logs or pipes),
 * redrawn at most ten times a second, and ends its line when a phase ends
 * or another begins.
 */
#ifndef VMSNAP_PROGRESS_H
#define VMSNAP_PROGRESS_H

#include <stddef.h>
#include <vmsnap/vmsnap.h>

/* Have @conn's long operations draw the bar, if stderr is a terminal. */
void cli_progress_attach(vmsnap_conn *conn);

/* End an unfinished bar's line (before the command prints anything else). */
void cli_progress_finish(void);

/* One bar line for @what at @done of @total bytes (0: unknown), @seconds
 * after the phase began, fitting @width columns. Newly allocated. */
char *cli_progress_format(const char *what, unsigned long long done, unsigned long long total,
                          double seconds, unsigned int width);

#endif
