/*
 * progress.h: how long operations (memory saves, merges, copies) report how
 * far they are. The caller (in the end the API's user) supplies the
 * callback; the layer doing the work calls vms_progress_report() as bytes
 * move, at whatever pace it learns of them. A NULL progress or callback
 * means nobody listens.
 */
#ifndef VMS_UTIL_PROGRESS_H
#define VMS_UTIL_PROGRESS_H

#include <stdint.h>

typedef struct {
    /* @what: a short phrase, e.g. "saving memory", "merging vda";
     * @total: 0 when not known yet. */
    void (*report)(const char *what, uint64_t done, uint64_t total, void *opaque);
    void *opaque;
} vms_progress;

static inline void vms_progress_report(const vms_progress *progress, const char *what,
                                       uint64_t done, uint64_t total)
{
    if (progress && progress->report)
        progress->report(what, done, total, progress->opaque);
}

#endif
