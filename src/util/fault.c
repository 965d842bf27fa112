/* fault.c: named points where tests stop the process (see the header). */
#include "util/fault.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void trace(const char *file, const char *name)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    size_t len = strlen(name);
    /* One write per line: lines of several processes never interleave. */
    char line[256];
    if (len < sizeof(line) - 1) {
        memcpy(line, name, len);
        line[len] = '\n';
        (void)!write(fd, line, len + 1);
    }
    close(fd);
}

void vms_fault_point(const char *name)
{
    const char *file = getenv("VMSNAP_FAULT_TRACE");
    if (file && *file)
        trace(file, name);
    const char *want = getenv("VMSNAP_FAULT");
    if (want && strcmp(want, name) == 0)
        kill(getpid(), SIGKILL);
}
